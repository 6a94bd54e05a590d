"""Benchmark: PostgreSQL changes → Kafka through the source runtime and the CDC source, against a
hand-written loop over the same kind of slot.

A private cluster (``wal_level=logical``, started like ``lambda-connect demo cdc`` does) gets two
slots, then N inserts (in transactions of 100,000) and M updates. Both sides read every change
from their own slot and produce one JSON value per change into the embedded broker:

* **runtime**: ``SourceWorker.run_task`` ticks with ``PostgresConnector`` (``snapshot.mode=no_data``,
  JsonConverter with ``schemas.enable=false`` for key and value), offsets in an in-memory store,
  the slot confirmed after Kafka acknowledged;
* **hand-written**: one server-side cursor over ``pg_logical_slot_peek_binary_changes``, the same
  pgoutput decoder, a dict envelope (before/after/source/op/ts_ms) serialized with ``orjson`` and
  produced on an equally configured producer, one flush, then one slot advance.

Prints changes/s, CPU-ms per 1,000 changes (process CPU, librdkafka's threads included), the
ratio, and each slot's lag after its run (the runtime side ends with one idle tick, which confirms
its slot up to where it read).

``--baseline DIR`` also runs the runtime side with the ``lambda_connect`` package under ``DIR``
(say an older checkout's ``layers/connect``) on a third slot, in a subprocess, in the same run:
before/after figures against the same hand loop.

    python bench/source_cdc.py [--inserts 1000000] [--updates 100000] [--profile] [--phases] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def timed(fn: Callable[[], int]) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    return n, time.perf_counter() - wall, time.process_time() - cpu


PHASES = {"poll": 0.0, "serialize": 0.0}


def time_phases() -> None:
    """Add each call's main-thread CPU of ``PostgresTask.poll`` and ``BatchSerializer.serialize`` to PHASES."""
    from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresTask
    from lambda_connect.runtime.source_batch import BatchSerializer

    for cls, name, phase in ((PostgresTask, "poll", "poll"), (BatchSerializer, "serialize", "serialize")):
        inner = getattr(cls, name)

        def timed_call(*args: Any, _inner: Any = inner, _phase: str = phase, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return _inner(*args, **kwargs)
            finally:
                PHASES[_phase] += time.thread_time() - start

        setattr(cls, name, timed_call)


def lag(cluster: Any, slot: str) -> int:
    with cluster.connect() as conn:
        return int(conn.execute("SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                                "WHERE slot_name = %s", (slot,)).fetchone()[0])


def runtime_copy(bootstrap: str, port: int, slot: str = "bench_run", prefix: str = "bench") -> Callable[[], int]:
    from lambda_connect.aws.kafka_clients import KafkaSettings, make_producer
    from lambda_connect.runtime.source_worker import SourceWorker
    from lambda_connect.state.memory import InMemoryStateStore

    store = InMemoryStateStore()
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    worker = SourceWorker(store, producer_factory=lambda o, t: make_producer(settings, o, transactional_id=t))
    store.create_connector("bench", {
        "name": "bench", "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": "127.0.0.1", "database.port": str(port), "database.user": "postgres",
        "database.dbname": "postgres", "topic.prefix": prefix, "slot.name": slot,
        "publication.name": "bench_pub", "publication.autocreate.mode": "disabled", "snapshot.mode": "no_data",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter", "key.converter.schemas.enable": "false",
    })

    def run() -> int:
        produced = 0
        while True:  # until a tick finds nothing: that idle tick also confirms the slot to the WAL's end
            result = worker.run_task("bench", 0, 900_000, uuid.uuid4().hex)
            if result.outcome != "completed":
                raise RuntimeError(f"source run {result.outcome}: {result.error}")
            if result.records_produced == 0:
                break
            produced += result.records_produced
        return produced

    return run


def hand_copy(bootstrap: str, port: int) -> Callable[[], int]:
    import orjson
    import psycopg
    from confluent_kafka import Producer
    from lambda_connect.plugins.connectors.cdc.postgres import pgoutput

    def run() -> int:
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
        n = 0
        relations: dict[int, list[str]] = {}
        end = None
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres") as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            with conn.cursor(name="hand") as cur:
                cur.itersize = 10_000
                cur.execute("SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes('bench_hand', %s, NULL, "
                            "'proto_version', '1', 'publication_names', 'bench_pub')", (target,))
                tx = None
                while True:
                    rows = cur.fetchmany(10_000)
                    if not rows:
                        break
                    for lsn, data in rows:
                        msg = pgoutput.decode(data)
                        kind = type(msg)
                        if kind is pgoutput.Relation:
                            relations[msg.oid] = [c.name for c in msg.columns]
                            continue
                        if kind is pgoutput.Begin:
                            tx = msg
                            continue
                        if kind is pgoutput.Commit:
                            end = lsn
                            continue
                        if kind is pgoutput.Insert:
                            op, before, after = "c", None, dict(zip(relations[msg.relation], msg.new))
                        elif kind is pgoutput.Update:
                            op, before, after = "u", None, dict(zip(relations[msg.relation], msg.new))
                        else:
                            continue
                        value = orjson.dumps({"before": before, "after": after,
                                              "source": {"lsn": lsn, "txId": tx.xid, "ts_ms": tx.commit_ts_us // 1000},
                                              "op": op, "ts_ms": time.time_ns() // 1_000_000})
                        while True:
                            try:
                                producer.produce("bench-hand", value, orjson.dumps({"id": after["id"]}))
                                break
                            except BufferError:
                                producer.poll(0.05)
                        n += 1
                    producer.poll(0)
            if producer.flush(120):
                raise RuntimeError("hand-written loop: undelivered records")
            conn.commit()
            if end is not None:
                conn.execute("SELECT pg_replication_slot_advance('bench_hand', %s)", (end,))
            conn.commit()
        return n

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inserts", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--bootstrap", default=None, help="an existing broker instead of the embedded one")
    parser.add_argument("--profile", action="store_true", help="cProfile the runtime side")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="also run the runtime side with the lambda_connect package under this directory")
    parser.add_argument("--phases", action="store_true",
                        help="print the runtime side's main-thread CPU in the connector's poll and in the converters")
    parser.add_argument("--runtime-only", nargs=2, metavar=("PORT", "SLOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases:
        time_phases()
    if args.runtime_only:  # the --baseline subprocess: one runtime side, its figures as JSON
        n, wall, cpu = timed(runtime_copy(args.bootstrap, int(args.runtime_only[0]), args.runtime_only[1], "base"))
        print(json.dumps({"n": n, "wall": wall, "cpu": cpu}))
        return

    from lambda_connect.cli.demo_cdc import _Cluster, _pg_bin
    from lambda_connect.local.broker import EmbeddedBroker

    bin_dir = _pg_bin()
    if bin_dir is None:
        raise SystemExit("needs the PostgreSQL server binaries (initdb, pg_ctl)")
    root = Path(tempfile.mkdtemp(prefix="lc-bench-cdc-"))
    cluster = _Cluster(bin_dir, root)
    broker = None
    try:
        cluster.start()
        bootstrap = args.bootstrap
        if bootstrap is None:
            broker = EmbeddedBroker().start()
            bootstrap = broker.bootstrap_servers
        with cluster.connect() as conn:
            conn.execute("CREATE TABLE bench (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL, "
                         "price numeric(10,2) NOT NULL, created timestamptz NOT NULL)")
            conn.execute("CREATE PUBLICATION bench_pub FOR TABLE bench")
            for slot in ("bench_run", "bench_hand", "bench_base"):
                conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
            for start in range(0, args.inserts, 100_000):
                stop = min(start + 100_000, args.inserts)
                conn.execute("INSERT INTO bench SELECT g, 'customer-' || g, g % 100, g * 0.25, "
                             f"TIMESTAMPTZ '2025-01-01 00:00:00+00' + g * INTERVAL '1 second' "
                             f"FROM generate_series({start + 1}, {stop}) g")
            conn.execute(f"UPDATE bench SET qty = qty + 1 WHERE id <= {args.updates}")
        expected = args.inserts + args.updates
        ours = runtime_copy(bootstrap, cluster.port)
        hand = hand_copy(bootstrap, cluster.port)
        thread_run = time.thread_time()
        if args.profile:
            profiler = cProfile.Profile()
            n_run, wall_run, cpu_run = timed(lambda: profiler.runcall(ours))
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        else:
            n_run, wall_run, cpu_run = timed(ours)
        thread_run = time.thread_time() - thread_run
        lag_run = lag(cluster, "bench_run")
        base = None
        if args.baseline is not None:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(args.baseline.resolve()),
                                                                             os.environ.get("PYTHONPATH")])))
            done = subprocess.run([sys.executable, __file__, "--bootstrap", bootstrap, "--runtime-only",
                                   str(cluster.port), "bench_base"], env=env, check=True, capture_output=True,
                                  text=True)
            base = json.loads(done.stdout.strip().splitlines()[-1])
        n_hand, wall_hand, cpu_hand = timed(hand)
        lag_hand = lag(cluster, "bench_hand")
        assert n_run == n_hand == expected, (n_run, n_hand, expected)
        rate_run, rate_hand = n_run / wall_run, n_hand / wall_hand
        print(f"changes: {expected} ({args.inserts} inserts, {args.updates} updates)")
        print(f"runtime (SourceWorker + PostgresConnector): {rate_run:10,.0f} changes/s  "
              f"{cpu_run * 1e6 / n_run:7.1f} CPU-ms/1000  slot lag after: {lag_run} bytes")
        print(f"hand-written loop                         : {rate_hand:10,.0f} changes/s  "
              f"{cpu_hand * 1e6 / n_hand:7.1f} CPU-ms/1000  slot lag after: {lag_hand} bytes")
        print(f"ratio runtime / hand-written              : {rate_run / rate_hand:.2f}")
        if args.phases:
            poll, ser = PHASES["poll"], PHASES["serialize"]
            print(f"runtime main thread, µs per change: poll {poll * 1e6 / n_run:.1f}, converters "
                  f"{ser * 1e6 / n_run:.1f}, rest {(thread_run - poll - ser) * 1e6 / n_run:.1f}")
        if base is not None:
            assert base["n"] == expected, (base["n"], expected)
            rate_base = base["n"] / base["wall"]
            print(f"baseline runtime ({args.baseline})         : {rate_base:10,.0f} changes/s  "
                  f"{base['cpu'] * 1e6 / base['n']:7.1f} CPU-ms/1000")
            print(f"ratio baseline / hand-written             : {rate_base / rate_hand:.2f}")
    finally:
        if broker is not None:
            broker.close()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
