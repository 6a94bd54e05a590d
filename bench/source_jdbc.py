"""Benchmark: PostgreSQL rows → Kafka through the source runtime vs a hand-written loop.

N rows (id, name, qty, price, created) are copied from a PostgreSQL table into a topic on the
embedded broker twice in the same run:

* **runtime**: ``SourceWorker.run_task`` with the JDBC source (incrementing mode,
  ``batch.max.rows`` as given), JsonConverter (schemas.enable=false), the idempotent ``acks=all``
  producer from ``aws.kafka_clients``, offsets committed in an in-memory state store — what a
  source invocation does, minus the Lambda wrapper;
* **hand-written**: a psycopg server-side cursor, ``fetchmany`` + ``orjson.dumps`` of each row as a
  dict + ``produce`` on an equally configured producer, one flush at the end.

The runtime takes its batch path (``runtime/source_batch.py``) with the JDBC source's columnar
hand-over (``SourceTask.poll_columns``); ``--records`` also times the batch path fed records
(``SourceWorker(columns=False)``, what ``LAMBDA_CONNECT_SOURCE_COLUMNS=off`` runs), ``--per-record``
the per-record path (``SourceWorker(batch=False)``, what ``LAMBDA_CONNECT_SOURCE_BATCH=off`` runs),
and ``--baseline DIR`` the runtime of another checkout (its ``layers/connect`` first on the path,
in a child process, same table and broker) — before/after in one run. ``--rounds N`` alternates
the pipelines N times (best round of each is printed, so a burst of load on a shared host hits
all alike).

Prints records/s of each, the ratios, and CPU-milliseconds per 1,000 records: process CPU
(librdkafka's threads included — the Lambda cost driver) and the main thread's alone (the Python
work, the part a loaded host distorts least). ``LAMBDA_CONNECT_GC_TUNING=off`` runs the runtime
side with CPython's default garbage collection (see ``runtime/gc_tuning.py``).

    python bench/source_jdbc.py [--rows 1000000] [--batch 10000] [--rounds 1] [--records] [--per-record]
                                [--baseline DIR] [--bootstrap HOST:PORT] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

MAIN = "runtime, batch path, columns"
POSTGRES_URL = os.environ.get("LAMBDA_CONNECT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def timed(fn: Callable[[], int]) -> tuple[int, float, float, float]:
    """Records, wall seconds, process CPU seconds, main-thread CPU seconds."""
    wall, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
    n = fn()
    return n, time.perf_counter() - wall, time.process_time() - cpu, time.thread_time() - thread


def create_table(engine: Any, table: str, rows: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, "
            "price DOUBLE PRECISION NOT NULL, created TIMESTAMPTZ NOT NULL)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {table} (name, qty, price, created) SELECT 'customer-' || g, mod(g, 100), g * 0.25, "
            f"TIMESTAMPTZ '2025-01-01 00:00:00+00' + g * INTERVAL '1 second' FROM generate_series(1, {rows}) g"
        )


def runtime_copy(bootstrap: str, table: str, rows: int, batch: int, batch_path: bool = True,
                 columns: bool | None = None) -> Callable[[], int]:
    from lambda_connect.aws.kafka_clients import KafkaSettings, make_producer
    from lambda_connect.runtime.source_worker import SourceWorker
    from lambda_connect.state.memory import InMemoryStateStore

    store = InMemoryStateStore()
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    options: dict[str, Any] = {"batch": batch_path}
    if columns is not None:  # a baseline checkout may not know the switch
        options["columns"] = columns
    worker = SourceWorker(store, producer_factory=lambda o, t: make_producer(settings, o, transactional_id=t),
                          **options)
    store.create_connector("bench", {
        "name": "bench", "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": POSTGRES_URL, "mode": "incrementing", "table.whitelist": table,
        "topic.prefix": "bench-runtime-", "poll.interval.ms": "0", "batch.max.rows": str(batch),
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    })

    def run() -> int:
        produced = 0
        while produced < rows:
            result = worker.run_task("bench", 0, 900_000, uuid.uuid4().hex)
            if result.outcome != "completed":
                raise RuntimeError(f"source run {result.outcome}: {result.error}")
            if result.records_produced == 0:
                break
            produced += result.records_produced
        return produced

    return run


def baseline_copy(directory: str, bootstrap: str, table: str, rows: int, batch: int) -> Callable[[], int]:
    """``runtime_copy`` of another checkout, in a child process; its measurements replace ours."""

    def run() -> int:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(directory, "layers", "connect"),
                                                           os.environ.get("PYTHONPATH", "")]))
        out = subprocess.run([sys.executable, __file__, "--child", table, "--rows", str(rows), "--batch", str(batch),
                              "--bootstrap", bootstrap], env=env, check=True, capture_output=True, text=True)
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        run.measured = tuple(measured)  # type: ignore[attr-defined]
        return int(measured[0])

    return run


def hand_copy(bootstrap: str, table: str, batch: int) -> Callable[[], int]:
    import orjson
    import psycopg
    from confluent_kafka import Producer

    def run() -> int:
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
        topic = f"bench-hand-{table}"
        n = 0
        dsn = POSTGRES_URL.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(dsn) as conn, conn.cursor(name="bench") as cur:
            cur.itersize = batch
            cur.execute(f"SELECT id, name, qty, price, created FROM {table} ORDER BY id")
            names = None
            while True:
                chunk = cur.fetchmany(batch)
                if not chunk:
                    break
                if names is None:
                    names = [d.name for d in cur.description]
                for row in chunk:
                    value = orjson.dumps(dict(zip(names, row)))
                    while True:
                        try:
                            producer.produce(topic, value)
                            break
                        except BufferError:
                            producer.poll(0.05)
                    n += 1
                producer.poll(0)
        if producer.flush(120):
            raise RuntimeError("hand-written loop: undelivered records")
        return n

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="batch.max.rows and the hand loop's fetch size")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the pipelines this many times")
    parser.add_argument("--per-record", action="store_true", help="also time the runtime's per-record path")
    parser.add_argument("--records", action="store_true", help="also time the batch path fed records, not columns")
    parser.add_argument("--baseline", metavar="DIR", help="also time the runtime of the checkout in DIR")
    parser.add_argument("--child", metavar="TABLE", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", default=None, help="an existing broker instead of the embedded one")
    parser.add_argument("--profile", action="store_true", help="cProfile the runtime side")
    args = parser.parse_args()

    if args.child:  # a --baseline child: one timed runtime copy, printed as JSON
        print(json.dumps(timed(runtime_copy(args.bootstrap, args.child, args.rows, args.batch))))
        return

    import sqlalchemy as sa

    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from lambda_connect.local.broker import EmbeddedBroker

        broker = EmbeddedBroker().start()
        bootstrap = broker.bootstrap_servers
    engine = sa.create_engine(POSTGRES_URL)
    table = f"bench_src_{uuid.uuid4().hex[:8]}"
    pipelines: dict[str, Callable[[], Callable[[], int]]] = {
        MAIN: lambda: runtime_copy(bootstrap, table, args.rows, args.batch),
    }
    if args.records:
        pipelines["runtime, batch path fed records"] = lambda: runtime_copy(bootstrap, table, args.rows, args.batch,
                                                                             columns=False)
    if args.per_record:
        pipelines["runtime, per-record path"] = lambda: runtime_copy(bootstrap, table, args.rows, args.batch, False)
    if args.baseline:
        pipelines["baseline runtime (--baseline)"] = lambda: baseline_copy(args.baseline, bootstrap, table, args.rows,
                                                                           args.batch)
    pipelines["hand-written loop"] = lambda: hand_copy(bootstrap, table, args.batch)
    best: dict[str, tuple[int, float, float, float]] = {}
    try:
        create_table(engine, table, args.rows)
        for _ in range(max(args.rounds, 1)):
            for label, make in pipelines.items():
                run = make()
                if args.profile and label == MAIN:
                    profiler = cProfile.Profile()
                    measured = timed(partial(profiler.runcall, run))
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
                else:
                    measured = timed(run)
                    measured = getattr(run, "measured", measured)  # a child's own figures
                assert measured[0] == args.rows, (label, measured[0], args.rows)
                if label not in best or measured[1] < best[label][1]:
                    best[label] = measured
        print(f"rows: {args.rows}, batch: {args.batch}, rounds: {args.rounds}, "
              f"LAMBDA_CONNECT_GC_TUNING={os.environ.get('LAMBDA_CONNECT_GC_TUNING', 'on')}")
        for label, (n, wall, cpu, thread) in best.items():
            print(f"{label:42}: {n / wall:10,.0f} records/s  {cpu * 1e6 / n:6.1f} CPU-ms/1000 records "
                  f"(main thread {thread * 1e6 / n:5.1f})")
        hand = best["hand-written loop"]
        for label, (_n, wall, _cpu, thread) in best.items():
            if label != "hand-written loop":
                print(f"ratio {label} / hand-written: {hand[1] / wall:.2f} (records/s), "
                      f"{hand[3] / thread:.2f} (main-thread CPU)")
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()
        if broker is not None:
            broker.close()


if __name__ == "__main__":
    main()
