"""What the sink handler refuses in a Kafka event, end to end into a real SQLite table (issue 11).

Each test is one defect as a user met it: the event goes through ``SinkHandler`` (the sink
task Lambda), a JsonConverter and the JDBC sink, and the test counts the rows that landed,
the records that were dead-lettered and what the error says.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.aws.kafka_event import MalformedEventError
from lambda_connect.runtime.sink_worker import RecordFailedError

from tests.fixtures.sink_input import DLQ_CONFIG, SinkRig, raw_record


def jdbc_rig(tmp_path: Path, **config: str) -> tuple[SinkRig, Path]:
    db = tmp_path / "out.db"
    rig = SinkRig("orders-db", {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "connection.url": f"jdbc:sqlite:{db}", "topics": "orders", "auto.create": "true",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter", **config,
    })
    return rig, db


def rows(db: Path, table: str = "orders") -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(f'SELECT * FROM "{table}" ORDER BY 1'))


def tables(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def order(offset: int, partition: int = 0, **fields: Any) -> dict[str, Any]:
    return raw_record("orders", partition, offset, b'{"id":%d}' % offset, **fields)


def kafka_event(records: dict[str, list[Any]]) -> dict[str, Any]:
    return {"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9", "records": records}


# --- defect 7: one record filed under two spellings of its key ------------------------------------


def test_the_same_coordinates_under_two_keys_are_written_once(tmp_path: Path) -> None:
    rig, db = jdbc_rig(tmp_path)
    rig(kafka_event({"orders-0": [order(0), order(1), order(2)], "orders-00": [order(0), order(1), order(2)]}))
    assert rows(db) == [(0,), (1,), (2,)]


# --- defect 8: offsets outside Kafka's range -------------------------------------------------------


def test_offset_minus_one_after_five_good_records_is_refused_by_name(tmp_path: Path) -> None:
    rig, db = jdbc_rig(tmp_path, **DLQ_CONFIG)
    rig(kafka_event({"orders-0": [*[order(i) for i in range(5)], order(-1)]}))
    assert rows(db) == [(0,), (1,), (2,), (3,), (4,)]
    (message,) = rig.transport.messages()
    assert "field 'offset'" in message and "orders-0@-1" in message  # refused, not counted as a duplicate


def test_offset_two_to_the_63_is_refused_by_name_and_nothing_is_written(tmp_path: Path) -> None:
    rig, db = jdbc_rig(tmp_path)
    with pytest.raises(RecordFailedError) as info:
        rig(kafka_event({"orders-0": [order(0), order(2**63)]}))
    assert f"field 'offset' must be between 0 and {2**63 - 1}, got {2**63}" in str(info.value)
    assert "orders" not in tables(db)


# --- defect 17: event fields that amplify or lie ---------------------------------------------------


def test_an_integer_header_value_is_refused_not_inflated(tmp_path: Path) -> None:
    rig, db = jdbc_rig(tmp_path, **DLQ_CONFIG)
    rig(kafka_event({"orders-0": [order(0), order(1, headers=[{"h": 20_000_000}])]}))
    assert rows(db) == [(0,)]
    (dead,) = rig.transport.delivered
    assert "headers[0]" in dict(dead["headers"])["__connect.errors.exception.message"].decode()
    assert sum(len(v or b"") for _, v in dead["headers"]) < 100_000  # no 20 MB header anywhere


def test_a_record_under_another_partitions_key_does_not_move_that_partitions_mark(tmp_path: Path) -> None:
    rig, db = jdbc_rig(tmp_path, **DLQ_CONFIG)
    rig(kafka_event({"orders-0": [order(0), order(1000, partition=1)]}))  # a partition-1 record under orders-0
    rig(kafka_event({"orders-1": [order(5, partition=1)]}))  # the real partition 1, later
    assert rows(db) == [(0,), (5,)]
    assert rig.transport.dead_lettered() == [("orders", 0, 1000)]


@pytest.mark.parametrize(("key", "partition"), [("orders-0", -1), ("orders--1", -1), ("orders-2147483648", 2**31)])
def test_partitions_outside_int32_are_refused(tmp_path: Path, key: str, partition: int) -> None:
    rig, db = jdbc_rig(tmp_path)
    with pytest.raises(RecordFailedError, match=r"field '(partition|topic)'"):
        rig(kafka_event({"orders-0": [order(0)], key: [order(1, partition=partition)]}))
    assert "orders" not in tables(db)


@pytest.mark.parametrize("event", [["aws:kafka"], "records", 7, None])
def test_an_event_that_is_not_an_object_is_a_clear_error(tmp_path: Path, event: Any) -> None:
    rig, db = jdbc_rig(tmp_path)
    with pytest.raises(MalformedEventError, match="field 'event' must be an object"):
        rig.handler(event, None)
    assert not tables(db)


@pytest.mark.parametrize("records", [None, [], "orders-0"])
def test_an_event_without_a_records_object_is_a_clear_error(tmp_path: Path, records: Any) -> None:
    rig, db = jdbc_rig(tmp_path)
    raw = {"eventSource": "aws:kafka"} if records is None else {"eventSource": "aws:kafka", "records": records}
    with pytest.raises(MalformedEventError, match="field 'records'"):
        rig(raw)
    assert not tables(db)


def test_the_warm_handler_serves_the_next_good_event(tmp_path: Path) -> None:
    rig, db = jdbc_rig(tmp_path)
    with pytest.raises(MalformedEventError):
        rig.handler(["aws:kafka"], None)
    with pytest.raises(RecordFailedError):
        rig(kafka_event({"orders-0": [order(0, headers=[{"h": 5}])]}))
    rig(kafka_event({"orders-0": [order(0), order(1)]}))
    assert rows(db) == [(0,), (1,)]
