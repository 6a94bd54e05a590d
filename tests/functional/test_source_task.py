"""functions/source_task/app.py driven with the schedule payloads in events/ (SQLite state, file
source, embedded broker)."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from lambda_connect.api.errors import NotFoundException
from lambda_connect.aws.source_handler import InvalidTriggerError

from tests.fixtures.broker import consume_all

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.broker]


class Context:
    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.aws_request_id = uuid.uuid4().hex
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


def load_app(tmp_path: Path, bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("LAMBDA_CONNECT_BOOTSTRAP_SERVERS", bootstrap)
    spec = importlib.util.spec_from_file_location(f"source_app_{uuid.uuid4().hex}",
                                                  ROOT / "functions/source_task/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def event(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


@pytest.fixture
def app(tmp_path: Path, kafka_broker: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_app(tmp_path, kafka_broker, monkeypatch)


def file_source(app: ModuleType, tmp_path: Path, topic: str, lines: list[str]) -> Path:
    source = tmp_path / "orders.txt"
    source.write_text("".join(line + "\n" for line in lines))
    app.handler.store.create_connector("orders-source", {
        "name": "orders-source", "connector.class": "FileStreamSource", "file": str(source), "topic": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    })
    return source


def test_schedule_input_runs_the_task_and_commits_its_offsets(app, tmp_path, kafka_broker, kafka_topic, capsys):
    topic = kafka_topic()
    source = file_source(app, tmp_path, topic, ["a", "b", "c"])
    response = app.lambda_handler(event("schedule.json"), Context())
    assert response["outcome"] == "completed" and response["records_produced"] == 3
    assert [m.value() for m in consume_all(kafka_broker, topic, 3)] == [b"a", b"b", b"c"]
    store = app.handler.store
    assert store.get_offsets("orders-source") == [({"filename": str(source)}, {"position": 6})]
    assert store.get_task_statuses("orders-source")[0].state == "RUNNING"
    assert store.get_active_topics("orders-source") == {topic}
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert metrics and metrics[-1]["RecordsProduced"] == [3.0] and metrics[-1]["connector"] == "orders-source"


def test_eventbridge_scheduled_event_carries_the_same_in_detail(app, tmp_path, kafka_broker, kafka_topic):
    topic = kafka_topic()
    source = file_source(app, tmp_path, topic, ["a"])
    assert app.lambda_handler(event("schedule-eventbridge.json"), Context())["records_produced"] == 1
    with source.open("a") as f:
        f.write("b\n")
    second = app.lambda_handler(event("schedule-eventbridge.json"), Context())
    assert second["records_produced"] == 1
    assert [m.value() for m in consume_all(kafka_broker, topic, 2)] == [b"a", b"b"]


def test_paused_connector_returns_at_once(app, tmp_path, kafka_topic):
    file_source(app, tmp_path, kafka_topic(), ["a"])
    app.handler.store.set_target_state("orders-source", "PAUSED")
    response = app.lambda_handler(event("schedule.json"), Context())
    assert response["outcome"] == "paused" and response["records_polled"] == 0
    assert app.handler.store.get_offsets("orders-source") == []


def test_unknown_connector_and_malformed_trigger_are_clear_errors(app):
    with pytest.raises(NotFoundException, match="Connector orders-source not found"):
        app.lambda_handler(event("schedule.json"), Context())
    with pytest.raises(InvalidTriggerError, match="names no connector"):
        app.lambda_handler({"detail": {"task": 0}}, Context())
    with pytest.raises(InvalidTriggerError, match="expected an integer"):
        app.lambda_handler({"connector": "x", "task": "first"}, Context())


def test_budget_is_the_remaining_time_minus_the_margin(app):
    assert app.handler.budget_ms(Context(remaining_ms=65_000)) == 60_000
    assert app.handler.budget_ms(Context(remaining_ms=1_000)) == 0
