"""Scenario 1 (redelivery) for the Iceberg sink (issue 13), as ``test_redelivery`` runs it for the
other sinks: fed through ``functions/sink_task/app.py`` with self-managed Kafka events, every
record's coordinates written into the row by the suite's ``InsertField`` transform, the table
read back with pyiceberg and checked against the ledger, record by record.

The Iceberg sink is exactly once through the marks in its snapshot summaries, both with a
commit per invocation and with pending files (``iceberg.control.commit.interval-ms`` > 0); a
topic deleted and created again on a real broker (a new topic id) must be written, not
skipped, because the marks name the topic identity they count in.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.fixtures.broker import produce

from .harness import Context, EventRecord, Target, create_sink, kafka_event, load_app, value_of
from .ledger import Ledger, Verdict, record_figure

pytest.importorskip("pyiceberg")


class IcebergTarget(Target):
    """One table in a SQL catalog on SQLite, warehouse on the local disk."""

    kind = "iceberg"

    def __init__(self, tmp: Path, name: str, interval_ms: str = "0") -> None:
        self.props = {"type": "sql", "uri": f"sqlite:///{tmp}/catalog.db", "warehouse": f"file://{tmp}/wh"}
        self.table = f"{name}.rows"
        self.interval_ms = interval_ms

    def config(self) -> dict[str, str]:
        return {"connector.class": "org.apache.iceberg.connect.IcebergSinkConnector", "iceberg.tables": self.table,
                "iceberg.tables.auto-create-enabled": "true", "iceberg.catalog": "rel",
                "iceberg.control.commit.interval-ms": self.interval_ms,
                **{f"iceberg.catalog.{k}": v for k, v in self.props.items()}}

    def rows(self) -> list[dict[str, Any]]:
        from pyiceberg.catalog import load_catalog
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        try:
            table = load_catalog("rel", **self.props).load_table(self.table)
        except (NoSuchTableError, NoSuchNamespaceError):
            return []
        return list(table.scan(selected_fields=("id", "kt", "kp", "ko")).to_arrow().to_pylist())

    def coords(self) -> list[tuple[str, int, int]]:
        return [(str(r["kt"]), int(r["kp"]), int(r["ko"])) for r in self.rows()]


def records(topic: str, partition: int, offsets: range) -> list[EventRecord]:
    return [(topic, partition, o, value_of(partition * 1_000_000 + o)) for o in offsets]


@pytest.mark.broker
@pytest.mark.parametrize("interval_ms", ["0", "1"], ids=["commit-each", "pending-files"])
def test_repeated_overlapping_and_interleaved_batches(sink_app: ModuleType, tmp_path: Path, kafka_broker: str,
                                                      unique_name: str, interval_ms: str) -> None:
    target = IcebergTarget(tmp_path, unique_name, interval_ms)
    topic = f"orders-{unique_name}"
    create_sink(sink_app, unique_name, topic, target)
    ledger = Ledger()
    repeats = 0

    def deliver(batch: list[EventRecord], times: int = 1) -> None:
        nonlocal repeats
        for _ in range(times):
            repeats += any((t, p, o) in ledger.sent for t, p, o, _ in batch)
            for t, p, o, _ in batch:
                ledger.add(t, p, o)
            response = sink_app.lambda_handler(kafka_event(batch, kafka_broker, connector=unique_name), Context())
            assert response == {"batchItemFailures": []}

    for times in range(1, 6):  # the same batch 1 to 5 times, three partitions per event
        start = (times - 1) * 40
        deliver([r for p in range(3) for r in records(topic, p, range(start, start + 40))], times)
    deliver(records(topic, 0, range(150, 260)))  # overlapping retries
    deliver(records(topic, 0, range(200, 300)) + records(topic, 1, range(180, 300)))
    deliver(records(topic, 2, range(200, 400)))  # partitions out of step, listed in reverse order
    deliver(records(topic, 1, range(300, 400)) + records(topic, 0, range(300, 400)))
    deliver(records(topic, 1, range(40, 80)) + records(topic, 2, range(0, 40)), 2)  # stale redelivery
    if interval_ms != "0":
        time.sleep(0.01)  # past the interval: the rescan commits what the last invocation left pending
        from lambda_connect.runtime.platform import Platform
        from lambda_connect.runtime.reconciler import Reconciler

        class NoPlatform(Platform):  # only the rescan's sink side is exercised
            def __getattribute__(self, name: str) -> Any:
                if name in ("ensure_sink", "ensure_source", "remove"):
                    return lambda *a, **k: {}
                if name == "list_topics":
                    return lambda: []
                return object.__getattribute__(self, name)

        Reconciler(sink_app.handler.store, NoPlatform()).reconcile_all()

    assert len(ledger.sent) == 1200
    ledger.assert_delivered(target.coords(), exactly_once=True, scenario=f"redelivery/iceberg-{interval_ms}ms",
                            faults=repeats)
    status = sink_app.handler.store.get_task_statuses(unique_name)
    assert all(s.state == "RUNNING" for s in status.values()), status


@pytest.mark.broker
def test_topic_deleted_and_created_again_is_written_from_offset_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_broker: str, kafka_admin: Any, unique_name: str,
) -> None:
    """Issue 11's defect 1 through the handler: the handler asks the event's broker for the
    topic id, so the recreated topic's records (offsets 0..99 again) are new records."""
    from lambda_connect.aws.kafka_clients import ensure_topic

    app = load_app("sink_task", {"LAMBDA_CONNECT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
                                 "LAMBDA_CONNECT_CONNECTOR": None,
                                 "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": kafka_broker}, monkeypatch)
    target = IcebergTarget(tmp_path, unique_name)
    topic = f"reset-{unique_name}"
    ensure_topic(kafka_admin, topic, 1, 1)
    create_sink(app, unique_name, topic, target)

    def deliver_produced(count: int, base: int) -> list[EventRecord]:
        placed = produce(kafka_broker, topic, [(f"k{base + i}", value_of(base + i)) for i in range(count)])
        batch = [(topic, p, o, value_of(base + i)) for i, (p, o) in enumerate(placed)]
        response = app.lambda_handler(kafka_event(batch, kafka_broker, connector=unique_name), Context())
        assert response == {"batchItemFailures": []}
        return batch

    first = deliver_produced(300, 0)
    app.lambda_handler(kafka_event(first[200:], kafka_broker, connector=unique_name), Context())  # a redelivery
    assert sorted(r["id"] for r in target.rows()) == list(range(300))

    # No client subscribes to the topic here (librdkafka crashes when a topic is deleted under one).
    kafka_admin.delete_topics([topic])[topic].result(timeout=15)
    deadline = time.monotonic() + 30
    while topic in kafka_admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.2)
    ensure_topic(kafka_admin, topic, 1, 1)
    second = deliver_produced(100, 10_000)
    assert [o for _, _, o, _ in second] == list(range(100)), "the new topic reuses the old offsets"
    app.lambda_handler(kafka_event(second, kafka_broker, connector=unique_name), Context())  # redelivered

    ids = sorted(r["id"] for r in target.rows())
    expected = list(range(300)) + list(range(10_000, 10_100))
    lost = sorted(set(expected) - set(ids))
    assert not lost, f"{len(lost)} record(s) of the recreated topic were skipped as redeliveries: {lost[:5]}..."
    assert ids == expected, "each record once"
    record_figure("topic-reset/iceberg", Verdict(400, 400, 0, lost=[], exactly_once=True, duplicated={}), faults=1)
