"""JDBC sink benchmark: one 10,000-record Kafka event through the sink Lambda handler into a database.

Compared in the same run with
  (a) a hand-written handler: base64 + orjson decode, the same three edits in plain Python,
      the driver's ``executemany`` upsert — what one would write without a framework;
  (b) the floor: the fastest plain load of the already-decoded rows (PostgreSQL ``COPY``,
      MariaDB multi-row ``INSERT`` through PyMySQL's ``executemany``, SQLite ``executemany``).

The lambda-connect side is the real thing: ``SinkHandler`` (as ``functions/sink_task/app.py``
builds it) with JsonConverter (schemas off) → InsertField$Value → ReplaceField$Value →
Cast$Value → JdbcSinkConnector (upsert, pk.mode=record_value, offsets table in the same
transaction). The pipeline is warmed by one untimed invocation (a warm Lambda container);
each timed invocation carries new offsets so nothing is skipped as a duplicate. Topic
identities (issue 11) come from a fixed stand-in for the cluster's answer, as a reachable
cluster would give them once per container: the bench runs no broker, and a client retrying
an absent one would add its own CPU to the process.

    .venv/bin/python bench/sink_jdbc.py [--db postgresql|mariadb|sqlite] [--records 10000] [--runs 3] [--profile]

PostgreSQL at $LAMBDA_CONNECT_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432/test), MariaDB
at $LAMBDA_CONNECT_TEST_MARIADB_URL (default root@127.0.0.1:3306/test), SQLite in a temporary file.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import io
import os
import pstats
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

PG_URL = os.environ.get("LAMBDA_CONNECT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("LAMBDA_CONNECT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
OFFSETS_TABLE = "__lambda_connect_sink_offsets"
COLUMNS = ("id", "customer", "contact_email", "amount", "currency", "status", "ts", "source")


class Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-sink"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def make_values(n: int) -> list[bytes]:
    """~150-byte JSON order records."""
    return [
        orjson.dumps({"id": i, "customer": f"customer-{i:06d}", "email": f"c{i:06d}@example.com",
                      "amount": f"{(i * 37) % 100000 / 100:.2f}", "currency": "EUR", "status": "PLACED",
                      "ts": 1_700_000_000_000 + i})
        for i in range(n)
    ]


def make_event(topic: str, values: list[bytes], first_offset: int) -> dict[str, Any]:
    from lambda_connect.aws.kafka_event import build_kafka_event

    return build_kafka_event(
        [(topic, 0, first_offset + i, 1_700_000_000_000, "CREATE_TIME", None, v, []) for i, v in enumerate(values)]
    )


class Events:
    """Events with ever-new offsets, each built just before the call that takes it is timed.

    Lambda hands the handler an already-parsed event, so building one is no part of either
    handler's cost; and only one event is alive at a time, as in a Lambda container (a heap
    holding many prebuilt events would make every garbage collection walk them too).
    """

    def __init__(self, topic: str, values: list[bytes]) -> None:
        self.topic = topic
        self.values = values
        self.sent = 0
        self._next: dict[str, Any] | None = None

    def prepare(self) -> None:
        if self._next is None:
            self._next = make_event(self.topic, self.values, self.sent * len(self.values))
            self.sent += 1

    def take(self) -> dict[str, Any]:
        self.prepare()
        event, self._next = self._next, None
        return event  # type: ignore[return-value]


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one call (its ``prepare`` runs untimed first)."""
    prepare = getattr(fn, "prepare", None)
    if prepare is not None:
        prepare()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


class Db:
    """One benchmark database: how to reach it from the sink and from a hand-written loop."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        if kind == "postgresql":
            self.url = PG_URL
        elif kind == "mariadb":
            self.url = MARIADB_URL
        else:
            self._dir = tempfile.TemporaryDirectory(prefix="bench-sink-jdbc-")
            self.url = f"jdbc:sqlite:{self._dir.name}/bench.db"
        self.placeholder = "?" if kind == "sqlite" else "%s"

    def connect(self) -> Any:
        if self.kind == "postgresql":
            import psycopg

            return psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))
        if self.kind == "mariadb":
            import pymysql
            from sqlalchemy.engine import make_url

            u = make_url(self.url)
            return pymysql.connect(host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
                                   password=u.password or "", database=u.database or "test")
        return sqlite3.connect(self.url.removeprefix("jdbc:sqlite:"))

    def upsert_sql(self, table: str) -> str:
        cols = ", ".join(COLUMNS)
        params = ", ".join([self.placeholder] * len(COLUMNS))
        if self.kind == "mariadb":
            updates = ", ".join(f"{c} = VALUES({c})" for c in COLUMNS if c != "id")
            return f"INSERT INTO {table} ({cols}) VALUES ({params}) ON DUPLICATE KEY UPDATE {updates}"
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "id")
        return f"INSERT INTO {table} ({cols}) VALUES ({params}) ON CONFLICT (id) DO UPDATE SET {updates}"

    def create_plain_table(self, conn: Any, table: str) -> None:
        text = "TEXT" if self.kind != "mariadb" else "VARCHAR(255)"
        double = "DOUBLE PRECISION" if self.kind != "sqlite" else "REAL"
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, customer {text}, contact_email {text}, "
                    f"amount {double}, currency {text}, status {text}, ts BIGINT, source {text})")
        conn.commit()

    def cleanup(self, conn: Any, tables: list[str], topic: str) -> None:
        cur = conn.cursor()
        for table in tables:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        try:
            cur.execute(f"DELETE FROM {OFFSETS_TABLE} WHERE connector = 'bench' AND topic = {self.placeholder}",
                        (topic,))
        except Exception:  # no offsets table: the sink never wrote
            conn.rollback()
        conn.commit()
        conn.close()
        if self._dir is not None:
            self._dir.cleanup()


def _fixed_identities() -> None:
    """Topic identities as a reachable cluster answers them (see the module docstring)."""
    import lambda_connect.aws.sink_handler as sink_handler
    from lambda_connect.runtime.topic_identity import CachedTopicIdentities

    class FixedIdentities(CachedTopicIdentities):
        def _lookup(self, topic: str) -> str | None:
            return f"bench-cluster/{topic}"

    init = sink_handler.KafkaDlqTransport.__init__

    def patched(self: Any, settings: Any) -> None:
        init(self, settings)
        self.identities = FixedIdentities()

    sink_handler.KafkaDlqTransport.__init__ = patched  # type: ignore[method-assign]


# --- lambda-connect ---------------------------------------------------------------------------
def lambda_connect_runner(url: str, table: str, topic: str, values: list[bytes]) -> Callable[[], None]:
    from lambda_connect.aws.sink_handler import SinkHandler
    from lambda_connect.state.memory import InMemoryStateStore

    _fixed_identities()
    store = InMemoryStateStore()
    store.create_connector("bench", {
        "name": "bench", "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": topic,
        "connection.url": url, "table.name.format": table, "auto.create": "true",
        "insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        "transforms": "source,rename,cast",
        "transforms.source.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.source.static.field": "source", "transforms.source.static.value": "lambda",
        "transforms.rename.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
        "transforms.rename.renames": "email:contact_email",
        "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value",
        "transforms.cast.spec": "amount:float64",
    })
    handler = SinkHandler(store, env={"LAMBDA_CONNECT_CONNECTOR": "bench"})
    events = Events(topic, values)

    def run() -> None:
        event = events.take()
        with contextlib.redirect_stdout(io.StringIO()):  # EMF metrics line
            response = handler(event, Context())
        assert response == {"batchItemFailures": []}

    run.prepare = events.prepare  # type: ignore[attr-defined]
    return run


SINK_CPU: list[float] = []  # CPU seconds inside JdbcSinkTask.put + flush, one entry per invocation


def _time_the_sink() -> None:
    """Note the CPU the JDBC plugin itself spends (put + flush) in every invocation."""
    from lambda_connect.plugins.connectors.jdbc.sink import JdbcSinkTask

    put, flush = JdbcSinkTask.put, JdbcSinkTask.flush

    def timed_put(self: Any, records: Any) -> None:
        cpu = time.process_time()
        put(self, records)
        SINK_CPU.append(time.process_time() - cpu)

    def timed_flush(self: Any, offsets: Any) -> None:
        cpu = time.process_time()
        flush(self, offsets)
        SINK_CPU[-1] += time.process_time() - cpu

    JdbcSinkTask.put, JdbcSinkTask.flush = timed_put, timed_flush  # type: ignore[method-assign]


# --- (a) hand-written handler ---------------------------------------------------------------------
def hand_written_runner(db: Db, conn: Any, table: str, topic: str, values: list[bytes]) -> Callable[[], None]:
    sql = db.upsert_sql(table)
    events = Events(topic, values)

    def run() -> None:
        event = events.take()
        rows = []
        for records in event["records"].values():
            for r in records:
                d = orjson.loads(base64.b64decode(r["value"]))
                d["source"] = "lambda"
                d["contact_email"] = d.pop("email")
                d["amount"] = float(d["amount"])
                rows.append(tuple(d[c] for c in COLUMNS))
        cur = conn.cursor()
        cur.executemany(sql, rows)
        conn.commit()

    run.prepare = events.prepare  # type: ignore[attr-defined]
    return run


# --- (b) the floor: the plainest bulk load of decoded rows --------------------------------------------
def floor_runner(db: Db, conn: Any, table: str, values: list[bytes]) -> Callable[[], None]:
    rows = []
    for v in values:
        d = orjson.loads(v)
        rows.append((d["id"], d["customer"], d["email"], float(d["amount"]), d["currency"], d["status"], d["ts"],
                     "lambda"))
    cols = ", ".join(COLUMNS)

    def run() -> None:
        cur = conn.cursor()
        cur.execute(f"DELETE FROM {table}" if db.kind == "sqlite" else f"TRUNCATE {table}")
        if db.kind == "postgresql":
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join([db.placeholder] * len(COLUMNS))})",
                            rows)
        conn.commit()

    return run


FLOORS = {"postgresql": "floor: COPY of decoded rows", "mariadb": "floor: multi-row INSERT",
          "sqlite": "floor: executemany INSERT"}


def interleaved(runners: dict[str, Callable[[], None]], runs: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) of every round per pipeline, taking turns so that background load and
    table bloat on this shared machine hit every pipeline alike."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    for _ in range(runs):
        for name, fn in runners.items():
            results[name].append(timed(fn))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("postgresql", "mariadb", "sqlite"), default="postgresql")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one lambda-connect invocation")
    args = parser.parse_args()

    db = Db(args.db)
    suffix = uuid.uuid4().hex[:8]
    lc_table, hw_table, floor_table = f"bench_lc_{suffix}", f"bench_hw_{suffix}", f"bench_floor_{suffix}"
    topic = f"bench-{suffix}"
    values = make_values(args.records)
    print(f"{args.db}: {args.records} records, mean value size {sum(map(len, values)) / len(values):.0f} bytes")
    conn = db.connect()
    floor_name = FLOORS[args.db]
    try:
        db.create_plain_table(conn, hw_table)
        db.create_plain_table(conn, floor_table)
        lc = lambda_connect_runner(db.url, lc_table, topic, values)
        hw = hand_written_runner(db, conn, hw_table, topic, values)
        floor = floor_runner(db, conn, floor_table, values)
        _time_the_sink()
        for warm in (lc, hw, floor):
            warm()
        SINK_CPU.clear()
        results = interleaved({"lambda-connect handler": lc, "hand-written handler": hw, floor_name: floor},
                              args.runs)
        if args.profile:
            lc.prepare()  # type: ignore[attr-defined]
            profiler = cProfile.Profile()
            profiler.runcall(lc)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    finally:
        db.cleanup(conn, [lc_table, hw_table, floor_table], topic)

    n = args.records
    print(f"\n{'pipeline':32} {'records/s (best)':>17} {'CPU ms/1k rec: best':>20} {'median':>7}")
    for name, times in results.items():
        cpus = [cpu for _, cpu in times]
        print(f"{name:32} {n / min(w for w, _ in times):17,.0f} {min(cpus) * 1000 / (n / 1000):20.2f} "
              f"{statistics.median(cpus) * 1000 / (n / 1000):7.2f}")
    sink = SINK_CPU[: args.runs]
    print(f"{'  of which JDBC put + flush':32} {'':17} {min(sink) * 1000 / (n / 1000):20.2f} "
          f"{statistics.median(sink) * 1000 / (n / 1000):7.2f}")
    best = {name: min(w for w, _ in times) for name, times in results.items()}
    lc_rate = n / best["lambda-connect handler"]
    print(f"\nratio vs hand-written: {lc_rate / (n / best['hand-written handler']):.2f} (target >= 1.0)")
    print(f"ratio vs {floor_name[7:]}:   {lc_rate / (n / best[floor_name]):.2f}")


if __name__ == "__main__":
    main()
