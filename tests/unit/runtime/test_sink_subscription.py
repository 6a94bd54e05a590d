"""A sink writes only the topics it subscribes to, whatever the event claims (issue 11, defect 6)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.runtime.sink_worker import RecordFailedError
from lambda_connect.runtime.subscription import Subscription

from tests.fixtures.sink_input import DLQ_CONFIG, SinkRig, raw_record


def jdbc_rig(tmp_path: Path, **config: str) -> tuple[SinkRig, Path]:
    db = tmp_path / "out.db"
    base = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "connection.url": f"jdbc:sqlite:{db}", "auto.create": "true",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    }
    return SinkRig("orders-db", {**base, **config}), db


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                if not name.startswith("__")}


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def rec(topic: str, offset: int, partition: int = 0) -> dict[str, Any]:
    return raw_record(topic, partition, offset, b'{"id":%d}' % offset)


def kafka_event(records: dict[str, list[Any]]) -> dict[str, Any]:
    return {"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9", "records": records}


@pytest.mark.parametrize("subscription", [{"topics": "orders"}, {"topics.regex": "ord.*"}])
def test_records_of_a_foreign_topic_are_dead_lettered_and_no_table_is_made(tmp_path: Path,
                                                                           subscription: dict[str, str]) -> None:
    rig, db = jdbc_rig(tmp_path, **subscription, **DLQ_CONFIG)
    rig(kafka_event({"orders-0": [rec("orders", 0), rec("orders", 1)], "payments-3": [rec("payments", 7, 3)]}))
    assert tables(db) == {"orders"}
    assert count(db, "orders") == 2
    assert rig.transport.dead_lettered() == [("payments", 3, 7)]
    (message,) = rig.transport.messages()
    assert "payments-3@7" in message and "does not read" in message
    assert rig.store.get_active_topics("orders-db") == {"orders"}


def test_with_tolerance_none_the_batch_fails_naming_the_foreign_record(tmp_path: Path) -> None:
    rig, db = jdbc_rig(tmp_path, topics="orders")
    with pytest.raises(RecordFailedError, match=r"payments-0@4 .*topics=orders"):
        rig(kafka_event({"orders-0": [rec("orders", 0)], "payments-0": [rec("payments", 4)]}))
    assert tables(db) == set()


def test_a_record_naming_a_foreign_topic_under_a_subscribed_key_is_refused(tmp_path: Path) -> None:
    rig, db = jdbc_rig(tmp_path, topics="orders", **DLQ_CONFIG)
    rig(kafka_event({"orders-0": [rec("orders", 0), rec("payments", 1)]}))
    assert tables(db) == {"orders"}
    assert count(db, "orders") == 1
    (message,) = rig.transport.messages()
    assert "field 'topic'" in message


def test_the_regex_never_matches_internal_topics_or_the_dlq() -> None:
    subscription = Subscription([], ".*", dlq_topic="sink-dlq")
    assert "orders" in subscription
    assert "__consumer_offsets" not in subscription
    assert "sink-dlq" not in subscription
    assert "orders" in Subscription(["orders", " payments "]) and "payments" in Subscription(["orders", " payments "])
    assert "order" not in Subscription([], "orders?x")
    assert "ordersx" in Subscription([], "orders?x")
