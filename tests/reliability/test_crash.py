"""Scenario 7 — the local runtime killed. ``lambda-connect up`` runs a datagen source (3,000 records)
into a 3-partition topic on a broker it was given (``--bootstrap-servers``: a tansu this test
started, which outlives the runtime) and a JDBC sink into SQLite; it gets SIGKILL while records are
in flight, is started again, and the target must end with every record of the topic exactly once
(counted by topic, partition and offset) and the topic with every iteration of the source at
least once.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import COORDINATES, JSON_VALUES, read_topic
from .ledger import Ledger, record_figure
from .soak import Up

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ITERATIONS = 3000


@pytest.fixture
def external_broker() -> Iterator[str]:
    from lambda_connect.local.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


def rows(db: Path) -> list[tuple[str, int, int]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return [(t, int(p), int(o)) for t, p, o in conn.execute("SELECT kt, kp, ko FROM pageviews")]
    except sqlite3.OperationalError:  # the table does not exist yet
        return []


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached within {timeout}s")


def test_sigkill_of_up_mid_pipeline_then_restart(tmp_path: Path, external_broker: str) -> None:
    from confluent_kafka.admin import AdminClient
    from lambda_connect.aws.kafka_clients import ensure_topic

    topic, db = "crash-pageviews", tmp_path / "target.db"
    ensure_topic(AdminClient({"bootstrap.servers": external_broker}), topic, 3, 1)
    files = []
    for name, config in {
        "crash-source": {"connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector",
                         "kafka.topic": topic, "quickstart": "pageviews", "iterations": str(ITERATIONS),
                         "max.interval": "2", "random.seed": "3", **JSON_VALUES},
        "crash-sink": {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": topic,
                       "connection.url": f"jdbc:sqlite:{db}", "auto.create": "true", "insert.mode": "insert",
                       "pk.mode": "none", "table.name.format": "pageviews", "lambda.batch.size": "100",
                       "lambda.maximum.batching.window.seconds": "0", **JSON_VALUES, **COORDINATES},
    }.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"name": name, "config": config}))
        files.append(path)

    up = Up(tmp_path, external_broker, files, 1)
    try:
        wait_for(lambda: len(rows(db)) >= 300, 300, "300 rows in the target")
        up.process.send_signal(signal.SIGKILL)
        up.process.wait(30)
        killed_at = len(rows(db))
        up = Up(tmp_path, external_broker, files, 2)
        restarted = time.monotonic()
        wait_for(lambda: len(rows(db)) > killed_at, 150, "a first row after the restart")
        resumed_in = round(time.monotonic() - restarted, 1)

        def produced() -> Counter[int]:
            return Counter((json.loads(m.value())["viewtime"] - 1) // 10 for m in read_topic(external_broker, topic))

        wait_for(lambda: set(produced()) >= set(range(ITERATIONS)), 240, f"all {ITERATIONS} iterations in the topic")
        messages = read_topic(external_broker, topic, ITERATIONS)
        ledger = Ledger()
        for m in messages:
            ledger.add(m.topic(), m.partition(), m.offset())
        wait_for(lambda: set(rows(db)) >= ledger.good, 240, "every record of the topic in the target")
        up.interrupt()
    finally:
        if up.process.poll() is None:
            up.process.kill()
    iterations = produced()
    assert set(iterations) == set(range(ITERATIONS)), "the source skipped iterations"
    verdict = ledger.assert_delivered(rows(db))
    record_figure("crash/sigkill-up", verdict, faults=1, killed_at_rows=killed_at, resumed_in_s=resumed_in,
                  source_produced_twice=sum(n - 1 for n in iterations.values() if n > 1))
