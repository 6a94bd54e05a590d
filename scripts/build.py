"""``make build``: the same artifacts as ``sam build``, without Docker and without python3.13.

Writes ``.aws-sam/build/``:

* ``ConnectLayer/python/`` — built by ``layers/connect/Makefile`` (the very target ``sam build``
  runs for ``BuildMethod: makefile``): arm64 CPython 3.13 wheels plus the ``lambda_connect`` package;
* ``<FunctionLogicalId>/`` — a copy of each function's ``CodeUri``;
* ``template.yaml`` — the template with ``CodeUri``/``ContentUri`` pointing at those directories,
  which is what ``sam deploy`` (and ``sam package``) read after ``sam build``.

Then it checks the layer: every ``lambda_connect`` module each handler can reach is in it, every
third-party package a handler loads at cold start is in it (or ships with the Lambda runtime),
and confluent-kafka's native extension is an aarch64 ELF. Exit status 1 names what is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_graph import reachable_modules

ROOT = Path(__file__).resolve().parent.parent
LAYER_ID = "ConnectLayer"
#: Top-level packages the Lambda Python runtime provides (boto3 and its dependencies).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"})
_ELF_MACHINE_AARCH64 = 183


@dataclass
class LayerReport:
    """What the layer check found; ``ok`` when nothing is missing."""

    handlers: dict[str, int] = field(default_factory=dict)  # logical id → modules reached
    missing_modules: list[str] = field(default_factory=list)
    missing_packages: list[str] = field(default_factory=list)
    optional_packages: list[str] = field(default_factory=list)
    native_extension: str | None = None
    native_modules: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing_modules or self.missing_packages or self.problems)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation YAML template (short-form intrinsics included) into plain data."""
    from cfnlint.decode import cfn_yaml  # cfn-lint (a dev dependency) knows every CFN tag

    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def handler_file(template: dict[str, Any], logical_id: str, code_dir: Path) -> Path:
    """The source file of a function's handler (``app.lambda_handler`` → ``<code>/app.py``)."""
    props = template["Resources"][logical_id].get("Properties", {})
    handler = props.get("Handler") or template.get("Globals", {}).get("Function", {}).get("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise ValueError(f"{logical_id}: no usable Handler ({handler!r})")
    module = handler.rsplit(".", 1)[0]
    return code_dir.joinpath(*module.split(".")).with_suffix(".py")


def build_layer(build_dir: Path, extras: str | None, native: str | None = None) -> Path:
    artifacts = build_dir / LAYER_ID
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    env = {**os.environ, "PIP_CACHE_DIR": str(build_dir.parent / "cache" / "pip")}
    cmd = ["make", "--no-print-directory", "-C", str(ROOT / "layers" / "connect"), f"build-{LAYER_ID}",
           f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"]
    if extras is not None:
        cmd.append(f"EXTRAS={extras}")
    if native is not None:
        cmd.append(f"NATIVE={native}")
    subprocess.run(cmd, check=True, env=env)
    return artifacts


def copy_functions(template: dict[str, Any], build_dir: Path) -> dict[str, Path]:
    built: dict[str, Path] = {}
    for logical_id, resource in functions_of(template).items():
        source = ROOT / resource["Properties"]["CodeUri"]
        target = build_dir / logical_id
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        resource["Properties"]["CodeUri"] = logical_id
        built[logical_id] = target
    return built


def write_built_template(template: dict[str, Any], build_dir: Path) -> Path:
    """JSON is YAML: ``sam deploy`` reads this file as it reads the one ``sam build`` writes."""
    template["Resources"][LAYER_ID]["Properties"]["ContentUri"] = LAYER_ID
    out = build_dir / "template.yaml"
    out.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")
    return out


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return -1
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def _present(layer_python: Path, top: str) -> bool:
    return (layer_python / top).is_dir() or any(layer_python.glob(f"{top}.*py")) or any(
        layer_python.glob(f"{top}.*.so")
    )


def check_layer(template: dict[str, Any], code_dirs: dict[str, Path], layer_dir: Path) -> LayerReport:
    """Prove the layer holds what every handler imports, and that its native code is arm64."""
    layer_python = layer_dir / "python"
    report = LayerReport()
    for logical_id, code_dir in code_dirs.items():
        entry = handler_file(template, logical_id, code_dir)
        if not entry.is_file():
            report.problems.append(f"{logical_id}: handler file {entry.relative_to(code_dir.parent)} is missing")
            continue
        reach = reachable_modules(entry, layer_python)
        report.handlers[logical_id] = len(reach.modules)
        report.missing_modules += sorted(f"{logical_id}: {name}" for name in reach.missing)
        for ref in sorted(reach.external, key=lambda r: (r.name, r.lazy, r.optional)):
            if ref.name in RUNTIME_PROVIDED or _present(layer_python, ref.name):
                continue
            bucket = report.optional_packages if (ref.lazy or ref.optional) else report.missing_packages
            line = f"{logical_id}: {ref.name}"
            if line not in bucket:
                bucket.append(line)
    natives = sorted((layer_python / "confluent_kafka").glob("cimpl*.so"))
    if not natives:
        report.problems.append("confluent_kafka's native extension (cimpl*.so) is not in the layer")
    else:
        report.native_extension = natives[0].name
        if "aarch64" not in natives[0].name or _elf_machine(natives[0]) != _ELF_MACHINE_AARCH64:
            report.problems.append(f"{natives[0].name} is not an aarch64 build")
    for native in sorted((layer_python / "lambda_connect").rglob("*.so")):
        name = str(native.relative_to(layer_python))
        if _elf_machine(native) != _ELF_MACHINE_AARCH64:
            report.problems.append(f"{name} is not an aarch64 build (a host build leaked into the layer)")
        else:
            report.native_modules.append(name)
    if not (layer_python / "lambda_connect" / "__init__.py").is_file():
        report.problems.append("the lambda_connect package is not in the layer")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--extras", default=None, help='layer extras, e.g. "msk-iam jdbc" (default: the Makefile\'s)')
    parser.add_argument("--skip-layer", action="store_true", help="reuse the layer already in the build directory")
    parser.add_argument("--native", choices=["auto", "require", "off"], default=None,
                        help="the native plan engine in the layer (default: the Makefile's, auto)")
    args = parser.parse_args(argv)

    build_dir: Path = args.build_dir.resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    template = load_template(args.template)
    layer_dir = build_dir / LAYER_ID if args.skip_layer else build_layer(build_dir, args.extras, args.native)
    code_dirs = copy_functions(template, build_dir)
    out = write_built_template(template, build_dir)
    report = check_layer(template, code_dirs, layer_dir)

    for logical_id, count in report.handlers.items():
        print(f"{logical_id}: handler reaches {count} lambda_connect modules, all in the layer")
    for line in report.optional_packages:
        print(f"note: {line} is imported lazily and is not in the layer (add its extra to EXTRAS if used)")
    if report.native_extension:
        print(f"confluent_kafka native extension: {report.native_extension}")
    print(f"native code: {', '.join(report.native_modules) or 'none in the layer (the generated Python runs instead)'}")
    for line in [*report.missing_modules, *report.missing_packages, *report.problems]:
        print(f"error: {line}", file=sys.stderr)
    if not report.ok:
        return 1
    print(f"built {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}; deploy with: sam deploy --guided")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
