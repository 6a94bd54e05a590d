"""Issue 11, defects 1 and 10, as a user meets them: ``lambda-connect up`` in-process, driven
through its REST API and Kafka, a JDBC sink into SQLite.

1. A new embedded broker (restart of ``up``) has empty topics: the sink's marks from the old
   broker must not swallow the new records.
2. Stop, rewind the sink's offsets, delete a row, resume: the row comes back.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_connect.aws.kafka_clients import ensure_topic
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions
from lambda_connect.plugins.connectors import positions

from tests.fixtures.broker import CONSUMER_TIMINGS, produce

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def wait_for(condition: Callable[[], bool], timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout}s")


@pytest.fixture
def start_runtime(tmp_path: Path) -> Iterator[Callable[..., LocalRuntime]]:
    started: list[LocalRuntime] = []

    def start(bootstrap: str | None = None) -> LocalRuntime:
        options = RuntimeOptions(state_url=f"sqlite:///{tmp_path}/state.db", port=0, bootstrap_servers=bootstrap,
                                 reconcile_interval=2.0, broker_log=tmp_path / f"tansu-{len(started)}.log",
                                 esm_consumer_overrides=CONSUMER_TIMINGS if bootstrap else None)
        runtime = LocalRuntime(options).start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop(20)


def sink_config(topic: str, db: Path, **extra: str) -> dict[str, str]:
    return {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": topic,
            "connection.url": f"jdbc:sqlite:{db}", "auto.create": "true", "insert.mode": "insert",
            "table.name.format": "rows", "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false", "lambda.maximum.batching.window.seconds": "0", **extra}


def ids(db: Path) -> list[int]:
    try:
        with sqlite3.connect(db) as conn:
            return sorted(r[0] for r in conn.execute("SELECT id FROM rows"))
    except sqlite3.OperationalError:  # not created yet
        return []


def create_topic(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient

    ensure_topic(AdminClient({"bootstrap.servers": bootstrap}), topic, 1, 1)


def values(numbers: range) -> list[tuple[None, str]]:
    return [(None, json.dumps({"id": i})) for i in numbers]


def test_a_new_embedded_broker_does_not_swallow_new_records(start_runtime: Any, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "out.db"
    runtime = start_runtime()
    create_topic(runtime.bootstrap_servers, "k10")
    r = requests.post(f"{runtime.url}/connectors", json={"name": "sink", "config": sink_config("k10", db)},
                      timeout=30)
    assert r.status_code == 201, r.text
    produce(runtime.bootstrap_servers, "k10", values(range(3000)))
    wait_for(lambda: len(ids(db)) == 3000, what="3,000 rows from the first broker")
    runtime.stop(20)

    caplog.set_level(logging.WARNING, logger=positions.__name__)
    runtime = start_runtime()  # `up` again: a new embedded broker, empty topics, same state and target
    create_topic(runtime.bootstrap_servers, "k10")
    produce(runtime.bootstrap_servers, "k10", values(range(10_000, 11_000)))
    wait_for(lambda: len(ids(db)) == 4000, what="the 1,000 records of the new broker")
    assert ids(db) == list(range(3000)) + list(range(10_000, 11_000))
    warnings = [r.getMessage() for r in caplog.records if r.name == positions.__name__]
    assert warnings and "Topic k10 was reset" in warnings[0] and "offset 2999" in warnings[0]


def test_rewinding_a_stopped_sink_replays_into_the_target(kafka_broker: str, kafka_topic: Any, start_runtime: Any,
                                                          tmp_path: Path) -> None:
    # ``kafka_topic`` before ``start_runtime``: the runtime stops before the topic is deleted. A
    # librdkafka consumer subscribed to a topic that tansu deletes crashes the process (SIGSEGV in
    # its metadata cache; librdkafka 2.16.0), so the mapping's consumer must be gone by then.
    db, topic = tmp_path / "out.db", kafka_topic(prefix="rewind")
    produce(kafka_broker, topic, values(range(10)))
    runtime = start_runtime(kafka_broker)
    url = runtime.url
    config = sink_config(topic, db, **{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
    assert requests.post(f"{url}/connectors", json={"name": "sink", "config": config}, timeout=30).status_code == 201
    wait_for(lambda: ids(db) == list(range(10)), what="10 rows")

    def committed() -> list[Any]:
        return requests.get(f"{url}/connectors/sink/offsets", timeout=30).json().get("offsets", [])

    wait_for(lambda: [o["offset"]["kafka_offset"] for o in committed()] == [10], what="offset 10 committed")
    assert requests.put(f"{url}/connectors/sink/stop", timeout=10).status_code == 204
    body = {"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 0}}]}
    replies: list[Any] = []

    def altered() -> bool:  # the mapping's consumer leaves the group shortly after the stop
        replies.append(requests.patch(f"{url}/connectors/sink/offsets", json=body, timeout=30))
        return replies[-1].status_code == 200

    wait_for(altered, what="PATCH offsets accepted")
    assert replies[-1].json() == {"message": "The offsets for this connector have been altered successfully"}
    for early in replies[:-1]:  # refused while the mapping's consumer was still in the group: nothing moved
        assert early.status_code == 500 and "try again" in early.json()["message"], early.text
    assert [o["offset"]["kafka_offset"] for o in committed()] == [0]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM rows WHERE id = 3")
    assert 3 not in ids(db)

    assert requests.put(f"{url}/connectors/sink/resume", timeout=10).status_code == 202
    wait_for(lambda: ids(db) == list(range(10)), what="row 3 written again after the rewind")
