"""The Iceberg sink through functions/sink_task/app.py with Lambda's MSK event shape, and the
reconciler's rescan committing deferred files once the topic is quiet."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.runtime.platform import Platform
from lambda_connect.runtime.reconciler import Reconciler

pytest.importorskip("pyiceberg")

ROOT = Path(__file__).parents[2]
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:111122223333:function:lambda-connect-sink"


class Context:
    invoked_function_arn = FUNCTION_ARN

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.delenv("LAMBDA_CONNECT_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("LAMBDA_CONNECT_CONNECTOR", "orders-lake")
    spec = importlib.util.spec_from_file_location(f"sink_app_{uuid.uuid4().hex}", ROOT / "functions/sink_task/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _catalog(tmp_path: Path) -> Any:
    from pyiceberg.catalog import load_catalog

    return load_catalog("lake", type="sql", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=f"file://{tmp_path}/wh")


def _connector(app: ModuleType, tmp_path: Path, **extra: str) -> None:
    app.handler.store.create_connector("orders-lake", {
        "name": "orders-lake", "connector.class": "IcebergSinkConnector", "topics": "shop-orders",
        "key.converter": "StringConverter", "value.converter": "JsonConverter",
        "value.converter.schemas.enable": "false",
        "iceberg.tables": "shop.orders", "iceberg.tables.auto-create-enabled": "true",
        "iceberg.catalog": "lake", "iceberg.catalog.type": "sql",
        "iceberg.catalog.uri": f"sqlite:///{tmp_path}/catalog.db", "iceberg.catalog.warehouse": f"file://{tmp_path}/wh",
        "iceberg.control.commit.interval-ms": "0", "errors.tolerance": "all", **extra,
    })


def _msk_event() -> dict[str, Any]:
    return json.loads((ROOT / "events" / "msk.json").read_text())


def _json_map(value: str | None) -> bool:
    try:
        return isinstance(json.loads(base64.b64decode(value or "")), dict)
    except ValueError:
        return False


def test_msk_event_lands_in_the_table_once(app: ModuleType, tmp_path: Path) -> None:
    _connector(app, tmp_path)
    event = _msk_event()
    expected = sum(1 for v in event["records"].values() for r in v if _json_map(r.get("value")))
    assert 0 < expected < sum(len(v) for v in event["records"].values())  # the sample holds a poison record
    assert app.lambda_handler(copy.deepcopy(event), Context()) == {"batchItemFailures": []}
    assert app.lambda_handler(copy.deepcopy(event), Context()) == {"batchItemFailures": []}  # redelivered
    table = _catalog(tmp_path).load_table("shop.orders")
    rows = table.scan().to_arrow().to_pylist()
    assert len(rows) == expected and len(list(table.snapshots())) == 1
    assert "kafka.connect.offsets.orders-lake" in table.current_snapshot().summary
    assert app.handler.store.get_task_statuses("orders-lake")[0].state == "RUNNING"


def test_deferred_files_wait_in_the_state_table_and_the_rescan_commits_them(app: ModuleType, tmp_path: Path) -> None:
    _connector(app, tmp_path, **{"iceberg.control.commit.interval-ms": "1"})
    app.lambda_handler(_msk_event(), Context())
    # The first invocation commits at once (nothing was ever committed is "due" after 1 ms),
    # so look at a second, fresh batch: its files wait as pending when the interval is long.
    store = app.handler.store
    entry = store.get_connector("orders-lake")
    store.update_connector("orders-lake", {**entry.config, "iceberg.control.commit.interval-ms": "3600000"})
    event = _msk_event()
    for slot in event["records"].values():
        for r in slot:
            r["offset"] += 1000
    app.lambda_handler(event, Context())
    table = _catalog(tmp_path).load_table("shop.orders")
    before = len(list(table.snapshots()))
    pending = [p for p, _ in store.get_offsets("orders-lake")]
    assert len(pending) == 1
    store.update_connector("orders-lake", {**entry.config, "iceberg.control.commit.interval-ms": "1"})

    class NoPlatform(Platform):  # the rescan's platform side is not under test here
        def __getattribute__(self, name: str) -> Any:
            if name in ("ensure_sink", "ensure_source", "remove"):
                return lambda *a, **k: {}
            if name == "list_topics":
                return lambda: []
            return object.__getattribute__(self, name)

    Reconciler(store, NoPlatform()).reconcile_all()
    table = _catalog(tmp_path).load_table("shop.orders")
    assert len(list(table.snapshots())) == before + 1
    assert store.get_offsets("orders-lake") == []


@pytest.mark.parametrize("mode", ["rewrite", "tombstone"])
def test_debezium_change_events_are_applied_through_extract_new_record_state(app: ModuleType, tmp_path: Path,
                                                                              mode: str) -> None:
    """Debezium envelopes (the CDC sources' output) flattened by ExtractNewRecordState: creates,
    snapshot reads and updates replace rows by id, deletes remove them — whether the SMT turns
    a delete into a marked row (``rewrite``: ``__op`` = ``d``) or into a tombstone."""
    from lambda_connect.aws.kafka_event import build_kafka_event

    _connector(app, tmp_path, **{
        "key.converter": "JsonConverter", "key.converter.schemas.enable": "false", "errors.tolerance": "none",
        "transforms": "unwrap", "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.add.fields": "op", "transforms.unwrap.delete.tombstone.handling.mode": mode,
        "iceberg.tables.cdc-field": "__op", "iceberg.tables.default-id-columns": "id",
    })
    source = {"connector": "postgresql", "db": "shop", "schema": "public", "table": "accounts", "ts_ms": 1}

    def change(offset: int, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[Any, ...]:
        key = json.dumps({"id": (after or before or {})["id"]}).encode()
        value = json.dumps({"before": before, "after": after, "op": op, "source": source, "ts_ms": 2}).encode()
        return ("shop-orders", 0, offset, 1_700_000_000_000, "CREATE_TIME", key, value, [])

    events = [
        [change(0, "r", None, {"id": 1, "bal": 10}), change(1, "c", None, {"id": 2, "bal": 5}),
         change(2, "c", None, {"id": 3, "bal": 7})],
        [change(3, "u", {"id": 1, "bal": 10}, {"id": 1, "bal": 11}), change(4, "d", {"id": 2, "bal": 5}, None),
         ("shop-orders", 0, 5, 1_700_000_000_000, "CREATE_TIME", json.dumps({"id": 2}).encode(), None, []),
         change(6, "u", {"id": 3, "bal": 7}, {"id": 3, "bal": 8}), change(7, "d", {"id": 3, "bal": 8}, None)],
    ]
    for records in events:
        assert app.lambda_handler(build_kafka_event(records), Context()) == {"batchItemFailures": []}
    app.lambda_handler(build_kafka_event(events[1]), Context())  # redelivered: applied once, nothing changes
    table = _catalog(tmp_path).load_table("shop.orders")
    assert [(r["id"], r["bal"]) for r in table.scan().to_arrow().to_pylist()] == [(1, 11)]
    assert table.schema().identifier_field_names() == {"id"}
