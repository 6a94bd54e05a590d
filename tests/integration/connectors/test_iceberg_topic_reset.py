"""Issue 11's defect 1 for the Iceberg sink (issue 13): marks in snapshot summaries tied to the topic.

The Iceberg sink filters records below the marks its snapshots carry. A topic deleted and
created again under the same name (or a new embedded broker) counts from offset 0 again, so
without the topic's identity next to the marks every record of the new incarnation would be
skipped as a copy, silently. A "cluster" here is the runtime's real per-container cache
(``CachedTopicIdentities``) in front of a dict saying what the broker would answer now, so
each test decides when the topic is recreated and can count how often the cluster is asked.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.plugins.connectors import positions
from lambda_connect.plugins.connectors.iceberg.sink import IcebergSinkConnector
from lambda_connect.runtime.topic_identity import CachedTopicIdentities

from tests.fixtures.iceberg import IcebergHarness, rec

pytest.importorskip("pyiceberg")

TOPIC = "k10"


class Cluster(CachedTopicIdentities):
    """What the broker says now; every lookup that reaches it is counted."""

    def __init__(self, **now: str | None) -> None:
        super().__init__()
        self.now: dict[str, str | None] = dict(now)
        self.asked = 0

    def _lookup(self, topic: str) -> str | None:
        self.asked += 1
        return self.now.get(topic)

    def source(self) -> Any:
        return lambda topic, refresh: self.identity(topic, refresh)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def h(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> Any:
    uri = f"sqlite:///{tmp_path}/catalog.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    harness = IcebergHarness(unique_name, {"type": "sql", "uri": uri, "warehouse": f"file://{tmp_path}/wh"})
    yield harness
    if request.param == "postgres":
        cat = harness.catalog()
        if unique_name in [n[0] for n in cat.list_namespaces()]:
            for ident in cat.list_tables(unique_name):
                cat.drop_table(ident)
            cat.drop_namespace(unique_name)


@pytest.fixture
def sqlite_h(tmp_path: Path, unique_name: str) -> IcebergHarness:
    return IcebergHarness(unique_name, {"type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db",
                                        "warehouse": f"file://{tmp_path}/wh"})


def batch(offsets: range, *, base: int = 0, partition: int = 0) -> list[Any]:
    return [rec(TOPIC, o, {"id": base + o}, partition=partition) for o in offsets]


def ids(h: IcebergHarness, table: str) -> list[int]:
    return sorted(r["id"] for r in h.table(table).scan().to_arrow().to_pylist())


def summary(h: IcebergHarness, table: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(marks, identities) of the newest snapshot."""
    s = h.table(table).current_snapshot().summary
    return (json.loads(s[f"kafka.connect.offsets.{h.name}"]),
            json.loads(s.get(f"lambda-connect.topic-identities.{h.name}") or "{}"))


def reset_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "was reset" in r.getMessage()]


def test_recreated_topic_is_written_not_skipped(h: IcebergHarness, caplog: pytest.LogCaptureFixture) -> None:
    table = f"{h.name}.rows"
    cluster = Cluster(k10="c1/topic-A")
    task = h.task(iceberg__tables=table, identities=cluster.source())
    for start in range(0, 3000, 1000):
        h.deliver(task, batch(range(start, start + 1000)))
    assert len(ids(h, table)) == 3000
    assert summary(h, table) == ({TOPIC: {"0": 3000}}, {TOPIC: "c1/topic-A"})

    cluster.now[TOPIC] = "c1/topic-B"  # deleted and created again while the container stays warm
    caplog.set_level(logging.WARNING, logger=positions.__name__)
    h.deliver(task, batch(range(0, 500), base=10_000))
    h.deliver(task, batch(range(500, 1000), base=10_000))

    assert ids(h, table) == list(range(3000)) + list(range(10_000, 11_000)), "every record of the new topic"
    assert summary(h, table) == ({TOPIC: {"0": 1000}}, {TOPIC: "c1/topic-B"})
    [warning] = reset_warnings(caplog)
    assert TOPIC in warning and "c1/topic-A" in warning and "c1/topic-B" in warning and "2999" in warning

    h.deliver(task, batch(range(0, 1000), base=10_000))  # a redelivery of the new topic: still one copy
    assert len(ids(h, table)) == 4000
    assert task.skipped_duplicates == 1000


def test_other_partitions_of_the_old_incarnation_do_not_filter_the_new_one(sqlite_h: IcebergHarness) -> None:
    h, table = sqlite_h, f"{sqlite_h.name}.rows"
    cluster = Cluster(k10="c1/topic-A")
    task = h.task(iceberg__tables=table, identities=cluster.source())
    h.deliver(task, batch(range(0, 50)) + batch(range(0, 80), base=1000, partition=1))
    cluster.now[TOPIC] = "c1/topic-B"
    h.deliver(task, batch(range(0, 10), base=5000))  # only partition 0 of the new topic so far
    h.deliver(task, batch(range(0, 10), base=6000, partition=1))  # a different batch; its own marks are A's
    assert len(ids(h, table)) == 150
    assert summary(h, table) == ({TOPIC: {"0": 10, "1": 10}}, {TOPIC: "c1/topic-B"})


def test_identity_is_looked_up_once_per_container_and_topic_on_the_hot_path(sqlite_h: IcebergHarness) -> None:
    h, table = sqlite_h, f"{sqlite_h.name}.rows"
    cluster = Cluster(k10="c1/topic-A")
    task = h.task(iceberg__tables=table, identities=cluster.source())
    for start in range(0, 1000, 100):
        h.deliver(task, batch(range(start, start + 100)))
    assert cluster.asked == 1
    h.deliver(task, batch(range(900, 1000)))  # looks like a redelivery: the cluster is asked again
    assert cluster.asked == 2
    assert len(ids(h, table)) == 1000 and task.skipped_duplicates == 100


def test_a_cold_container_of_a_new_broker_writes_at_once(sqlite_h: IcebergHarness) -> None:
    h, table = sqlite_h, f"{sqlite_h.name}.rows"
    h.deliver(h.task(iceberg__tables=table, identities=Cluster(k10="c1/topic-A").source()), batch(range(300)))
    cold = h.task(iceberg__tables=table, identities=Cluster(k10="c2/topic-B").source())  # `up` again
    h.deliver(cold, batch(range(100), base=1000))
    assert len(ids(h, table)) == 400
    assert summary(h, table) == ({TOPIC: {"0": 100}}, {TOPIC: "c2/topic-B"})


def test_a_stale_container_does_not_undo_a_reset_another_one_recorded(sqlite_h: IcebergHarness) -> None:
    h, table = sqlite_h, f"{sqlite_h.name}.rows"
    stale = Cluster(k10="c1/topic-A")
    old = h.task(iceberg__tables=table, identities=stale.source())
    h.deliver(old, batch(range(300)))
    fresh = h.task(iceberg__tables=table, identities=Cluster(k10="c1/topic-B").source())
    h.deliver(fresh, batch(range(100), base=1000))
    assert len(ids(h, table)) == 400

    stale.now[TOPIC] = "c1/topic-B"  # the broker's answer; ``old`` still has topic-A cached
    h.deliver(old, batch(range(100), base=1000))  # a redelivery to the stale container
    assert len(ids(h, table)) == 400, "no second copy: the stale cache is refreshed, not trusted"
    assert summary(h, table) == ({TOPIC: {"0": 100}}, {TOPIC: "c1/topic-B"})


def test_marks_without_identity_are_claimed_and_still_filter(sqlite_h: IcebergHarness) -> None:
    h, table = sqlite_h, f"{sqlite_h.name}.rows"
    h.deliver(h.task(iceberg__tables=table), batch(range(200)))  # no identity known (an older version)
    assert summary(h, table) == ({TOPIC: {"0": 200}}, {})
    cluster = Cluster(k10="c1/topic-A")
    task = h.task(iceberg__tables=table, identities=cluster.source())
    h.deliver(task, batch(range(150, 250)))
    assert ids(h, table) == list(range(250)), "the old marks still filter after the upgrade"
    assert summary(h, table) == ({TOPIC: {"0": 250}}, {TOPIC: "c1/topic-A"})
    cluster.now[TOPIC] = "c1/topic-B"
    h.deliver(task, batch(range(10), base=5000))
    assert len(ids(h, table)) == 260


def test_unknown_identity_keeps_the_marks_as_they_are(sqlite_h: IcebergHarness) -> None:
    h, table = sqlite_h, f"{sqlite_h.name}.rows"
    h.deliver(h.task(iceberg__tables=table, identities=Cluster(k10="c1/topic-A").source()), batch(range(100)))
    blind = h.task(iceberg__tables=table, identities=Cluster().source())  # the cluster cannot tell
    h.deliver(blind, batch(range(50, 150)))
    assert ids(h, table) == list(range(150))
    assert summary(h, table) == ({TOPIC: {"0": 150}}, {TOPIC: "c1/topic-A"})


def test_pending_files_of_the_old_incarnation_are_committed_not_lost(sqlite_h: IcebergHarness,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    h, table = sqlite_h, f"{sqlite_h.name}.rows"
    clock = Clock()
    cluster = Cluster(k10="c1/topic-A")
    task = h.task(iceberg__tables=table, identities=cluster.source(), clock=clock,
                  iceberg__control__commit__interval_ms="60000")
    h.deliver(task, batch(range(0, 100)))
    clock.now += 61
    h.deliver(task, batch(range(100, 200)))  # commits 0..199
    h.deliver(task, batch(range(200, 300)))  # pending: acknowledged to Kafka, not yet in a snapshot
    assert len(ids(h, table)) == 200 and len(h.pending()) == 1

    cluster.now[TOPIC] = "c1/topic-B"
    caplog.set_level(logging.WARNING, logger=positions.__name__)
    h.deliver(task, batch(range(0, 50), base=10_000))
    assert ids(h, table) == list(range(300)), "the old incarnation's pending records reached the table"
    assert len(h.pending()) == 1 and reset_warnings(caplog)
    clock.now += 61
    task.idle()
    assert ids(h, table) == list(range(300)) + list(range(10_000, 10_050))
    assert summary(h, table) == ({TOPIC: {"0": 50}}, {TOPIC: "c1/topic-B"}) and h.pending() == {}
    h.deliver(task, batch(range(0, 50), base=10_000))  # redelivered after the commit: one copy
    clock.now += 61
    task.idle()
    assert len(ids(h, table)) == 350


def test_altering_offsets_keeps_the_identity(sqlite_h: IcebergHarness) -> None:
    h, table = sqlite_h, f"{sqlite_h.name}.rows"
    cluster = Cluster(k10="c1/topic-A")
    h.deliver(h.task(iceberg__tables=table, identities=cluster.source()), batch(range(10)))
    assert IcebergSinkConnector().alter_offsets(h.props(iceberg__tables=table), {(TOPIC, 0): 5}) is True
    assert summary(h, table) == ({TOPIC: {"0": 5}}, {TOPIC: "c1/topic-A"})
    h.deliver(h.task(iceberg__tables=table, identities=cluster.source()), batch(range(5, 10)))
    assert ids(h, table).count(7) == 2  # rewound on purpose: written again, no reset suspected
