"""Type conflicts are decided per record against the table: a good record never pays for a bad one.

Issue 11, defect 11: schemaless JSON into PostgreSQL table ``d(id bigint)``; ``{"id":"abc"}``
and ``{"id":3}`` in one batch. Before, both were dead-lettered (the good one for "conflicting
types across records") and with ``errors.tolerance=none`` the trace blamed the good record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.plugins.connectors.jdbc.urls import engine_for
from lambda_connect.runtime.errors import StageError
from sqlalchemy import text

from tests.fixtures.sink_input import DLQ_CONFIG, SinkRig, raw_record


@pytest.fixture
def table(postgres_url: str, unique_name: str) -> Iterator[str]:
    engine = engine_for(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE TABLE "{unique_name}" (id bigint)'))
    yield unique_name
    with engine.begin() as conn:
        conn.execute(text(f'DROP TABLE IF EXISTS "{unique_name}"'))
        conn.execute(text(f"DELETE FROM __lambda_connect_sink_offsets WHERE connector = '{unique_name}'"))


def rig(postgres_url: str, table: str, **config: str) -> SinkRig:
    return SinkRig(table, {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "connection.url": postgres_url,
        "topics": "d", "table.name.format": table, "insert.mode": "insert",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter", **config,
    })


def batch(*values: bytes) -> dict[str, Any]:
    return {"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9",
            "records": {"d-0": [raw_record("d", 0, i, v) for i, v in enumerate(values)]}}


def ids(postgres_url: str, table: str) -> list[Any]:
    with engine_for(postgres_url).connect() as conn:
        return [r[0] for r in conn.execute(text(f'SELECT id FROM "{table}" ORDER BY id'))]


@pytest.mark.parametrize("order", ["bad first", "good first"])
def test_only_the_bad_record_is_dead_lettered(postgres_url: str, table: str, order: str) -> None:
    sink = rig(postgres_url, table, **DLQ_CONFIG)
    bad, good = b'{"id":"abc"}', b'{"id":3}'
    sink(batch(bad, good) if order == "bad first" else batch(good, bad))
    assert ids(postgres_url, table) == [3]
    bad_offset = 0 if order == "bad first" else 1
    assert sink.transport.dead_lettered() == [("d", 0, bad_offset)]
    assert [m["value"] for m in sink.transport.delivered] == [bad]


def test_with_tolerance_none_the_error_names_the_bad_record(postgres_url: str, table: str) -> None:
    sink = rig(postgres_url, table)
    with pytest.raises(StageError) as info:
        sink(batch(b'{"id":"abc"}', b'{"id":3}'))
    assert "(topic=d, partition=0, offset=0)" in str(info.value)
    assert "offset=1" not in str(info.value)
    assert "conflicting types" not in str(info.value)
    assert "FAILED" in [s.state for s in sink.store.get_task_statuses(table).values()]
    assert "offset=1" not in sink.traces()[0]
    assert ids(postgres_url, table) == []  # nothing of the failed batch is committed


def test_many_good_records_around_bad_ones_all_land(postgres_url: str, table: str) -> None:
    sink = rig(postgres_url, table, **DLQ_CONFIG)
    values = [b'{"id":"x%d"}' % i if i % 10 == 3 else b'{"id":%d}' % i for i in range(50)]
    sink(batch(*values))
    assert ids(postgres_url, table) == [i for i in range(50) if i % 10 != 3]
    assert [o for _, _, o in sink.transport.dead_lettered()] == [3, 13, 23, 33, 43]


def test_a_new_table_takes_the_first_records_type_and_decides_the_rest_against_it(
    postgres_url: str, unique_name: str
) -> None:
    sink = rig(postgres_url, unique_name, **{**DLQ_CONFIG, "auto.create": "true"})
    try:
        sink(batch(b'{"id":3}', b'{"id":"abc"}', b'{"id":4}'))
        assert ids(postgres_url, unique_name) == [3, 4]
        assert sink.transport.dead_lettered() == [("d", 0, 1)]
    finally:
        with engine_for(postgres_url).begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{unique_name}"'))
            conn.execute(text(f"DELETE FROM __lambda_connect_sink_offsets WHERE connector = '{unique_name}'"))
