"""Benchmark: PostgreSQL rows → Kafka through the source runtime vs a hand-written loop.

N rows (id, name, qty, price, created) are copied from a PostgreSQL table into a topic on the
embedded broker twice in the same run:

* **runtime**: ``SourceWorker.run_task`` with the JDBC source (incrementing mode,
  ``batch.max.rows`` as given), JsonConverter (schemas.enable=false), the idempotent ``acks=all``
  producer from ``aws.kafka_clients``, offsets committed in an in-memory state store — what a
  source invocation does, minus the Lambda wrapper;
* **hand-written**: a psycopg server-side cursor, ``fetchmany`` + ``orjson.dumps`` of each row as a
  dict + ``produce`` on an equally configured producer, one flush at the end.

Prints records/s of both, their ratio, and CPU-milliseconds per 1,000 records (process CPU,
librdkafka's threads included — the Lambda cost driver). ``LAMBDA_CONNECT_GC_TUNING=off`` runs the
runtime side with CPython's default garbage collection (see ``runtime/gc_tuning.py``).

    python bench/source_jdbc.py [--rows 1000000] [--batch 10000] [--bootstrap HOST:PORT] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
import uuid
from collections.abc import Callable
from typing import Any

POSTGRES_URL = os.environ.get("LAMBDA_CONNECT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def timed(fn: Callable[[], int]) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    return n, time.perf_counter() - wall, time.process_time() - cpu


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


def runtime_copy(bootstrap: str, table: str, rows: int, batch: int) -> Callable[[], int]:
    from lambda_connect.aws.kafka_clients import KafkaSettings, make_producer
    from lambda_connect.runtime.source_worker import SourceWorker
    from lambda_connect.state.memory import InMemoryStateStore

    store = InMemoryStateStore()
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    worker = SourceWorker(store, producer_factory=lambda o, t: make_producer(settings, o, transactional_id=t))
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
    parser.add_argument("--bootstrap", default=None, help="an existing broker instead of the embedded one")
    parser.add_argument("--profile", action="store_true", help="cProfile the runtime side")
    args = parser.parse_args()

    import sqlalchemy as sa

    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from lambda_connect.local.broker import EmbeddedBroker

        broker = EmbeddedBroker().start()
        bootstrap = broker.bootstrap_servers
    engine = sa.create_engine(POSTGRES_URL)
    table = f"bench_src_{uuid.uuid4().hex[:8]}"
    try:
        create_table(engine, table, args.rows)
        hand = hand_copy(bootstrap, table, args.batch)
        ours = runtime_copy(bootstrap, table, args.rows, args.batch)
        if args.profile:
            profiler = cProfile.Profile()
            n_run, wall_run, cpu_run = timed(lambda: profiler.runcall(ours))
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        else:
            n_run, wall_run, cpu_run = timed(ours)
        n_hand, wall_hand, cpu_hand = timed(hand)
        assert n_run == n_hand == args.rows, (n_run, n_hand, args.rows)
        rate_run, rate_hand = n_run / wall_run, n_hand / wall_hand
        print(f"rows: {args.rows}, batch: {args.batch}, "
              f"LAMBDA_CONNECT_GC_TUNING={os.environ.get('LAMBDA_CONNECT_GC_TUNING', 'on')}")
        print(f"runtime (SourceWorker + JDBC source): {rate_run:12,.0f} records/s  "
              f"{cpu_run * 1e6 / n_run:8.1f} CPU-ms/1000 records")
        print(f"hand-written loop                   : {rate_hand:12,.0f} records/s  "
              f"{cpu_hand * 1e6 / n_hand:8.1f} CPU-ms/1000 records")
        print(f"ratio runtime / hand-written        : {rate_run / rate_hand:.2f}")
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()
        if broker is not None:
            broker.close()


if __name__ == "__main__":
    main()
