"""The Iceberg sink through ``lambda-connect up`` (issue 13): the CLI as a user runs it, with the
local event source mapping and the same sink handler as in Lambda, the connector registered
over REST, tables read back with pyiceberg from outside the process.

1. Embedded broker, a commit per invocation: every record lands once; after Ctrl-C and a new
   ``up`` (a new embedded broker whose topic counts from 0 again) the new records are written,
   not skipped as copies of the old ones (topic identity, defect 1 of issue 11).
2. External broker, deferred commits: records produced while ``up`` is down are written after
   the restart, nothing twice, nothing missing; the last files are committed by the
   reconciler's rescan once the topic is quiet.
3. Poison records take the shared error path: with ``errors.tolerance=all`` and a dead letter
   queue, the DLQ holds exactly the bad records (one undecodable, one that does not fit the
   table) with their error headers, and the table exactly the good ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_connect.aws.kafka_clients import ensure_topic

from tests.e2e.test_up_process import (  # noqa: F401 - fixtures
    STOP_TIMEOUT,
    UpProcess,
    committed_offsets,
    external_broker,
    start_up,
    wait_for,
)
from tests.fixtures.broker import produce

pytest.importorskip("pyiceberg")
pytestmark = [pytest.mark.broker, pytest.mark.slow]

TOPIC = "lake-orders"
TABLE = "lake.orders"
SINK = "orders-lake"


def catalog(tmp: Path) -> Any:
    from pyiceberg.catalog import load_catalog

    return load_catalog("lake", type="sql", uri=f"sqlite:///{tmp}/catalog.db", warehouse=f"file://{tmp}/wh")


def sink_config(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "connector.class": "org.apache.iceberg.connect.IcebergSinkConnector", "topics": TOPIC,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "iceberg.tables": TABLE, "iceberg.tables.auto-create-enabled": "true",
        "iceberg.catalog": "lake", "iceberg.catalog.type": "sql",
        "iceberg.catalog.uri": f"sqlite:///{tmp}/catalog.db", "iceberg.catalog.warehouse": f"file://{tmp}/wh",
        "iceberg.control.commit.interval-ms": "0",
        "lambda.batch.size": "500", "lambda.maximum.batching.window.seconds": "0", **extra,
    }


def register(up: UpProcess, config: dict[str, str]) -> None:
    r = requests.post(f"{up.rest_url}/connectors", json={"name": SINK, "config": config}, timeout=30)
    assert r.status_code == 201, r.text


def ids(tmp: Path) -> list[int]:
    """Every ``id`` in the table (with repeats), or [] before the table exists."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        table = catalog(tmp).load_table(TABLE)
    except (NoSuchTableError, NoSuchNamespaceError):
        return []
    return sorted(table.scan(selected_fields=("id",)).to_arrow().column("id").to_pylist())


def orders(numbers: range) -> list[tuple[str, str, None, int]]:
    """Records spread over two partitions by hand (so both partitions are always used)."""
    return [(str(i), json.dumps({"id": i, "item": f"sku-{i % 7}", "qty": i % 5}), None, i % 2) for i in numbers]


def create_topic(bootstrap: str) -> None:
    from confluent_kafka.admin import AdminClient

    ensure_topic(AdminClient({"bootstrap.servers": bootstrap}), TOPIC, 2, 1)


def marks(tmp: Path) -> dict[str, Any]:
    summary = catalog(tmp).load_table(TABLE).current_snapshot().summary
    return json.loads(summary[f"kafka.connect.offsets.{SINK}"])


def test_embedded_broker_every_record_once_and_a_new_broker_is_not_skipped(
    start_up: Callable[..., UpProcess], tmp_path: Path  # noqa: F811
) -> None:
    state = ["--state", f"sqlite:///{tmp_path}/state.db"]
    up = start_up(*state, tag="1")
    create_topic(up.kafka)
    register(up, sink_config(tmp_path))
    produce(up.kafka, TOPIC, orders(range(2000)))
    wait_for(lambda: len(ids(tmp_path)) >= 2000, 120, "2,000 rows in the Iceberg table")
    assert ids(tmp_path) == list(range(2000))
    assert marks(tmp_path) == {TOPIC: {"0": 1000, "1": 1000}}
    schema = catalog(tmp_path).load_table(TABLE).schema()
    assert [f.name for f in schema.fields] == ["id", "item", "qty"]
    up.ctrl_c()
    assert up.wait_exit(STOP_TIMEOUT) == 0, up.stderr[-3000:]

    again = start_up(*state, tag="2")  # a new embedded broker: the topic starts at offset 0 again
    assert SINK in again.connectors()
    create_topic(again.kafka)
    produce(again.kafka, TOPIC, orders(range(10_000, 10_600)))
    wait_for(lambda: len(ids(tmp_path)) >= 2600, 120, "the 600 records of the new broker")
    assert ids(tmp_path) == list(range(2000)) + list(range(10_000, 10_600)), "nothing skipped, nothing twice"
    assert marks(tmp_path) == {TOPIC: {"0": 300, "1": 300}}
    warnings = [line for line in again.stderr.splitlines() if f"Topic {TOPIC} was reset" in line]
    assert warnings and "Iceberg table lake.orders" in warnings[0], again.stderr[-3000:]
    again.ctrl_c()
    assert again.wait_exit(STOP_TIMEOUT) == 0, again.stderr[-3000:]
    assert "Traceback" not in up.stderr + again.stderr


def test_external_broker_deferred_commits_across_a_restart(
    start_up: Callable[..., UpProcess], tmp_path: Path, external_broker: str  # noqa: F811
) -> None:
    common = ["--state", f"sqlite:///{tmp_path}/state.db", "--bootstrap-servers", external_broker]
    create_topic(external_broker)
    config = sink_config(tmp_path, **{"iceberg.control.commit.interval-ms": "5000"})
    up = start_up(*common, tag="1")
    register(up, config)
    produce(external_broker, TOPIC, orders(range(1500)))
    # The last files wait for the interval; the rescan (every 10 s locally) commits them.
    wait_for(lambda: len(ids(tmp_path)) >= 1500, 120, "1,500 rows, the last ones committed by the rescan")
    assert ids(tmp_path) == list(range(1500))
    up.ctrl_c()
    assert up.wait_exit(STOP_TIMEOUT) == 0, up.stderr[-3000:]

    produce(external_broker, TOPIC, orders(range(1500, 3000)))  # while `up` is down
    again = start_up(*common, tag="2")
    wait_for(lambda: len(ids(tmp_path)) >= 3000, 120, "the records produced while up was down")
    assert ids(tmp_path) == list(range(3000)), "nothing twice, nothing missing across the restart"
    assert marks(tmp_path) == {TOPIC: {"0": 1500, "1": 1500}}
    wait_for(lambda: committed_offsets(external_broker, f"connect-{SINK}", TOPIC) == 3000, 60,
             "the group's offsets at the end of the topic")
    table = catalog(tmp_path).load_table(TABLE)
    snapshots = list(table.snapshots())
    files = list(table.scan().plan_files())
    assert len(snapshots) < len(files), "deferred commits gather several invocations' files per snapshot"
    again.ctrl_c()
    assert again.wait_exit(STOP_TIMEOUT) == 0, again.stderr[-3000:]
    assert "Traceback" not in up.stderr + again.stderr


def test_poison_records_go_to_the_dead_letter_queue_and_the_rest_to_the_table(
    start_up: Callable[..., UpProcess], tmp_path: Path  # noqa: F811
) -> None:
    up = start_up("--state", f"sqlite:///{tmp_path}/state.db")
    create_topic(up.kafka)
    register(up, sink_config(tmp_path, **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": f"{TOPIC}-dlq",
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true"}))
    good = orders(range(100))
    bad = [("bad-json", "{not json", None, 0),  # the converter refuses it
           ("bad-type", json.dumps({"id": "abc", "item": "x", "qty": 1}), None, 0)]  # id is a long column
    where = produce(up.kafka, TOPIC, good[:50] + bad + good[50:])[50:52]  # (partition, offset) of the bad ones

    def dead() -> list[dict[str, Any]]:
        r = requests.get(f"{up.rest_url}/connectors/{SINK}/dlq", timeout=30)
        assert r.status_code == 200, r.text
        return list(r.json()["entries"])

    try:
        wait_for(lambda: len(dead()) >= 2, 120, "2 records in the dead letter queue")
    except AssertionError as e:
        raise AssertionError(f"{e}\nup's log:\n{up.stderr[-6000:]}") from None
    entries = sorted(dead(), key=lambda e: e["key"])
    assert [e["key"] for e in entries] == ["bad-json", "bad-type"]
    assert [(e["partition"], e["offset"]) for e in entries] == where
    for entry in entries:
        assert entry["topic"] == TOPIC and entry["error_class"] and entry["message"], entry
    assert "long" in entries[1]["message"] or "abc" in entries[1]["message"], entries[1]
    wait_for(lambda: len(ids(tmp_path)) >= 100, 60, "the 100 good rows")
    assert ids(tmp_path) == list(range(100))
    assert marks(tmp_path) == {TOPIC: {"0": 52, "1": 50}}  # the bad records' offsets are done with too
    up.ctrl_c()
    assert up.wait_exit(STOP_TIMEOUT) == 0, up.stderr[-3000:]
