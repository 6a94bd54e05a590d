"""Datagen source: reproducible sequences, iteration limits, resume from offsets, valid schemas."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from lambda_connect.api import ConfigException, OffsetStorageReader, SourceRecord, SourceTaskContext, Struct, Type
from lambda_connect.plugins.connectors.datagen.connector import DatagenConnector, DatagenTask


class MemoryOffsets(OffsetStorageReader):
    def __init__(self) -> None:
        self.committed: dict[str, dict[str, Any]] = {}

    @staticmethod
    def key(partition: Mapping[str, Any]) -> str:
        return json.dumps(partition, sort_keys=True)

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> dict[Any, dict[str, Any] | None]:
        return {self.key(p): self.committed.get(self.key(p)) for p in partitions}

    def commit(self, records: Sequence[SourceRecord]) -> None:
        for r in records:
            self.committed[self.key(r.source_partition or {})] = dict(r.source_offset or {})


def config(**extra: str) -> dict[str, str]:
    return {"kafka.topic": "orders", "quickstart": "orders", "max.interval": "0", "random.seed": "42", **extra}


def run(props: Mapping[str, str], offsets: MemoryOffsets | None = None, polls: int = 50) -> list[SourceRecord]:
    offsets = offsets if offsets is not None else MemoryOffsets()
    task = DatagenTask()
    task.initialize(SourceTaskContext("datagen", 0, props, offsets))
    task.start(props)
    out: list[SourceRecord] = []
    for _ in range(polls):
        batch = task.poll()
        if not batch:
            break
        offsets.commit(batch)
        out.extend(batch)
    task.stop()
    return out


def plain(records: Sequence[SourceRecord]) -> list[Any]:
    return [(r.key, r.value.to_dict() if isinstance(r.value, Struct) else r.value) for r in records]


@pytest.mark.parametrize("quickstart", ["orders", "users", "pageviews"])
def test_quickstart_records_have_valid_struct_values_and_keys(quickstart: str) -> None:
    records = run(config(quickstart=quickstart, iterations="50"))
    assert len(records) == 50
    for r in records:
        assert r.topic == "orders" and r.kafka_partition is None
        assert r.value_schema.type is Type.STRUCT and r.value_schema.name == f"ksql.{quickstart}"
        r.value.validate()
        assert r.key_schema is not None and r.key is not None
    if quickstart == "orders":
        assert [r.key for r in records[:3]] == [0, 1, 2]  # orderid is the iteration, as Confluent's
        address = records[0].value.get("address")
        assert isinstance(address, Struct) and address.get("city").startswith("City_")
        assert all(0.1 <= r.value.get("orderunits") <= 10.0 for r in records)
    if quickstart == "users":
        assert {r.value.get("gender") for r in records} <= {"MALE", "FEMALE", "OTHER"}
        assert len({r.key for r in records}) > 1
    if quickstart == "pageviews":
        assert [r.value.get("viewtime") for r in records[:3]] == [1, 11, 21]


def test_same_seed_same_data_and_different_seed_different_data() -> None:
    a = plain(run(config(iterations="20")))
    assert a == plain(run(config(iterations="20")))
    assert a != plain(run(config(iterations="20", **{"random.seed": "43"})))


def test_iterations_limit_stops_the_task() -> None:
    offsets = MemoryOffsets()
    records = run(config(iterations="7"), offsets)
    assert len(records) == 7
    assert run(config(iterations="7"), offsets) == []  # a later invocation has nothing left to do


def test_resumed_task_continues_the_same_sequence() -> None:
    whole = plain(run(config(iterations="30")))
    offsets = MemoryOffsets()
    task = DatagenTask()
    props = config(iterations="30")
    task.initialize(SourceTaskContext("datagen", 0, props, offsets))
    task.start(props)
    first = (task.poll() or [])[:12]  # the runtime acknowledged only 12 records, then the invocation ended
    offsets.commit(first)
    task.stop()
    assert first[-1].source_partition == {"task.id": 0}
    assert first[-1].source_offset == {"task.generation": 0, "current.iteration": 12, "random.seed": 42}
    rest = run(props, offsets)
    assert plain(first) + plain(rest) == whole
    assert rest[0].source_offset["task.generation"] == 1


def test_seed_picked_at_first_start_is_kept_in_the_offset() -> None:
    props = config(iterations="10")
    del props["random.seed"]
    offsets = MemoryOffsets()
    task = DatagenTask()
    task.initialize(SourceTaskContext("datagen", 0, props, offsets))
    task.start(props)
    first = (task.poll() or [])[:4]
    offsets.commit(first)
    seed = first[0].source_offset["random.seed"]
    rest = run(props, offsets)
    assert plain(first) + plain(rest) == plain(run(dict(props, **{"random.seed": str(seed)})))


def test_tasks_generate_distinct_sequences() -> None:
    connector = DatagenConnector()
    connector.start(config(iterations="5", quickstart="users"))
    configs = connector.task_configs(2)
    assert [c["task.id"] for c in configs] == ["0", "1"]
    a, b = run(configs[0]), run(configs[1])
    assert a[0].source_partition == {"task.id": 0} and b[0].source_partition == {"task.id": 1}
    assert plain(a) != plain(b)


def test_malformed_rate_is_deterministic_and_keeps_the_rest_of_the_data() -> None:
    records = run(config(iterations="200", **{"malformed.rate": "0.25"}))
    bad = [i for i, r in enumerate(records) if not isinstance(r.value, Struct)]
    assert 20 <= len(bad) <= 80
    assert all(records[i].value_schema.type is Type.STRING and isinstance(records[i].value, str) for i in bad)
    again = run(config(iterations="200", **{"malformed.rate": "0.25"}))
    assert bad == [i for i, r in enumerate(again) if not isinstance(r.value, Struct)]
    clean = run(config(iterations="200"))
    good = [i for i in range(200) if i not in bad]
    assert [plain(records)[i] for i in good] == [plain(clean)[i] for i in good]
    assert all(isinstance(r.value, Struct) for r in clean)


def test_max_interval_schedules_records_instead_of_sleeping() -> None:
    props = config(iterations="1000", **{"max.interval": "3600000"})
    task = DatagenTask()
    task.initialize(SourceTaskContext("datagen", 0, props, MemoryOffsets()))
    task.start(props)
    first = task.poll()
    assert first is not None and len(first) == 1  # the first record is due at once
    assert task.poll() is None  # seed 42 schedules the next record minutes later: nothing is due
    task.stop()


def test_config_rejects_unknown_quickstart_and_bad_rate() -> None:
    with pytest.raises(ConfigException) as info:
        DatagenConnector().start(config(quickstart="nope", **{"malformed.rate": "1.5"}))
    assert {"quickstart", "malformed.rate"} <= set(info.value.errors)
