"""End to end through ``functions/source_task/app.py`` against the embedded broker: JDBC (PostgreSQL),
file and datagen sources. Records arrive once and in order per source partition; overlapping
invocations produce no duplicates (the lease lets only one run; exactly-once mode also fences at the
broker); an invocation killed between produce and commit re-sends only what was not committed; a
broker outage leaves offsets untouched.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.fixtures.broker import consume_all

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.broker]


class Context:
    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.aws_request_id = uuid.uuid4().hex
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


class Killed(BaseException):
    """Stands for the Lambda sandbox dying: nothing after it runs, not even ``except Exception``."""


def load_app(tmp_path: Path, bootstrap: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", f"sqlite:///{tmp_path / f'state-{uuid.uuid4().hex[:6]}.db'}")
    monkeypatch.setenv("LAMBDA_CONNECT_BOOTSTRAP_SERVERS", bootstrap)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location(f"source_app_{uuid.uuid4().hex}",
                                                  ROOT / "functions/source_task/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trigger(name: str, task: int = 0) -> dict[str, Any]:
    return {"connector": name, "task": task}


def file_connector(app: ModuleType, tmp_path: Path, topic: str, lines: list[str], **extra: str) -> Path:
    source = tmp_path / f"{topic}.txt"
    source.write_text("".join(line + "\n" for line in lines))
    app.handler.store.create_connector("files", {
        "name": "files", "connector.class": "FileStreamSource", "file": str(source), "topic": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter", **extra,
    })
    return source


def drain(app: ModuleType, name: str, task: int = 0) -> int:
    """Schedule ticks until one finds nothing new (a JDBC poll may end an invocation early when a
    table's last read came back empty); returns the records produced."""
    total = 0
    for _ in range(10):
        result = app.lambda_handler(trigger(name, task), Context())
        assert result["outcome"] == "completed", result
        if result["records_produced"] == 0:
            return total
        total += result["records_produced"]
    raise AssertionError(f"{name} never ran dry")


# --- JDBC: two tables, two source partitions, one task each -----------------------------------------------------
@pytest.mark.postgres
def test_jdbc_rows_arrive_once_and_in_order_per_table(tmp_path, kafka_broker, postgres_url, monkeypatch):
    import sqlalchemy as sa

    app = load_app(tmp_path, kafka_broker, monkeypatch)
    uid = uuid.uuid4().hex[:8]
    tables = [f"src_a_{uid}", f"src_b_{uid}"]
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            for t in tables:
                conn.exec_driver_sql(f"CREATE TABLE {t} (id SERIAL PRIMARY KEY, name TEXT NOT NULL)")
                conn.exec_driver_sql(f"INSERT INTO {t} (name) SELECT 'row-' || g FROM generate_series(1, 40) g")
        prefix = f"pg-{uid}-"
        app.handler.store.create_connector("pg", {
            "name": "pg", "connector.class": "JdbcSourceConnector", "connection.url": postgres_url,
            "mode": "incrementing", "table.whitelist": ",".join(tables), "topic.prefix": prefix,
            "poll.interval.ms": "0", "batch.max.rows": "7", "tasks.max": "2",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "1",
        })
        assert drain(app, "pg", 0) + drain(app, "pg", 1) == 80
        assert [c["tables"].rsplit(".", 1)[-1] for c in app.handler.store.get_task_configs("pg").configs] == tables
        with engine.begin() as conn:
            for t in tables:
                conn.exec_driver_sql(f"INSERT INTO {t} (name) SELECT 'row-' || g FROM generate_series(41, 50) g")
        assert drain(app, "pg", 0) + drain(app, "pg", 1) == 20
        for t in tables:
            ids = [json.loads(m.value())["id"] for m in consume_all(kafka_broker, prefix + t, 50)]
            assert ids == list(range(1, 51))
        committed = {p["table"].rsplit(".", 1)[-1]: o for p, o in app.handler.store.get_offsets("pg")}
        assert committed == {t: {"incrementing": 50} for t in tables}
    finally:
        with engine.begin() as conn:
            for t in tables:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {t}")
        engine.dispose()


# --- overlapping invocations ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["at-least-once", "exactly-once"])
def test_overlapping_invocations_produce_no_duplicates(tmp_path, kafka_broker, kafka_topic, monkeypatch, mode):
    env = {"LAMBDA_CONNECT_EXACTLY_ONCE_SOURCE_SUPPORT": "enabled"} if mode == "exactly-once" else {}
    app = load_app(tmp_path, kafka_broker, monkeypatch, **env)
    topic = kafka_topic()
    app.handler.store.create_connector("orders", {
        "name": "orders", "connector.class": "DatagenConnector", "quickstart": "orders", "kafka.topic": topic,
        "iterations": "2000", "max.interval": "0", "random.seed": "7",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    })
    barrier = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def invoke() -> None:
        barrier.wait()
        results.append(app.lambda_handler(trigger("orders"), Context()))

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    results.append(app.lambda_handler(trigger("orders"), Context()))  # a later tick finds nothing new
    assert sum(r["records_produced"] for r in results) == 2000
    assert all(r["outcome"] in ("completed", "lease_held") for r in results)
    assert all(r["exactly_once"] is (mode == "exactly-once") for r in results if r["outcome"] == "completed")
    ids = [json.loads(m.value())["orderid"] for m in consume_all(kafka_broker, topic, 2000)]
    assert ids == list(range(2000))


# --- crash between produce and commit ------------------------------------------------------------
def test_killed_invocation_resends_only_what_was_not_committed(tmp_path, kafka_broker, kafka_topic, monkeypatch):
    app = load_app(tmp_path, kafka_broker, monkeypatch)
    topic = kafka_topic()
    lines = [f"line-{n:03d}" for n in range(200)]
    file_connector(app, tmp_path, topic, lines, **{"batch.size": "10"})
    store, worker = app.handler.store, app.handler.worker
    real_commit, real_release = store.commit_offsets, store.release_lease
    end = len(lines) * len("line-000\n")

    def commit_then_die(name: str, offsets: Any, **kwargs: Any) -> bool:
        offsets = list(offsets)
        if any(o["position"] == end for _, o in offsets):  # everything confirmed: die before committing it
            raise Killed()
        return real_commit(name, offsets, **kwargs)

    def die(*args: Any, **kwargs: Any) -> bool:
        raise Killed()

    monkeypatch.setattr(store, "commit_offsets", commit_then_die)
    monkeypatch.setattr(store, "release_lease", die)
    worker.commit_interval_s = 0.0  # commit after every poll, so some commits precede the kill
    worker.lease_margin_s = 0.0
    with pytest.raises(Killed):
        app.lambda_handler(trigger("files"), Context(remaining_ms=5_000 + 2_000))
    stored = store.get_offsets("files")
    committed_lines = stored[0][1]["position"] // len("line-000\n") if stored else 0
    assert committed_lines < 200

    monkeypatch.setattr(store, "commit_offsets", real_commit)
    monkeypatch.setattr(store, "release_lease", real_release)
    held = app.lambda_handler(trigger("files"), Context())
    assert held["outcome"] == "lease_held"  # the dead invocation's lease is still live
    time.sleep(2.2)  # ... until its TTL (budget + margin) runs out
    second = app.lambda_handler(trigger("files"), Context())
    assert second["outcome"] == "completed" and second["records_produced"] == 200 - committed_lines

    produced = [m.value().decode() for m in consume_all(kafka_broker, topic, 200, timeout=30)]
    tail = produced[len(produced) - second["records_produced"]:]
    head = produced[: len(produced) - second["records_produced"]]
    assert tail == lines[committed_lines:]
    assert head == lines[: len(head)] and len(head) >= committed_lines  # run 1 sent at least what it committed
    resent = len(head) - committed_lines
    assert set(produced[committed_lines:len(head)]) <= set(lines[committed_lines:]), "only uncommitted re-sent"
    assert resent == len(produced) - 200


# --- broker outage -------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broker_outage_leaves_offsets_untouched(tmp_path, monkeypatch):
    app = load_app(tmp_path, f"127.0.0.1:{_closed_port()}", monkeypatch)
    file_connector(app, tmp_path, "unreachable", ["a", "b"], **{"producer.override.message.timeout.ms": "1500"})
    result = app.lambda_handler(trigger("files"), Context(remaining_ms=20_000))
    assert result["outcome"] == "failed" and result["records_produced"] == 0
    assert app.handler.store.get_offsets("files") == []
    status = app.handler.store.get_task_statuses("files")[0]
    assert status.state == "FAILED" and "KAFKA_PRODUCE" in status.trace
