"""Cold start of every Lambda function: the wall time to import its handler in a fresh interpreter.

Lambda runs a handler module's top level once per container (the init phase): every import and
every object the module builds there is paid by each cold start. This script measures that cost
for each function of ``template.yaml``, as Lambda would start it:

* the function's environment is the template's (``Globals`` + its own ``Environment``), resolved
  by ``lambda_connect.local.functions.find_function``; the values that need a deployed stack get
  harmless local stand-ins (table name, ARNs, bootstrap servers ``127.0.0.1:9``), and every AWS
  endpoint points at the closed loopback port ``127.0.0.1:9`` with placeholder credentials, so an
  accidental network call fails at once instead of reaching AWS;
* one subprocess per run (``python -c "import app"`` with the function's code directory first on
  ``sys.path``, as ``/var/task`` is in Lambda), 7 runs per function, median and min; the baseline
  ``python -c pass`` is timed in the same rounds (the order of the rounds is interleaved so load
  drift hits every side alike), and each function is reported against it;
* one ``python -X importtime`` run per function for the 10 modules with the largest cumulative
  import time, and the self time summed per top-level package.

Two state profiles: ``template`` keeps the template's ``dynamodb://`` state URL (what a deployed
function does: the DynamoDB client is built at import), ``memory`` uses ``memory://`` to show the
package's own cost without boto3.

    .venv/bin/python bench/cold_start.py [--runs 7] [--profile template|memory|both] [--json FILE]

``tests/contract/test_handler_imports.py`` uses :func:`handler_targets` and :func:`probe` from
this file to check what each handler may import at cold start.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
#: A loopback port nothing listens on: connections to it are refused at once.
DEAD_ENDPOINT = "http://127.0.0.1:9"
#: Template parameters and resources a local import cannot know, with harmless stand-ins.
STAND_INS = {
    "BootstrapServers": "127.0.0.1:9",
    # The template's default KafkaAuth is iam, which needs an MSK cluster.
    "MskClusterArn": f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/bench/00000000-0000-0000-0000-000000000000-1",
    "StateTable": "lambda-connect-bench-state",
    "SinkTaskFunction": "lambda-connect-bench-sink-task",
    "SourceScheduleGroup": "lambda-connect-bench",
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::StackName": "lambda-connect-bench",
}
#: ``!GetAtt <resource>.Arn`` stand-ins by resource type.
ARN_FORMATS = {
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
}
PROFILES = ("template", "memory")
#: Audit events that mean the process is reaching for the network.
NETWORK_EVENTS = frozenset({"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                            "socket.sendto", "socket.sendmsg", "urllib.Request", "http.client.connect"})


@dataclass(frozen=True)
class HandlerTarget:
    """One function as Lambda would start it: where its module is and the environment it gets."""

    logical_id: str
    code_dir: Path
    module: str
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.code_dir.name


def _raw_template(path: Path) -> dict[str, Any]:
    """The template with intrinsics kept as ``{"!Tag": value}``, enough to see what ``!GetAtt`` names."""
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that keeps CloudFormation short-form tags instead of rejecting them."""

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            return {"!" + suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {"!" + suffix: loader.construct_sequence(node, deep=True)}
        return {"!" + suffix: loader.construct_mapping(node, deep=True)}

    Loader.add_multi_constructor("!", tagged)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)
    return data if isinstance(data, dict) else {}


def _get_att_stand_in(value: Any, resources: Mapping[str, Any]) -> str | None:
    """A syntactically real ARN for ``!GetAtt X.Arn`` of a resource type we know, else None."""
    if not isinstance(value, dict) or set(value) != {"!GetAtt"}:
        return None
    target = value["!GetAtt"]
    logical, _, attribute = (target if isinstance(target, str) else ".".join(map(str, target))).partition(".")
    kind = (resources.get(logical) or {}).get("Type")
    if attribute != "Arn" or kind not in ARN_FORMATS:
        return None
    return ARN_FORMATS[kind].format(region=REGION, account=ACCOUNT, name=f"bench-{logical}")


def lambda_environment(spec_env: Mapping[str, str], *, function_name: str, memory_mb: int, code_dir: Path,
                       home: Path) -> dict[str, str]:
    """What the Lambda runtime adds to the function's own variables, with AWS kept off the network."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),  # no ~/.aws of the developer
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "_HANDLER": "app.lambda_handler",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_ENDPOINT_URL": DEAD_ENDPOINT,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **spec_env,
    }


def handler_targets(profile: str = "template", *, root: Path = ROOT, home: Path | None = None) -> list[HandlerTarget]:
    """Every ``AWS::Serverless::Function`` of the template, with the environment it would get.

    ``profile`` ``memory`` replaces the state URL with ``memory://`` (no DynamoDB client at import).
    """
    from lambda_connect.local.functions import find_function

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    raw = _raw_template(root / "template.yaml")
    resources = raw.get("Resources") or {}
    global_vars = (((raw.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    home = home or Path(tempfile.gettempdir())
    targets = []
    for logical, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        spec = find_function(logical, root, parameters=STAND_INS)
        env = dict(spec.environment)
        own_vars = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        for key, value in {**global_vars, **own_vars}.items():
            if key not in env:
                stand_in = _get_att_stand_in(value, resources)
                if stand_in is None:
                    raise ValueError(f"{logical}: no local stand-in for {key} = {value!r}; add one to STAND_INS")
                env[key] = stand_in
        if profile == "memory":
            env["LAMBDA_CONNECT_STATE_URL"] = "memory://"
        module = spec.handler.rpartition(".")[0]
        targets.append(HandlerTarget(
            logical_id=logical,
            code_dir=spec.code_dir,
            module=module,
            environment=lambda_environment(env, function_name=f"bench-{logical}", memory_mb=spec.memory_mb,
                                           code_dir=spec.code_dir, home=home),
        ))
    return targets


# --------------------------------------------------------------------------- one fresh interpreter

_TIMED = "import sys,time;sys.path.insert(0,sys.argv[1]);t=time.perf_counter();import {module};" \
         "sys.stdout.write(repr(time.perf_counter()-t))"

_PROBE = """
import json, sys
network = []
def hook(event, args, _watched=frozenset(sys.argv[3].split(','))):
    if event in _watched:
        network.append([event, repr(args)[:200]])
sys.addaudithook(hook)
sys.path.insert(0, sys.argv[1])
import importlib
importlib.import_module(sys.argv[2])
sys.stdout.write(json.dumps({"modules": sorted(sys.modules), "network": network}))
"""


def _run(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}… exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def time_import(target: HandlerTarget, python: str = sys.executable) -> tuple[float, float]:
    """(process wall seconds, in-process seconds of the import) of one fresh interpreter."""
    start = time.perf_counter()
    result = _run([python, "-c", _TIMED.format(module=target.module), str(target.code_dir)], target.environment,
                  target.code_dir)
    wall = time.perf_counter() - start
    return wall, float(result.stdout)


def time_baseline(env: Mapping[str, str], python: str = sys.executable) -> float:
    """Process wall seconds of ``python -c pass``: interpreter start-up and ``site``, nothing else."""
    start = time.perf_counter()
    _run([python, "-c", "pass"], env, ROOT)
    return time.perf_counter() - start


@dataclass(frozen=True)
class Probe:
    """What importing a handler left behind: every module loaded and every network attempt."""

    modules: frozenset[str]
    network: tuple[tuple[str, str], ...]

    def loaded(self, prefixes: Iterable[str]) -> list[str]:
        """Loaded modules that are one of ``prefixes`` or inside one of them."""
        wanted = tuple(prefixes)
        return sorted(m for m in self.modules if any(m == p or m.startswith(p + ".") for p in wanted))


def probe(target: HandlerTarget, python: str = sys.executable) -> Probe:
    """Import the handler in a fresh interpreter with an audit hook watching for network use."""
    result = _run([python, "-c", _PROBE, str(target.code_dir), target.module, ",".join(sorted(NETWORK_EVENTS))],
                  target.environment, target.code_dir)
    data = json.loads(result.stdout)
    return Probe(frozenset(data["modules"]), tuple((e, a) for e, a in data["network"]))


# --------------------------------------------------------------------------- -X importtime

@dataclass(frozen=True)
class ImportTime:
    module: str
    self_us: int
    cumulative_us: int


def import_times(target: HandlerTarget, python: str = sys.executable) -> list[ImportTime]:
    """``python -X importtime`` rows of one fresh import of the handler (the handler module included)."""
    statement = f"import sys;sys.path.insert(0,sys.argv[1]);import {target.module}"
    result = _run([python, "-X", "importtime", "-c", statement, str(target.code_dir)], target.environment,
                  target.code_dir)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        self_us, cumulative_us, module = line[len("import time:"):].split("|")
        if not self_us.strip().isdigit():
            continue  # the header line
        rows.append(ImportTime(module.strip(), int(self_us), int(cumulative_us)))
    return rows


def top_cumulative(rows: Iterable[ImportTime], n: int = 10) -> list[ImportTime]:
    """The ``n`` modules with the largest cumulative time; a module imported twice counts once."""
    best: dict[str, ImportTime] = {}
    for row in rows:
        if row.module not in best or row.cumulative_us > best[row.module].cumulative_us:
            best[row.module] = row
    return sorted(best.values(), key=lambda r: r.cumulative_us, reverse=True)[:n]


def self_time_by_package(rows: Iterable[ImportTime], handler_module: str) -> dict[str, int]:
    """Self time summed per top-level package; the handler's own top level (its object building) apart."""
    totals: dict[str, int] = {}
    for row in rows:
        key = "handler top level" if row.module == handler_module else row.module.split(".", 1)[0]
        totals[key] = totals.get(key, 0) + row.self_us
    return dict(sorted(totals.items(), key=lambda kv: kv[1], reverse=True))


# --------------------------------------------------------------------------- the report

@dataclass
class Measurement:
    name: str
    walls: list[float] = field(default_factory=list)
    imports: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Milliseconds; the in-process import keys only when the run imported something."""
        out = {"wall_median_ms": statistics.median(self.walls) * 1000, "wall_min_ms": min(self.walls) * 1000}
        if self.imports:
            out["import_median_ms"] = statistics.median(self.imports) * 1000
            out["import_min_ms"] = min(self.imports) * 1000
        return out


def measure(targets: Sequence[HandlerTarget], runs: int) -> tuple[Measurement, list[Measurement]]:
    """``runs`` interleaved rounds: baseline, then each handler (rotated per round)."""
    baseline = Measurement("python -c pass")
    results = [Measurement(t.name) for t in targets]
    env = targets[0].environment if targets else os.environ
    for round_no in range(runs):
        baseline.walls.append(time_baseline(env))
        order = list(range(len(targets)))
        order = order[round_no % max(len(order), 1):] + order[:round_no % max(len(order), 1)]
        for i in order:
            wall, imported = time_import(targets[i])
            results[i].walls.append(wall)
            results[i].imports.append(imported)
    return baseline, results


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def render(profile: str, baseline: Measurement, results: Sequence[Measurement],
           importtimes: Mapping[str, list[ImportTime]], runs: int) -> str:
    base = baseline.summary()
    out = [f"### Profile `{profile}` ({runs} runs each, ms)", "",
           "| function | wall median | wall min | wall minus baseline (median) | wall / baseline (median) "
           "| import in-process median | import min |",
           "|---|---:|---:|---:|---:|---:|---:|",
           f"| baseline `python -c pass` | {_ms(base['wall_median_ms'])} | {_ms(base['wall_min_ms'])} | 0 | 1.0 "
           "| - | - |"]
    for m in results:
        s = m.summary()
        out.append(f"| {m.name} | {_ms(s['wall_median_ms'])} | {_ms(s['wall_min_ms'])} "
                   f"| {_ms(s['wall_median_ms'] - base['wall_median_ms'])} "
                   f"| {s['wall_median_ms'] / base['wall_median_ms']:.1f} "
                   f"| {_ms(s.get('import_median_ms'))} | {_ms(s.get('import_min_ms'))} |")
    for name, rows in importtimes.items():
        module = rows[-1].module if rows else "app"
        out += ["", f"`{name}` — top 10 cumulative (`-X importtime`, one run, ms):", "",
                "| module | cumulative | self |", "|---|---:|---:|"]
        out += [f"| `{r.module}` | {r.cumulative_us / 1000:.1f} | {r.self_us / 1000:.1f} |"
                for r in top_cumulative(rows)]
        packages = self_time_by_package(rows, module)
        out.append("")
        out.append("self time by package: " + ", ".join(f"{k} {v / 1000:.1f}" for k, v in list(packages.items())[:8]))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", choices=(*PROFILES, "both"), default="both")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    profiles = PROFILES if args.profile == "both" else (args.profile,)
    raw: dict[str, Any] = {"python": sys.version.split()[0], "runs": args.runs, "profiles": {}}
    with tempfile.TemporaryDirectory(prefix="cold-start-home-") as home:
        for profile in profiles:
            targets = handler_targets(profile, home=Path(home))
            for target in targets:  # fail before timing anything if a handler reaches for the network
                found = probe(target)
                if found.network:
                    print(f"WARNING {target.name} ({profile}) touches the network at import: {found.network}",
                          file=sys.stderr)
            baseline, results = measure(targets, args.runs)
            importtimes = {t.name: import_times(t) for t in targets}
            print(render(profile, baseline, results, importtimes, args.runs), end="\n\n", flush=True)
            raw["profiles"][profile] = {
                "baseline": baseline.summary(),
                "functions": {m.name: {**m.summary(), "walls_ms": [w * 1000 for w in m.walls],
                                       "top10": [r.__dict__ for r in top_cumulative(importtimes[m.name])]}
                              for m in results},
            }
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
