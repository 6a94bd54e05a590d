"""Scenario 1 — redelivery. Lambda's event source mappings deliver at least once: a batch comes again
after a timeout or a crash, retries overlap what was written, partitions of one topic arrive in any
interleaving, and a topic deleted and created again starts its offsets from zero. Every sink is fed
through ``functions/sink_task/app.py``; exactly-once sinks (JDBC, S3) must hold each record once,
the file sink (at least once) each record at least once, and none may lose one.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import pytest

from tests.fixtures.broker import produce

from .harness import ALL_SINKS, Context, EventRecord, Target, create_sink, kafka_event, load_app, value_of
from .ledger import Ledger


def records(topic: str, partition: int, offsets: range) -> list[EventRecord]:
    return [(topic, partition, o, value_of(partition * 1_000_000 + o)) for o in offsets]


@pytest.mark.broker
@pytest.mark.parametrize("target", ALL_SINKS, indirect=True)
def test_repeated_overlapping_and_interleaved_batches(sink_app: ModuleType, target: Target, kafka_broker: str,
                                                      unique_name: str) -> None:
    topic = f"orders-{unique_name}"
    create_sink(sink_app, unique_name, topic, target)
    ledger = Ledger()
    repeats = 0  # deliveries that carried at least one record delivered before

    def deliver(batch: list[EventRecord], times: int = 1) -> None:
        nonlocal repeats
        for _ in range(times):
            repeats += any((t, p, o) in ledger.sent for t, p, o, _ in batch)
            for t, p, o, _ in batch:
                ledger.add(t, p, o)
            response = sink_app.lambda_handler(kafka_event(batch, kafka_broker, connector=unique_name), Context())
            assert response == {"batchItemFailures": []}

    # The same batch 1, 2, 3, 4 and 5 times (three partitions in every event).
    for times in range(1, 6):
        start = (times - 1) * 40
        deliver([r for p in range(3) for r in records(topic, p, range(start, start + 40))], times)
    # Overlapping retries: each one starts inside what the previous one wrote.
    deliver(records(topic, 0, range(150, 260)))
    deliver(records(topic, 0, range(200, 300)) + records(topic, 1, range(180, 300)))
    # Partitions out of step: partition 2 runs far ahead, then 0 and 1 catch up in one event,
    # listed in reverse partition order.
    deliver(records(topic, 2, range(200, 400)))
    deliver(records(topic, 1, range(300, 400)) + records(topic, 0, range(300, 400)))
    # A stale redelivery of an early batch after later ones were written.
    deliver(records(topic, 1, range(40, 80)) + records(topic, 2, range(0, 40)), 2)

    assert len(ledger.sent) == 1200
    ledger.assert_delivered(target.coords(), exactly_once=target.exactly_once,
                            scenario=f"redelivery/{target.kind}", faults=repeats)
    status = sink_app.handler.store.get_task_statuses(unique_name)
    assert all(s.state == "RUNNING" for s in status.values()), status


@pytest.mark.broker
@pytest.mark.parametrize("target", ALL_SINKS, indirect=True)
def test_topic_deleted_and_created_again_is_written_from_offset_zero(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_broker: str, kafka_admin: object,
    unique_name: str,
) -> None:
    """Defect 1: after a topic is recreated under the same name its new records reuse offsets the
    sink already saw; they are new records and must be written (the stored marks belong to the
    old topic)."""
    from lambda_connect.aws.kafka_clients import ensure_topic

    app = load_app("sink_task", {"LAMBDA_CONNECT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
                                 "LAMBDA_CONNECT_CONNECTOR": None,
                                 "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": kafka_broker}, monkeypatch)
    topic = f"reset-{unique_name}"
    ensure_topic(kafka_admin, topic, 1, 1)
    create_sink(app, unique_name, topic, target)
    first = Ledger()

    def deliver_produced(count: int, base: int, ledger: Ledger) -> None:
        placed = produce(kafka_broker, topic, [(f"k{base + i}", value_of(base + i)) for i in range(count)])
        batch = [(topic, p, o, value_of(base + i)) for i, (p, o) in enumerate(placed)]
        for t, p, o, _ in batch:
            ledger.add(t, p, o)
        response = app.lambda_handler(kafka_event(batch, kafka_broker, connector=unique_name), Context())
        assert response == {"batchItemFailures": []}

    deliver_produced(300, 0, first)
    assert sorted(target.coords()) == sorted(first.good)

    kafka_admin.delete_topics([topic])[topic].result(timeout=15)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while topic in kafka_admin.list_topics(timeout=10).topics and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.2)
    ensure_topic(kafka_admin, topic, 1, 1)
    second = Ledger()
    deliver_produced(100, 10_000, second)  # offsets 0..99 again, other records

    # The target holds both generations: the old topic's 300 and the new one's 100, whose
    # coordinates repeat the first 100 of the old ones; the ids tell them apart.
    ids = _ids(target)
    expected = list(range(300)) + list(range(10_000, 10_100))
    lost = sorted(set(expected) - set(ids))
    assert not lost, f"{len(lost)} record(s) of the recreated topic were skipped as redeliveries: {lost[:5]}..."
    if target.exactly_once:
        assert sorted(ids) == expected
    from .ledger import Verdict, record_figure

    record_figure(f"topic-reset/{target.kind}", Verdict(400, 400, 0, lost=[("", 0, i) for i in lost],
                                                        exactly_once=target.exactly_once,
                                                        duplicated={("", 0, i): 2 for i in set(ids)
                                                                    if ids.count(i) > 1}), faults=1)


def _ids(target: Target) -> list[int]:
    """The ``id`` field of every record held, where the target can list it cheaply."""
    from .harness import FileTarget, JdbcTarget, S3Target

    if isinstance(target, JdbcTarget):
        from sqlalchemy import text

        with target.engine.connect() as conn:
            q = target.quote
            return [int(r[0]) for r in conn.execute(text(f"SELECT {q}id{q} FROM {q}{target.table}{q}"))]
    if isinstance(target, S3Target):
        import json

        out: list[int] = []
        for page in target.client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket,
                                                                             Prefix=target.prefix + "/"):
            for obj in page.get("Contents", []):
                if "/_lambda_connect/" not in obj["Key"]:
                    body = target.client.get_object(Bucket=target.bucket, Key=obj["Key"])["Body"].read().decode()
                    out += [json.loads(line)["id"] for line in body.splitlines() if line]
        return out
    if isinstance(target, FileTarget):
        import re

        return [int(m.group(1)) for m in re.finditer(r"\{id=(\d+)", target.path.read_text())]
    raise AssertionError(f"no id reader for {target!r}")
