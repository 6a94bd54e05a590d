"""Drain benchmark: a Kafka topic into PostgreSQL, `lambda-connect up` against a hand-written loop.

One run starts its own tansu broker (the embedded one `lambda-connect up` uses, from the venv),
produces ``--records`` JSON records of ~200 bytes on ``--partitions`` partitions once, then
takes turns, ``--rounds`` times, between

  (a) the hand-written loop: confluent-kafka ``consume(5000)`` → ``orjson.loads`` → psycopg
      ``COPY`` → database commit → offset commit, what one would write without a framework;
  (b) ``lambda-connect up`` (a subprocess running the CLI, as a user starts it; ``--in-process``
      runs the same ``LocalRuntime`` in this process, which ``--profile`` needs, with the mapping's
      poller on a thread instead of the process of its own that ``up`` gives it) with
      JdbcSinkConnector (``insert.mode=insert``, JsonConverter without schemas,
      ``lambda.batch.size=10000``) draining the same topic in a new consumer group.

Each side writes into its own new table whose ``_at`` column defaults to ``clock_timestamp()``,
so a row carries the moment it was written; rate = rows / (first ``_at`` → last ``_at``).
Start-up (broker connection, group join, container cold start) is therefore outside the
measurement, for both alike, and nobody has to poll fast to catch the first row.

    .venv/bin/python bench/drain.py --records 20000 --rounds 1        # a quick look
    .venv/bin/python bench/drain.py                                   # 200,000 records, 3 rounds
    .venv/bin/python bench/drain.py --in-process --profile --skip-hand # where up's time goes

Needs PostgreSQL at $LAMBDA_CONNECT_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

PG_URL = os.environ.get("LAMBDA_CONNECT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("id", "customer", "email", "sku", "amount", "qty", "currency", "status", "ts", "note")
#: Column types of the target tables (what the JDBC sink would pick for the inferred schema).
DDL_TYPES = ("BIGINT", "TEXT", "TEXT", "TEXT", "DOUBLE PRECISION", "BIGINT", "TEXT", "TEXT", "BIGINT", "TEXT")
#: Seconds without a new row after which a side is declared stuck.
STALL_SECONDS = 60.0


def libpq_dsn() -> str:
    """The SQLAlchemy URL of the test database as psycopg takes it."""
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def make_value(i: int) -> bytes:
    """One order record of ~200 bytes of JSON."""
    return orjson.dumps({
        "id": i, "customer": f"customer-{i % 50_000:06d}", "email": f"c{i % 50_000:06d}@example.com",
        "sku": f"SKU-{i % 997:05d}-XL", "amount": round((i * 37) % 100_000 / 100, 2), "qty": i % 9 + 1,
        "currency": "EUR", "status": "PLACED", "ts": 1_700_000_000_000 + i,
        "note": "gift wrap, leave at the door",
    })


def produce(bootstrap: str, topic: str, records: int, partitions: int) -> float:
    """Create ``topic`` and fill it; returns the mean value size in bytes."""
    from confluent_kafka import Producer
    from lambda_connect.aws.kafka_clients import KafkaSettings, ensure_topic, make_admin

    ensure_topic(make_admin(KafkaSettings(bootstrap_servers=bootstrap)), topic, partitions=partitions)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000,
                         "compression.type": "none", "enable.idempotence": True})
    total = 0
    for i in range(records):
        value = make_value(i)
        total += len(value)
        while True:
            try:
                producer.produce(topic, value, str(i).encode(), partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("not every record reached the broker")
    return total / max(records, 1)


def create_table(conn: Any, table: str) -> None:
    cols = ", ".join(f"{c} {t}" for c, t in zip(COLUMNS, DDL_TYPES))
    conn.execute(f"CREATE TABLE {table} ({cols}, _at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())")
    conn.commit()


def table_rate(conn: Any, table: str) -> tuple[int, float]:
    """(rows, seconds from the first row written to the last)."""
    rows, span = conn.execute(
        f"SELECT count(*), COALESCE(EXTRACT(EPOCH FROM max(_at) - min(_at)), 0) FROM {table}").fetchone()
    conn.commit()
    return int(rows), float(span)


def wait_for_rows(conn: Any, table: str, expected: int, alive: Callable[[], bool] = lambda: True) -> None:
    """Return once ``table`` holds ``expected`` rows; raise when the writer stalls or dies."""
    last, last_change = -1, time.monotonic()
    while True:
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.commit()
        if rows >= expected:
            return
        now = time.monotonic()
        if rows != last:
            last, last_change = rows, now
        elif now - last_change > STALL_SECONDS:
            raise RuntimeError(f"{table}: stuck at {rows} of {expected} rows")
        if not alive():
            raise RuntimeError(f"{table}: the writer exited at {rows} of {expected} rows")
        time.sleep(0.25)


# --- (a) the hand-written loop -----------------------------------------------------------------------
def hand_loop(bootstrap: str, topic: str, table: str, expected: int) -> float:
    """Drain ``topic`` into ``table``; returns the CPU seconds this process spent doing it."""
    import psycopg
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"drain-hand-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
    consumer.subscribe([topic])
    copy_sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
    loads = orjson.loads
    done = 0
    cpu = 0.0
    waits = {"consume": 0.0, "decode": 0.0, "copy": 0.0, "commit": 0.0}
    with psycopg.connect(libpq_dsn()) as conn:
        while done < expected:
            t0 = time.perf_counter()
            messages = consumer.consume(5000, timeout=1.0)
            t1 = time.perf_counter()
            if not messages:
                continue
            if done:
                waits["consume"] += t1 - t0  # the first wait is the group join
            started = time.process_time()
            rows = []
            last: dict[int, int] = {}
            for m in messages:
                if m.error() is not None:
                    raise RuntimeError(f"consume error: {m.error()}")
                d = loads(m.value())
                rows.append([d[c] for c in COLUMNS])
                last[m.partition()] = m.offset()
            t2 = time.perf_counter()
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            t3 = time.perf_counter()
            consumer.commit(offsets=[TopicPartition(topic, p, o + 1) for p, o in last.items()], asynchronous=False)
            done += len(messages)
            cpu += time.process_time() - started
            waits["decode"] += t2 - t1
            waits["copy"] += t3 - t2
            waits["commit"] += time.perf_counter() - t3
    consumer.close()
    hand_loop.waits = waits  # type: ignore[attr-defined]
    return cpu


# --- (b) lambda-connect up -----------------------------------------------------------------------------
def connector_config(name: str, topic: str, table: str, batch: int) -> dict[str, str]:
    return {
        "name": name, "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": topic,
        "connection.url": PG_URL, "table.name.format": table, "insert.mode": "insert", "pk.mode": "none",
        "auto.create": "false", "auto.evolve": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        "lambda.batch.size": str(batch), "lambda.starting.position": "TRIM_HORIZON",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, its reaped children and its living descendants (``up``'s mapping
    pollers run in processes of their own), from /proc."""
    ppids: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        child = int(stat.parent.name)
        ppids[child] = int(fields[1])
        times[child] = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in ppids.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(p, 0.0) for p in tree)


@contextlib.contextmanager
def up_subprocess(workdir: Path, bootstrap: str, config: dict[str, str],
                  package_path: str | None = None) -> Iterator[Callable[[], bool]]:
    """``lambda-connect up`` as a user runs it; yields an is-alive check. ``package_path`` goes first
    on ``PYTHONPATH`` (a copy of the package at another commit, for a before/after comparison)."""
    conf = workdir / f"{config['name']}.json"
    conf.write_text(json.dumps(config))
    log = open(workdir / f"{config['name']}.log", "wb")  # noqa: SIM115 - closed below
    args = [str(ROOT / ".venv/bin/lambda-connect"), "up", "--bootstrap-servers", bootstrap,
            "--port", str(_free_port()), "--state", f"sqlite:///{workdir}/{config['name']}.db",
            "--log-level", "WARNING", "--root", str(ROOT), str(conf)]
    if not Path(args[0]).exists():
        args[0:1] = [sys.executable, "-m", "lambda_connect.cli"]
    env = dict(os.environ)
    if package_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_path, env.get("PYTHONPATH")) if p)
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    try:
        yield lambda: process.poll() is None
    finally:
        up_subprocess.cpu = _cpu_seconds(process.pid) if process.poll() is None else float("nan")  # type: ignore[attr-defined]
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextlib.contextmanager
def up_in_process(workdir: Path, bootstrap: str, config: dict[str, str], profiler: cProfile.Profile | None,
                  handler_profiler: cProfile.Profile | None = None) -> Iterator[Callable[[], bool]]:
    """The same ``LocalRuntime`` the CLI starts, in this process; ``profiler`` profiles the mapping
    threads (poller and the handler they invoke; cProfile sees one thread at a time)."""
    from lambda_connect.local import esm, esm_process
    from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

    original = esm.EsmEmulator._run
    original_serve = esm_process.EsmProcess._serve
    split = up_in_process.split = {"mapping": 0.0, "handler": 0.0, "handler_wall": 0.0}  # type: ignore[attr-defined]

    def timed(invoke: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """``invoke``, adding its thread's CPU and its wall time to the split (and to cProfile)."""

        def timed_invoke(event: Any, context: Any) -> Any:
            started, wall = time.thread_time(), time.perf_counter()
            try:
                if handler_profiler is not None:
                    return handler_profiler.runcall(invoke, event, context)
                return invoke(event, context)
            finally:
                split["handler"] += time.thread_time() - started
                split["handler_wall"] += time.perf_counter() - wall

        return timed_invoke

    def measured(self: Any) -> None:
        """CPU of the mapping's poller thread and of the thread the handler runs on (``thread_time``)."""
        self._invoke = timed(self._invoke)
        started = time.thread_time()
        try:
            if profiler is not None:
                profiler.runcall(original, self)
            else:
                original(self)
        finally:
            split["mapping"] += time.thread_time() - started

    def measured_serve(self: Any) -> None:
        """Process mode: the handler's thread here serves the poller process; time what it runs."""
        self._invoke = timed(self._invoke)
        original_serve(self)

    esm.EsmEmulator._run = measured  # type: ignore[method-assign]
    esm_process.EsmProcess._serve = measured_serve  # type: ignore[method-assign]
    options = RuntimeOptions(connectors=[config], bootstrap_servers=bootstrap, port=_free_port(),
                             state_url=f"sqlite:///{workdir}/{config['name']}.db", root=ROOT)
    runtime = LocalRuntime(options)
    import gc

    gc_started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started.append(time.perf_counter())
        elif gc_started:
            split["gc"] += time.perf_counter() - gc_started.pop()
            split["gc_full"] += info["generation"] == 2

    split["gc"] = split["gc_full"] = 0.0
    gc.callbacks.append(on_gc)
    started = time.process_time()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runtime.start()
        if up_in_process.freeze:  # type: ignore[attr-defined]
            gc.collect()
            gc.freeze()
        yield lambda: True
    finally:
        up_in_process.cpu = time.process_time() - started  # type: ignore[attr-defined]
        gc.callbacks.remove(on_gc)
        runtime.stop()
        esm.EsmEmulator._run = original  # type: ignore[method-assign]
        esm_process.EsmProcess._serve = original_serve  # type: ignore[method-assign]


# --- driver ----------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10_000, help="lambda.batch.size")
    parser.add_argument("--rounds", type=int, default=3, help="turns of hand-written loop, then up")
    parser.add_argument("--in-process", action="store_true", help="run LocalRuntime here instead of the CLI")
    parser.add_argument("--profile", action="store_true", help="cProfile up's mapping thread (implies --in-process)")
    parser.add_argument("--profile-handler", action="store_true",
                        help="cProfile the handler's invocations instead (wall-clock times: waits show)")
    parser.add_argument("--poller", choices=("thread", "process"), default=None,
                        help="in-process: where the mappings' pollers run (default: thread, process with "
                             "--profile-handler; `up` itself runs them in processes of their own)")
    parser.add_argument("--skip-hand", action="store_true", help="only run up")
    parser.add_argument("--no-gc", action="store_true", help="experiment: automatic garbage collection off")
    parser.add_argument("--no-read-ahead", action="store_true",
                        help="in-process: the mapping does not read the next batch while the handler runs")
    parser.add_argument("--handler-gc-off", action="store_true",
                        help="experiment, in-process: the sink handler runs inside runtime.gc_tuning.relaxed_gc")
    parser.add_argument("--freeze", action="store_true", help="experiment: gc.freeze() once up has started")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run up with DIR first on PYTHONPATH (a copy of lambda_connect at another commit), "
                             "each round, to compare before and after in the same run")
    parser.add_argument("--bootstrap", default=None, help="an existing broker instead of a new tansu")
    args = parser.parse_args()
    in_process = args.in_process or args.profile or args.profile_handler
    if in_process:  # the poller's share (and its cProfile) needs it on a thread of this process
        os.environ["LAMBDA_CONNECT_ESM_POLLER"] = args.poller or ("process" if args.profile_handler else "thread")
    up_in_process.freeze = args.freeze  # type: ignore[attr-defined]
    if args.no_read_ahead:
        from lambda_connect.local import esm

        esm.READ_AHEAD = False
    if args.handler_gc_off:
        from lambda_connect.local import runtime as local_runtime
        from lambda_connect.runtime.gc_tuning import relaxed_gc

        plain_call = local_runtime._LazyHandler.__call__

        def relaxed_call(self: Any, event: Any, context: Any) -> Any:
            with relaxed_gc(True):
                return plain_call(self, event, context)

        local_runtime._LazyHandler.__call__ = relaxed_call  # type: ignore[method-assign]
    if args.no_gc:
        import gc

        gc.disable()

    import logging

    import psycopg

    logging.basicConfig(level=logging.WARNING)
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from lambda_connect.local.broker import EmbeddedBroker

        broker = EmbeddedBroker().start()
        bootstrap = broker.bootstrap_servers
    run_id = uuid.uuid4().hex[:8]
    topic = f"drain-{run_id}"
    tables: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="lambda-connect-drain-"))
    profiler = cProfile.Profile() if args.profile else None
    handler_profiler = cProfile.Profile() if args.profile_handler else None
    results: list[tuple[float | None, float]] = []
    try:
        started = time.perf_counter()
        size = produce(bootstrap, topic, args.records, args.partitions)
        print(f"produced {args.records:,} records ({size:.0f} bytes of JSON on average) on {args.partitions} "
              f"partitions in {time.perf_counter() - started:.1f} s; up {'in-process' if in_process else 'as CLI'}",
              flush=True)
        with psycopg.connect(libpq_dsn()) as conn:
            for round_ in range(1, args.rounds + 1):
                hand_rate: float | None = None
                if not args.skip_hand:
                    table = f"drain_hand_{run_id}_{round_}"
                    tables.append(table)
                    create_table(conn, table)
                    cpu = hand_loop(bootstrap, topic, table, args.records)
                    rows, span = table_rate(conn, table)
                    hand_rate = rows / span
                    print(f"round {round_} hand-written loop: {hand_rate:10,.0f} records/s  ({rows:,} rows in "
                          f"{span:.2f} s, {cpu * 1e6 / rows:.1f} CPU-ms/1000 records in the loop)", flush=True)
                    print("        wall seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in hand_loop.waits.items()),  # type: ignore[attr-defined]
                          flush=True)
                table = f"drain_up_{run_id}_{round_}"
                tables.append(table)
                create_table(conn, table)
                config = connector_config(f"drain-{run_id}-{round_}", topic, table, args.batch)
                runner = (up_in_process(workdir, bootstrap, config, profiler, handler_profiler) if in_process
                          else up_subprocess(workdir, bootstrap, config))
                with runner as alive:
                    wait_for_rows(conn, table, args.records, alive)
                cpu = (up_in_process if in_process else up_subprocess).cpu  # type: ignore[attr-defined]
                rows, span = table_rate(conn, table)
                up_rate = rows / span
                print(f"round {round_} lambda-connect up: {up_rate:10,.0f} records/s  ({rows:,} rows in {span:.2f} s, "
                      f"{cpu * 1e6 / rows:.1f} CPU-ms/1000 records in the whole process, start-up included)",
                      flush=True)
                if in_process:
                    split = up_in_process.split  # type: ignore[attr-defined]
                    mapping, handler = split["mapping"] * 1e6 / rows, split["handler"] * 1e6 / rows
                    print(f"        CPU-ms/1000 records: handler {handler:.1f}, event source mapping's poller (poll, "
                          f"event building, commit) {mapping:.1f}; the handler's wall time "
                          f"{split['handler_wall']:.2f} s; garbage collection {split['gc']:.2f} s wall "
                          f"({split['gc_full']:.0f} full) in the whole process", flush=True)
                if hand_rate is not None:
                    print(f"round {round_} ratio up / hand-written: {up_rate / hand_rate:.2f}", flush=True)
                if args.baseline:
                    table = f"drain_base_{run_id}_{round_}"
                    tables.append(table)
                    create_table(conn, table)
                    config = connector_config(f"drain-{run_id}-{round_}-base", topic, table, args.batch)
                    with up_subprocess(workdir, bootstrap, config, args.baseline) as alive:
                        wait_for_rows(conn, table, args.records, alive)
                    rows, span = table_rate(conn, table)
                    base_rate = rows / span
                    versus = f", ratio {base_rate / hand_rate:.2f} of hand-written" if hand_rate else ""
                    print(f"round {round_} baseline up ({args.baseline}): {base_rate:10,.0f} records/s{versus}; "
                          f"this tree / baseline {up_rate / base_rate:.2f}", flush=True)
                results.append((hand_rate, up_rate))
            if len(results) > 1 and results[0][0] is not None:
                ratios = ", ".join(f"{u / h:.2f}" for h, u in results if h)
                print(f"ratios of the {len(results)} rounds: {ratios}")
            for table in tables:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.commit()
    finally:
        if broker is not None:
            broker.close()
    if handler_profiler is not None:
        pstats.Stats(handler_profiler).sort_stats("cumulative").print_stats(60)
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    threading.current_thread().name = "drain"
    main()
