"""Time to first row of ``lambda-connect demo``, phase by phase.

Each run starts a fresh Python process (as ``make demo`` does) that wraps the start path's
steps with timers and then runs the demo's ``main(["demo"])``. Every time is in seconds since
this script spawned that process, so interpreter start and CLI imports are counted too. The
demo's own "Time to first row" line (counted from the start of its ``run``) is printed as well.

    .venv/bin/python bench/demo_latency.py                 # 3 runs of this tree, phases of the median run
    .venv/bin/python bench/demo_latency.py --runs 5 --all  # every run's phases
    .venv/bin/python bench/demo_latency.py --baseline /tmp/tree-before --runs 4
        # takes turns between this tree and another checkout (its layers/connect on PYTHONPATH,
        # its functions/ and examples/ as the demo's --root)
    .venv/bin/python bench/demo_latency.py --profile       # + the first sink invocation's cProfile

The wrappers only record times; they change nothing the demo does. A step the process does
not run (a poller in a process of its own, say) is simply missing from the table.
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
T0_ENV = "DEMO_LATENCY_T0"
OUT_ENV = "DEMO_LATENCY_OUT"
_SITECUSTOMIZE = (
    "import os, sys\n"
    "if os.environ.get('DEMO_LATENCY_OUT'):\n"
    "    sys.path.insert(0, {here!r})\n"
    "    import demo_latency\n"
    "    sys.path.remove({here!r})\n"
    "    demo_latency.install_in_poller()\n"
)


# ---------------------------------------------------------------------------------------- child
class _Trace:
    def __init__(self, t0: float, out: Path, profile: bool) -> None:
        import threading

        self.t0, self.out, self.profile = t0, out, profile
        self.events: list[tuple[float, str, float, str]] = []
        self.who = "demo"
        self.firsts: set[str] = set()
        self.lock = threading.Lock()
        self.profile_text = ""

    def mark(self, label: str) -> None:
        with self.lock:
            # CPU seconds of this process so far (all threads), and which process it is
            self.events.append((time.time() - self.t0, label, time.process_time(), self.who))

    def once(self, label: str) -> bool:
        """Record ``label`` the first time only; True if it was recorded now."""
        with self.lock:
            if label in self.firsts:
                return False
            self.firsts.add(label)
        self.mark(label)
        return True

    def dump(self) -> None:
        (self.out / f"{os.getpid()}.json").write_text(
            json.dumps({"events": sorted(self.events), "profile": self.profile_text}))


def _wrap(trace: _Trace, owner: Any, name: str, label: str, *, every: bool = False, first: int = 1) -> None:
    """Replace ``owner.name`` by a function that marks ``label`` start/end around the first
    ``first`` calls (every call with ``every``)."""
    import functools

    original = getattr(owner, name)
    calls = [0]

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        n = calls[0]
        if not every and n > first:
            return original(*args, **kwargs)
        tag = label if first == 1 and not every else f"{label} #{n}"
        trace.mark(f"{tag}: start")
        try:
            return original(*args, **kwargs)
        finally:
            trace.mark(f"{tag}: end")

    setattr(owner, name, wrapper)


class _ConsumerProbe:
    """A mapping's consumer, passed through, noting subscribe, assignment and the first records."""

    def __init__(self, trace: _Trace, consumer: Any) -> None:
        self._trace, self._consumer = trace, consumer

    def subscribe(self, topics: Any, on_assign: Any = None, **kwargs: Any) -> Any:
        trace = self._trace

        def assigned(consumer: Any, partitions: Any) -> Any:
            trace.once(f"esm: partitions assigned ({len(partitions)})")
            if on_assign is not None:
                return on_assign(consumer, partitions)
            return None

        trace.once("esm: subscribe")
        return self._consumer.subscribe(topics, on_assign=assigned, **kwargs)

    def consume(self, *args: Any, **kwargs: Any) -> Any:
        messages = self._consumer.consume(*args, **kwargs)
        if messages and any(m.error() is None for m in messages):
            self._trace.once("esm: first records consumed")
        return messages

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def _install_esm(trace: _Trace, esm: Any) -> None:
    """The mapping's poller (in this process in thread mode, in its own in process mode)."""
    make_consumer = esm.make_consumer

    def consumer(*args: Any, **kwargs: Any) -> Any:
        trace.once("esm: consumer create: start")
        c = make_consumer(*args, **kwargs)
        trace.once("esm: consumer create: end")
        return _ConsumerProbe(trace, c)

    esm.make_consumer = consumer
    _wrap(trace, esm.EsmEmulator, "_run", "esm: poller")
    _wrap(trace, esm.EsmEmulator, "_invoke_once", "esm: invoke", first=2)


def _install_esm_later(trace: _Trace) -> None:
    def esm(m: Any) -> None:
        trace.mark("poller: esm imported")
        _install_esm(trace, m)

    sys.meta_path.insert(0, _AfterImport({"lambda_connect.local.esm": esm}))


def install_in_poller() -> None:
    """Called by the ``sitecustomize`` this script puts on the path of every process it starts:
    instruments a mapping's poller process (``local.esm_process``), if this is one."""
    argv = " ".join(getattr(sys, "orig_argv", []))
    out = os.environ.get(OUT_ENV)
    if "child_main" not in argv or not out or T0_ENV not in os.environ:
        return
    import atexit

    trace = _Trace(float(os.environ[T0_ENV]), Path(out), False)
    trace.who = "poller"
    trace.mark("poller process running")
    _install_esm_later(trace)
    atexit.register(trace.dump)
    # The poller process ends with os._exit when its parent goes away, which skips atexit: the
    # events are written as they come as well.
    original = trace.mark

    def mark(label: str) -> None:
        original(label)
        trace.dump()

    trace.mark = mark  # type: ignore[method-assign]


class _AfterImport:
    """A meta path finder that calls ``hooks[name](module)`` right after ``name`` is imported, so
    wrapping a module does not import it earlier than the demo would."""

    def __init__(self, hooks: dict[str, Any]) -> None:
        self.hooks = hooks

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        hook = self.hooks.pop(name, None)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            hook(module)

        spec.loader.exec_module = exec_module
        return spec


def _install(trace: _Trace) -> None:
    def demo(m: Any) -> None:
        _wrap(trace, m, "run", "demo.run")

        rows = m._Probe.rows

        def probe_rows(self: Any) -> int:
            n = rows(self)
            if n:
                trace.once("demo sees first row")
            return n

        m._Probe.rows = probe_rows
        _wrap(trace, m._Probe, "__init__", "demo: probe clients")
        if hasattr(m._Probe, "create_topic"):
            _wrap(trace, m._Probe, "create_topic", "demo: topic created")

    def runtime(m: Any) -> None:
        _wrap(trace, m.LocalRuntime, "start", "runtime start")
        _wrap(trace, m.LocalRuntime, "_remember_run", "ledger (_remember_run)")
        for name in ("_prepare", "_start_services"):
            if hasattr(m.LocalRuntime, name):
                _wrap(trace, m.LocalRuntime, name, f"runtime {name}")
        _wrap(trace, m._LazyHandler, "load", "handler load", first=4)
        original_call = m._LazyHandler.__call__
        sink_calls = [0]

        source_calls = [0]

        def call(self: Any, event: Any, context: Any) -> Any:
            kind = "sink" if "Sink" in self.spec.name else "source"
            calls = sink_calls if kind == "sink" else source_calls
            calls[0] += 1
            n = calls[0]
            if (kind == "source" and not trace.profile) or n > 2:
                return original_call(self, event, context)
            if kind == "sink":
                trace.mark(f"sink invocation #{n}: start")
            profiler = None
            if trace.profile and n == 1:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            try:
                return original_call(self, event, context)
            finally:
                if profiler is not None:
                    import io
                    import pstats

                    profiler.disable()
                    text = io.StringIO()
                    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
                    trace.profile_text += f"first {kind} invocation:\n{text.getvalue()}"
                if kind == "sink":
                    trace.mark(f"sink invocation #{n}: end")

        m._LazyHandler.__call__ = call

    def jdbc_writer(m: Any) -> None:
        if hasattr(m.JdbcWriter, "_prepare_tables"):
            _wrap(trace, m.JdbcWriter, "_prepare_tables", "JDBC prepare tables")

    def jdbc_sink(m: Any) -> None:
        _wrap(trace, m.JdbcSinkTask, "start", "JDBC task start")
        _wrap(trace, m.JdbcSinkTask, "put", "JDBC put")
        _wrap(trace, m.JdbcSinkTask, "flush", "JDBC flush")

    def sink_handler(m: Any) -> None:
        _wrap(trace, m.KafkaDlqTransport, "producer", "DLQ producer")
        _wrap(trace, m.KafkaDlqTransport, "ensure_topic", "DLQ topic")

    hooks = {
        "lambda_connect.cli.demo": demo,
        "lambda_connect.local.runtime": runtime,
        "lambda_connect.local.broker": lambda m: _wrap(trace, m.EmbeddedBroker, "start", "broker start"),
        "lambda_connect.state.base": lambda m: _wrap(trace, m, "open_store", "open_store", first=3),
        "lambda_connect.local.server": lambda m: _wrap(trace, m.RestServer, "start", "REST server start"),
        "lambda_connect.local.topic_watch": lambda m: _wrap(trace, m.TopicWatcher, "start", "topic watch start"),
        "lambda_connect.runtime.reconciler": lambda m: _wrap(trace, m.Reconciler, "reconcile", "reconcile", first=4),
        "lambda_connect.local.platform": lambda m: (
            _wrap(trace, m.LocalPlatform, "ensure_sink", "ensure_sink"),
            _wrap(trace, m.LocalPlatform, "ensure_source", "ensure_source")),
        "lambda_connect.local.scheduler": lambda m: _wrap(trace, m.TaskSchedule, "_run_once", "source invocation",
                                                          first=3),
        "lambda_connect.runtime.sink_worker": lambda m: _wrap(trace, m.SinkWorker, "process", "sink worker process",
                                                              first=2),
        "lambda_connect.aws.sink_handler": sink_handler,
        "lambda_connect.rest.resources": lambda m: _wrap(trace, m.ConnectService, "put_config", "REST put_config",
                                                         first=2),
        "lambda_connect.plugins.connectors.jdbc.sink": jdbc_sink,
        "lambda_connect.plugins.connectors.jdbc.writer": jdbc_writer,
        "lambda_connect.local.esm": lambda m: _install_esm(trace, m),
    }
    sys.meta_path.insert(0, _AfterImport(hooks))


def child(profile: bool, argv: list[str]) -> int:
    t0 = float(os.environ[T0_ENV])
    out = Path(os.environ[OUT_ENV])
    trace = _Trace(t0, out, profile)
    trace.mark("child process running")
    _install(trace)
    from lambda_connect.cli import main

    trace.mark("CLI imported")
    try:
        code = main(["demo", *argv])
    finally:
        trace.mark("demo returned")
        trace.dump()
    return code


# --------------------------------------------------------------------------------------- parent
def run_once(tree: Path | None, profile: bool, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="demo-latency-") as tmp:
        out = Path(tmp) / "events"
        out.mkdir()
        site = Path(tmp) / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(here=str(HERE)))
        env = dict(os.environ)
        args = [sys.executable, str(Path(__file__).resolve()), "--child"]
        if profile:
            args.append("--profile")
        extra: list[str] = []
        paths = [str(site)]
        if tree is not None:
            paths.append(str(tree / "layers" / "connect"))
            extra = ["--root", str(tree)]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [*paths, env.get("PYTHONPATH")]))
        env[OUT_ENV] = str(out)
        env[T0_ENV] = repr(time.time())
        proc = subprocess.run([*args, "--", *extra], env=env, capture_output=True, text=True, timeout=timeout)
        wall = time.time() - float(env[T0_ENV])
        events: list[tuple[Any, ...]] = []
        profile_text = ""
        for path in out.glob("*.json"):
            data = json.loads(path.read_text())
            events.extend(tuple(e) for e in data["events"])
            profile_text = profile_text or data.get("profile", "")
    events.sort()
    printed = None
    for line in proc.stdout.splitlines():
        if line.startswith("Time to first row:"):
            value = line.split(":", 1)[1].split(";", 1)[0].strip().removesuffix(" s")
            printed = float(value) if value != "n/a" else None
    seen = next((e[0] for e in events if e[1] == "demo sees first row"), None)
    written = next((e[0] for e in events if e[1] == "JDBC flush: end"), None)
    return {"code": proc.returncode, "wall": wall, "printed": printed, "seen": seen, "written": written,
            "events": events, "profile": profile_text, "stderr": proc.stderr[-3000:],
            "stdout": proc.stdout}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def print_phases(result: dict[str, Any]) -> None:
    print(f"    {'s':>6}  {'CPU s':>11}  what  (CPU: seconds the process, demo or poller, had used by then)")
    for t, label, cpu, who in result["events"]:
        print(f"    {t:6.3f}  {who:>6} {cpu:4.2f}  {label}")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout to take turns with")
    parser.add_argument("--all", action="store_true", help="print every run's phases, not only the median run's")
    parser.add_argument("--profile", action="store_true", help="cProfile the first sink and source invocations")
    parser.add_argument("--slow", type=float, help="print the phases of every run whose first row took longer")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        return child(args.profile, [a for a in rest if a != "--"])

    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.baseline is not None:
        trees.append(("baseline", args.baseline.resolve()))
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    for i in range(args.runs):
        for name, tree in trees:
            load = _load()
            r = run_once(tree, args.profile, args.timeout)
            r["load"] = load
            results[name].append(r)
            print(f"run {i + 1} {name:<9} load {load}: exit {r['code']}, first row written {_fmt(r['written'])} s, "
                  f"seen by the demo {_fmt(r['seen'])} s, demo prints {_fmt(r['printed'])} s, "
                  f"process {r['wall']:.2f} s", flush=True)
            if r["code"] != 0:
                print(r["stdout"][-1500:])
                print(r["stderr"])
            if args.all or r["code"] != 0 or (args.slow is not None and (r["written"] or 1e9) > args.slow):
                print_phases(r)
    for name, runs in results.items():
        ok = [r for r in runs if r["written"] is not None]
        if not ok:
            continue
        written = sorted(r["written"] for r in ok)
        seen = sorted(r["seen"] for r in ok if r["seen"] is not None)
        printed = sorted(r["printed"] for r in ok if r["printed"] is not None)
        print(f"\n{name}: first row written (s since spawn) min {written[0]:.2f} median "
              f"{statistics.median(written):.2f} max {written[-1]:.2f}; seen by the demo median "
              f"{_fmt(statistics.median(seen) if seen else None)}; demo prints median "
              f"{_fmt(statistics.median(printed) if printed else None)}")
        if not args.all:
            median_run = sorted(ok, key=lambda r: r["written"])[len(ok) // 2]
            print(f"  phases of the median run ({name}):")
            print_phases(median_run)
        if args.profile and ok[0]["profile"]:
            print(f"  first sink and source invocations, cProfile (wall time; {name}, run 1):")
            print(ok[0]["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
