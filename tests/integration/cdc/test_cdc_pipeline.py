"""End to end through the Lambda handlers: PostgreSQL → CDC source → Kafka → ExtractNewRecordState →
JDBC sink (upsert, deletes) → MariaDB, with updates, deletes, inserts and key changes running while the
snapshot is read. At the end both tables hold the same rows. The same the other way: MariaDB's binlog
into PostgreSQL, with changes between the ticks of a chunked snapshot.

10,000 rows by default to keep the suite fast; ``LAMBDA_CONNECT_CDC_E2E_ROWS=100000`` runs the issue's
size (measured: about 80 s on 2 cores, most of it MariaDB upserts)."""

from __future__ import annotations

import importlib.util
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.aws.kafka_event import build_kafka_event

from tests.fixtures.broker import consume_all
from tests.fixtures.throwaway_pg import ThrowawayPostgres

ROOT = Path(__file__).parents[3]
pytestmark = [pytest.mark.broker, pytest.mark.mariadb, pytest.mark.slow]
ROWS = int(__import__("os").environ.get("LAMBDA_CONNECT_CDC_E2E_ROWS", "10000"))


class Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lambda-connect"

    def __init__(self) -> None:
        self.aws_request_id = uuid.uuid4().hex

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def load(function: str, state_url: str, bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", state_url)
    monkeypatch.setenv("LAMBDA_CONNECT_BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.delenv("LAMBDA_CONNECT_CONNECTOR", raising=False)
    path = ROOT / f"functions/{function}/app.py"
    spec = importlib.util.spec_from_file_location(f"{function}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def target(mariadb_url: str) -> Iterator[tuple[Any, str]]:
    import sqlalchemy as sa

    engine = sa.create_engine(mariadb_url)
    table = "cdc_" + uuid.uuid4().hex[:8]
    yield engine, table
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{table}`")
    engine.dispose()


def test_postgres_table_replicates_into_mariadb(logical_pg: ThrowawayPostgres, kafka_broker: str, mariadb_url: str,
                                                target: tuple[Any, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    engine, dst = target
    src = "src_" + uuid.uuid4().hex[:8]
    prefix = "e2e" + uuid.uuid4().hex[:6]
    pg = logical_pg
    pg.execute(f"CREATE TABLE {src} (id int PRIMARY KEY, name text NOT NULL, amount numeric(10,2), qty int)",
               f"INSERT INTO {src} SELECT g, 'name-' || g, g * 0.25, g % 100 FROM generate_series(1, {ROWS}) g")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    source_app = load("source_task", state, kafka_broker, monkeypatch)
    json_conv = {"key.converter": "org.apache.kafka.connect.json.JsonConverter",
                 "value.converter": "org.apache.kafka.connect.json.JsonConverter"}
    source_app.handler.store.create_connector("pg-cdc", {
        "name": "pg-cdc", "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": "127.0.0.1", "database.port": str(pg.port), "database.user": "postgres",
        "database.dbname": "postgres", "topic.prefix": prefix, "table.include.list": f"public\\.{src}",
        "slot.name": f"s_{src}", "publication.name": f"p_{src}", "publication.autocreate.mode": "filtered",
        "snapshot.fetch.size": "4000", "topic.creation.default.partitions": "1",
        "topic.creation.default.replication.factor": "1", **json_conv})

    stop = threading.Event()

    def writer() -> None:  # updates, deletes and inserts while the snapshot runs
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            n = 0
            while not stop.is_set() and n < 400:
                n += 1
                conn.execute(f"UPDATE {src} SET name = 'changed-{n}', qty = qty + 1 WHERE id = %s", (n * 211,))
                conn.execute(f"DELETE FROM {src} WHERE id = %s", (n * 239 + 1,))
                conn.execute(f"INSERT INTO {src} VALUES (%s, 'new', 1.5, 1) ON CONFLICT DO NOTHING", (ROWS + n,))
                conn.execute(f"UPDATE {src} SET id = %s WHERE id = %s", (ROWS * 2 + n, n * 97 + 3))  # key change

    produced = 0
    try:
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            for _ in range(30):
                result = source_app.lambda_handler({"connector": "pg-cdc", "task": 0}, Context())
                assert result["outcome"] == "completed", result
                produced += result["records_produced"]
                if result["records_produced"] == 0 and not thread.is_alive():
                    break
        finally:
            stop.set()
            thread.join()
        result = source_app.lambda_handler({"connector": "pg-cdc", "task": 0}, Context())
        produced += result["records_produced"]
        assert produced >= ROWS

        topic = f"{prefix}.public.{src}"
        messages = consume_all(kafka_broker, topic, produced, timeout=120)
        sink_app = load("sink_task", state, kafka_broker, monkeypatch)
        sink_app.handler.store.create_connector("to-maria", {
            "name": "to-maria", "topics": topic, "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "connection.url": mariadb_url, "insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": "true",
            "auto.create": "true", "table.name.format": dst, "transforms": "unwrap",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState", **json_conv})
        for start in range(0, len(messages), 5000):
            batch = messages[start:start + 5000]
            event = build_kafka_event([(m.topic(), m.partition(), m.offset(), m.timestamp()[1], "CREATE_TIME", m.key(),
                                        m.value(), []) for m in batch], bootstrap_servers=kafka_broker)
            sink_app.lambda_handler({**event, "connector": "to-maria"}, Context())

        import psycopg

        with psycopg.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres") as conn:
            expected = [tuple(r) for r in conn.execute(f"SELECT id, name, amount, qty FROM {src} ORDER BY id")]
        with engine.connect() as conn:
            got = [tuple(r) for r in conn.exec_driver_sql(f"SELECT id, name, amount, qty FROM `{dst}` ORDER BY id")]
        assert len(got) == len(expected) and got == expected
    finally:
        pg.execute(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 's_{src}'",
                   f"DROP PUBLICATION IF EXISTS p_{src}", f"DROP TABLE IF EXISTS {src}")


@pytest.fixture
def pg_target(postgres_url: str) -> Iterator[tuple[Any, str]]:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    table = "cdc_" + uuid.uuid4().hex[:8]
    yield engine, table
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
    engine.dispose()


def test_mariadb_table_replicates_into_postgres(binlog_mariadb: Any, kafka_broker: str, postgres_url: str,
                                                pg_target: tuple[Any, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    engine, dst = pg_target
    maria = binlog_mariadb
    db = "m" + uuid.uuid4().hex[:8]
    rows = max(ROWS // 2, 1000)
    maria.execute(f"CREATE DATABASE {db}",
                  f"CREATE TABLE {db}.src (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, amount DECIMAL(10,2), "
                  "qty INT)",
                  f"INSERT INTO {db}.src SELECT seq, CONCAT('name-', seq), seq * 0.25, seq % 100 "
                  f"FROM {db}.seq_1_to_{rows}")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    source_app = load("source_task", state, kafka_broker, monkeypatch)
    json_conv = {"key.converter": "org.apache.kafka.connect.json.JsonConverter",
                 "value.converter": "org.apache.kafka.connect.json.JsonConverter"}
    prefix = "m2p" + uuid.uuid4().hex[:6]
    source_app.handler.store.create_connector("maria-cdc", {
        "name": "maria-cdc", "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
        "database.hostname": "127.0.0.1", "database.port": str(maria.port), "database.user": "root",
        "database.include.list": db, "topic.prefix": prefix, "snapshot.fetch.size": "2000",
        "topic.creation.default.partitions": "1", "topic.creation.default.replication.factor": "1", **json_conv})
    produced = 0
    try:
        for tick in range(40):
            result = source_app.lambda_handler({"connector": "maria-cdc", "task": 0}, Context())
            assert result["outcome"] == "completed", result
            produced += result["records_produced"]
            if tick < 5:  # changes between the ticks of the snapshot and after it
                n = tick + 1
                maria.execute(f"UPDATE {db}.src SET name = 'changed-{n}', qty = qty + 1 WHERE id = {n * 13}",
                              f"DELETE FROM {db}.src WHERE id = {n * 17 + 1}",
                              f"INSERT INTO {db}.src VALUES ({rows + n}, 'new', 1.5, 1)",
                              f"UPDATE {db}.src SET id = {rows * 2 + n} WHERE id = {n * 29 + 3}")
            elif result["records_produced"] == 0:
                break
        topic = f"{prefix}.{db}.src"
        messages = consume_all(kafka_broker, topic, produced, timeout=120)
        sink_app = load("sink_task", state, kafka_broker, monkeypatch)
        sink_app.handler.store.create_connector("to-pg", {
            "name": "to-pg", "topics": topic, "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "connection.url": postgres_url, "insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": "true",
            "auto.create": "true", "table.name.format": dst, "transforms": "unwrap",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState", **json_conv})
        for start in range(0, len(messages), 5000):
            batch = messages[start:start + 5000]
            event = build_kafka_event([(m.topic(), m.partition(), m.offset(), m.timestamp()[1], "CREATE_TIME", m.key(),
                                        m.value(), []) for m in batch], bootstrap_servers=kafka_broker)
            sink_app.lambda_handler({**event, "connector": "to-pg"}, Context())
        expected = [tuple(r) for r in maria.execute(f"SELECT id, name, amount, qty FROM {db}.src ORDER BY id")]
        with engine.connect() as conn:
            got = [tuple(r) for r in conn.exec_driver_sql(f'SELECT id, name, amount, qty FROM "{dst}" ORDER BY id')]
        assert len(got) == len(expected) and got == expected
    finally:
        maria.execute(f"DROP DATABASE IF EXISTS {db}")
