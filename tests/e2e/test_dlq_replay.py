"""Issue 16 end to end on ``lambda-connect up``: a JDBC sink into PostgreSQL whose trigger rejects
some rows, ``errors.tolerance=all`` with a DLQ; the rejected records land in the DLQ with their
context, the trigger is dropped, ``lambda-connect dlq replay`` delivers each exactly once, and a
second replay adds nothing. Also: ``/metrics`` counts them and the tasks name ``up``'s address."""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_connect.cli import main as cli
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

from tests.fixtures.broker import produce

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} not met within {timeout}s")


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(list(argv))
    return code, out.getvalue()


@pytest.fixture
def table(postgres_url: str) -> Iterator[tuple[Any, str]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    name = f"dlq_e2e_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} (id INTEGER NOT NULL, name TEXT NOT NULL)"))
        conn.execute(text(f"""CREATE FUNCTION {name}_reject() RETURNS trigger AS $$
            BEGIN IF NEW.name LIKE 'bad%' THEN RAISE EXCEPTION 'row % refused by the trigger', NEW.id; END IF;
            RETURN NEW; END $$ LANGUAGE plpgsql"""))
        conn.execute(text(f"CREATE TRIGGER {name}_reject BEFORE INSERT ON {name} FOR EACH ROW "
                          f"EXECUTE FUNCTION {name}_reject()"))
    try:
        yield engine, name
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
            conn.execute(text(f"DROP FUNCTION IF EXISTS {name}_reject() CASCADE"))
        engine.dispose()


def ids(engine: Any, table: str) -> list[int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(text(f"SELECT id FROM {table}")))


def test_rejected_rows_go_to_the_dlq_and_replay_delivers_each_once(table: tuple[Any, str], postgres_url: str,
                                                                   tmp_path: Path) -> None:
    engine, name = table
    runtime = LocalRuntime(RuntimeOptions(state_url=f"sqlite:///{tmp_path}/state.db", port=0, reconcile_interval=2.0,
                                          broker_log=tmp_path / "tansu.log")).start()
    try:
        url, topic, connector = runtime.url, f"people-{uuid.uuid4().hex[:6]}", "people-sink"
        config = {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "connection.url": postgres_url,
                  "topics": topic, "table.name.format": name, "insert.mode": "insert", "pk.mode": "none",
                  "auto.create": "false", "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                  "value.converter.schemas.enable": "false", "key.converter":
                  "org.apache.kafka.connect.storage.StringConverter", "errors.tolerance": "all",
                  "errors.deadletterqueue.topic.name": f"{topic}-dlq",
                  "errors.deadletterqueue.topic.replication.factor": "1",
                  "errors.deadletterqueue.context.headers.enable": "true",
                  "lambda.maximum.batching.window.seconds": "0"}
        r = requests.post(f"{url}/connectors", json={"name": connector, "config": config}, timeout=30)
        assert r.status_code == 201, r.text
        bad = {3, 7, 8, 15}
        records = [(f"k{i}", json.dumps({"id": i, "name": f"bad-{i}" if i in bad else f"good-{i}"}),
                    [("origin", f"test-{i}".encode())]) for i in range(20)]
        where = produce(runtime.bootstrap_servers, topic, records)  # (partition, offset) of each record
        wait_for(lambda: len(ids(engine, name)) == 16, what="the 16 accepted rows")

        def dlq_entries() -> list[dict[str, Any]]:
            code, out = run_cli("dlq", "list", connector, "--url", url, "--output", "json")
            assert code == 0, out
            return json.loads(out)

        wait_for(lambda: len(dlq_entries()) == 4, what="4 records in the DLQ")
        entries = dlq_entries()
        assert sorted(json.loads(e["value"])["id"] for e in entries) == sorted(bad)
        for e in entries:
            assert set(e) == {"topic", "partition", "offset", "stage", "error_class", "message", "key", "value",
                              "dlq_partition", "dlq_offset"}
            record_id = json.loads(e["value"])["id"]
            assert e["topic"] == topic and (e["partition"], e["offset"]) == where[record_id]
            assert e["stage"] == "TASK_PUT" and e["key"] == f"k{record_id}"
            assert "refused by the trigger" in e["message"] and e["error_class"]
        assert ids(engine, name) == [i for i in range(20) if i not in bad]

        from sqlalchemy import text

        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER {name}_reject ON {name}"))
        code, out = run_cli("dlq", "replay", connector, "--url", url, "--dry-run")
        assert code == 0 and out.startswith("4 record(s) would replay"), out
        code, out = run_cli("dlq", "replay", connector, "--url", url)
        assert code == 0 and out.startswith("4 record(s) replayed"), out
        wait_for(lambda: len(ids(engine, name)) == 20, what="the replayed rows")
        code, out = run_cli("dlq", "replay", connector, "--url", url)
        assert code == 0 and out.startswith("0 record(s) replayed"), out
        time.sleep(3.0)  # anything a second replay had sent would have landed by now
        assert ids(engine, name) == list(range(20))

        status = requests.get(f"{url}/connectors/{connector}/status", timeout=10).json()
        assert status["tasks"][0]["worker_id"] == url.removeprefix("http://")
        figures = status["lambda_connect"]["metrics"]
        assert figures["RecordsDeadLettered"] == 4 and figures["RecordsIn"] == 24
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        assert f'lambda_connect_records_dead_lettered_total{{connector="{connector}",task="0"}} 4' in metrics
        wait_for(lambda: f'lambda_connect_consumer_lag{{connector="{connector}",topic="{topic}",'
                 in requests.get(f"{url}/metrics", timeout=10).text, what="consumer lag on /metrics")
        listed = requests.get(f"{url}/connectors/{connector}/dlq", timeout=10).json()
        assert listed["replay_positions"] == {"0": 4} and listed["total"] == 4  # the DLQ topic has one partition
    finally:
        runtime.stop(20)
