"""functions/sink_task/app.py driven with Lambda's event shapes (state in SQLite, file sink)."""

from __future__ import annotations

import base64
import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.aws.kafka_event import build_kafka_event
from lambda_connect.runtime.sink_worker import ConnectorNotRunningError, RecordFailedError, UnknownConnectorError
from lambda_connect.state.base import open_store

ROOT = Path(__file__).parents[2]
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lambda-connect-sink"


class Context:
    def __init__(self, alias: str | None = None, remaining_ms: int = 60_000) -> None:
        self.invoked_function_arn = FUNCTION_ARN + (f":{alias}" if alias else "")
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.delenv("LAMBDA_CONNECT_CONNECTOR", raising=False)
    monkeypatch.delenv("LAMBDA_CONNECT_BOOTSTRAP_SERVERS", raising=False)
    spec = importlib.util.spec_from_file_location(f"sink_app_{uuid.uuid4().hex}", ROOT / "functions/sink_task/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _connector(app: ModuleType, tmp_path: Path, name: str = "orders-file", **extra: str) -> Path:
    out = tmp_path / f"{name}.txt"
    app.handler.store.create_connector(name, {
        "name": name, "connector.class": "FileStreamSinkConnector", "file": str(out), "topics": "orders",
        "key.converter": "StringConverter", "value.converter": "JsonConverter",
        "value.converter.schemas.enable": "false", **extra,
    })
    return out


def _event(values: list[bytes | None], partition: int = 0, start: int = 0) -> dict[str, Any]:
    return build_kafka_event([("orders", partition, start + i, 1_700_000_000_000, "CREATE_TIME", b"k", v, [])
                              for i, v in enumerate(values)])


def test_event_names_the_connector(app: ModuleType, tmp_path: Path) -> None:
    out = _connector(app, tmp_path)
    response = app.lambda_handler({**_event([b'{"a":1}', b'{"a":2}']), "connector": "orders-file"}, Context())
    assert response == {"batchItemFailures": []}
    assert out.read_text().splitlines() == ["{a=1}", "{a=2}"]
    status = app.handler.store.get_task_statuses("orders-file")
    assert status[0].state == "RUNNING"
    assert app.handler.store.get_active_topics("orders-file") == {"orders"}


def test_alias_of_the_invoked_function_arn_names_the_connector(app: ModuleType, tmp_path: Path) -> None:
    out = _connector(app, tmp_path)
    app.handler.store.put_resources("orders-file", {"alias": "connect-orders-file"})
    app.lambda_handler(_event([b'{"a":1}']), Context(alias="connect-orders-file"))
    assert out.read_text().splitlines() == ["{a=1}"]


def test_dedicated_function_env_names_the_connector(app: ModuleType, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = _connector(app, tmp_path)
    monkeypatch.setenv("LAMBDA_CONNECT_CONNECTOR", "orders-file")
    app.lambda_handler(_event([b'{"a":1}']), Context())
    assert out.read_text().splitlines() == ["{a=1}"]


@pytest.mark.parametrize("alias", [None, "connect-unknown"])
def test_unknown_connector_fails_the_invocation(app: ModuleType, tmp_path: Path, alias: str | None) -> None:
    _connector(app, tmp_path)
    with pytest.raises(UnknownConnectorError):
        app.lambda_handler(_event([b'{"a":1}']), Context(alias=alias))


def test_paused_connector_raises_so_the_batch_is_redelivered(app: ModuleType, tmp_path: Path) -> None:
    out = _connector(app, tmp_path)
    app.handler.store.set_target_state("orders-file", "PAUSED")
    with pytest.raises(ConnectorNotRunningError):
        app.lambda_handler({**_event([b'{"a":1}']), "connector": "orders-file"}, Context())
    assert not out.exists() or out.read_text() == ""


def test_malformed_record_fails_loudly_naming_it(app: ModuleType, tmp_path: Path) -> None:
    _connector(app, tmp_path)
    event = json.loads((ROOT / "events/msk-malformed.json").read_text())
    event["records"] = {"orders-0": [{**r, "topic": "orders"} for r in event["records"]["shop-orders-0"]]}
    with pytest.raises(RecordFailedError, match=r"orders-0@51 in stage KAFKA_CONSUME.*base64"):
        app.lambda_handler({**event, "connector": "orders-file"}, Context())


def test_batch_item_failures_name_the_first_failing_record(app: ModuleType, tmp_path: Path) -> None:
    out = _connector(app, tmp_path, **{"lambda.report.batch.item.failures": "true",
                                     "lambda.provisioned.pollers.min": "1"})
    event = _event([b'{"a":1}', b"{oops", b'{"a":3}'], start=10)
    response = app.lambda_handler({**event, "connector": "orders-file"}, Context())
    assert response == {"batchItemFailures": [{"itemIdentifier": {"partition": "orders-0", "offset": 11}}]}
    assert out.read_text().splitlines() == ["{a=1}"]
    assert app.handler.store.get_task_statuses("orders-file")[0].state == "FAILED"


def test_metrics_are_emitted_as_emf(app: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _connector(app, tmp_path)
    app.lambda_handler({**_event([b'{"a":1}', b'{"a":2}']), "connector": "orders-file"}, Context())
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emf = [b for b in blobs if "_aws" in b]
    assert emf, "no EMF metrics line on stdout"
    last = emf[-1]
    assert last["connector"] == "orders-file"
    # Powertools renders each metric as the list of values added in this blob.
    assert (last["RecordsIn"], last["RecordsWritten"], last["RecordsDeadLettered"]) == ([2.0], [2.0], [0.0])
    assert last["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "lambda-connect"
    assert "PutLatency" in last


def test_tombstone_and_binary_keys_reach_the_sink(app: ModuleType, tmp_path: Path) -> None:
    out = _connector(app, tmp_path, **{"key.converter": "ByteArrayConverter"})
    event = build_kafka_event([("orders", 0, 0, 1, "CREATE_TIME", bytes([0, 255]), None, [])])
    assert base64.b64decode(event["records"]["orders-0"][0]["key"]) == bytes([0, 255])
    app.lambda_handler({**event, "connector": "orders-file"}, Context())
    assert out.read_text().splitlines() == ["null"]


def test_store_is_opened_from_the_environment(app: ModuleType, tmp_path: Path) -> None:
    _connector(app, tmp_path, name="visible")
    assert open_store(f"sqlite:///{tmp_path / 'state.db'}").get_connector("visible") is not None


def test_sink_config_docs_are_generated_from_the_config_defs() -> None:
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts/gen_config_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "docs/readme/sink.md is stale: run scripts/gen_config_docs.py --write"
    assert "`insert.mode`" in module.render() and "`s3.bucket.name`" in module.render()
