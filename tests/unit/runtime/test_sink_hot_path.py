"""The sink worker's per-record hot path must behave exactly like the plain per-record path.

The worker converts with ``RecordConverters.sink_reader()`` and transforms with
``TransformChain.apply_owned`` (which may store the edited map into the record it is handed);
a failing record continues on the slow path with the failure in hand. These tests pin what
a user would notice: the same records and errors as ``apply``/``to_sink_record``, the input
map never edited, the deadline stopping at the exact record, offsets per partition.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA
from lambda_connect.api.records import ConnectRecord, SinkRecord
from lambda_connect.runtime.conversion import RecordConverters
from lambda_connect.runtime.errors import Stage, StageError
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.sink_worker import BatchDeadlineError, ConsumedRecord, _next_offsets

from tests.unit.runtime.test_chain_fusion import CHAINS, T, build, one_by_one, random_record, through_chain
from tests.unit.runtime.test_sink_worker import Harness, good

JSON = "org.apache.kafka.connect.json.JsonConverter"
STRING = "org.apache.kafka.connect.storage.StringConverter"


def owned_outcome(chain: Any, record: ConnectRecord) -> Any:
    """The chain's ``apply_owned`` outcome, in ``through_chain``'s shape: a record or an error tuple."""
    return through_chain(SimpleNamespace(apply=chain.apply_owned), record)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_apply_owned_gives_the_records_and_errors_of_the_transforms_one_by_one(name: str) -> None:
    chain = build(CHAINS[name])
    # Two generators with one seed: apply_owned may edit its record, the reference must not see that.
    owned_rng, reference_rng = random.Random(f"owned-{name}"), random.Random(f"owned-{name}")
    for _ in range(800):
        record, twin = random_record(owned_rng), random_record(reference_rng)
        key, value = record.key, record.value
        key_before, value_before = repr(key), repr(value)
        expected, actual = one_by_one(chain, twin), owned_outcome(chain, record)
        assert repr(actual) == repr(expected)
        assert (repr(key), repr(value)) == (key_before, value_before)  # the converter's maps are never edited


def test_apply_owned_stores_the_edited_copy_into_the_record_it_is_handed() -> None:
    chain = build(CHAINS["bench"])
    value = {"order_id": 1, "cust": "c-1", "amount": "12.50", "qty": "3", "created": 1_732_521_600_000}
    record = SinkRecord("orders", 0, None, "k", None, value, 42, 1000)
    out = chain.apply_owned(record)
    assert out is record
    assert out.value == {"order_id": 1, "customer_id": "c-1", "amount": 12.5, "qty": 3,
                         "created": 1_732_521_600_000, "src_topic": "orders", "src_offset": 42}
    assert value["cust"] == "c-1" and "src_topic" not in value  # the converter's map is not edited


def test_apply_owned_leaves_a_record_whose_plan_fails_untouched_and_names_the_transform() -> None:
    chain = build(CHAINS["bench"])
    value = {"amount": "12,5", "qty": "1", "created": 1}
    record = SinkRecord("orders", 0, None, None, None, value, 0)
    with pytest.raises(StageError) as info:
        chain.apply_owned(record)
    assert info.value.plugin_class == T + "Cast$Value"
    assert record.value is value and value == {"amount": "12,5", "qty": "1", "created": 1}


def test_only_a_leading_fused_stage_may_edit_the_callers_record() -> None:
    chain = build({
        "transforms": "mask,insert",
        "transforms.mask.type": T + "HoistField$Value", "transforms.mask.field": "inner",
        "transforms.insert.type": T + "InsertField$Value", "transforms.insert.static.field": "origin",
        "transforms.insert.static.value": "lc",
    })
    record = SinkRecord("orders", 0, None, None, None, {"a": 1}, 0)
    out = chain.apply_owned(record)
    assert out.value == {"inner": {"a": 1}, "origin": "lc"}
    assert record.value == {"a": 1} and out is not record


def converters() -> RecordConverters:
    return RecordConverters.from_config({"key.converter": STRING, "value.converter": JSON,
                                         "value.converter.schemas.enable": "false"}, Registry.default())


@pytest.mark.parametrize(("key", "value", "headers"), [
    (b"k", b'{"a": 1}', [("h", b"x"), ("n", None)]), (None, None, []), (None, b"", ()),
    (bytearray(b"k"), b"[1, 2]", []), (b"k", b"0012", []),
])
def test_sink_reader_reads_like_to_sink_record(key: Any, value: Any, headers: Any) -> None:
    c = converters()
    consumed = ConsumedRecord("t", 3, 9, 1000, "LOG_APPEND_TIME", key, value, headers)
    expected = c.to_sink_record("t", 3, 9, 1000, "LOG_APPEND_TIME", key, value, headers)
    assert c.sink_reader()(consumed) == expected


def test_string_keys_read_directly_and_bad_text_still_fails_the_key_converter_stage() -> None:
    c = converters()
    assert c.key.direct_reader()[0] is OPTIONAL_STRING_SCHEMA
    record = c.sink_reader()(ConsumedRecord("t", 0, 0, None, "CREATE_TIME", "é".encode(), None))
    assert (record.key_schema, record.key) == (OPTIONAL_STRING_SCHEMA, "é")
    with pytest.raises(Exception) as direct:
        c.key.to_connect_data("t", b"\xff\xfe")
    with pytest.raises(StageError) as info:
        c.sink_reader()(ConsumedRecord("t", 0, 0, None, "CREATE_TIME", b"\xff\xfe", None))
    assert info.value.stage is Stage.KEY_CONVERTER and info.value.plugin_class == STRING
    assert info.value.message == str(direct.value)


def test_next_offsets_are_per_partition_whatever_the_order() -> None:
    records = [ConsumedRecord("a", 0, 5, None, "CREATE_TIME", None, None),
               ConsumedRecord("a", 1, 3, None, "CREATE_TIME", None, None),
               ConsumedRecord("a", 0, 7, None, "CREATE_TIME", None, None),
               ConsumedRecord("a", 0, 6, None, "CREATE_TIME", None, None),
               ConsumedRecord("b", 0, 1, None, "CREATE_TIME", None, None)]
    assert _next_offsets(records, 5) == {("a", 0): 8, ("a", 1): 4, ("b", 0): 2}
    assert _next_offsets(records, 2) == {("a", 0): 6, ("a", 1): 4}
    assert _next_offsets(records, 0) == {}


class SteppingClock:
    """Advances one second per reading: the worker reads it once per record (and a few times
    around the batch), so a deadline falls on a known record."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_deadline_stops_at_the_exact_record_it_passes_on(tmp_path: Path) -> None:
    h = Harness(tmp_path, **{"lambda.report.batch.item.failures": "true", "lambda.provisioned.pollers.min": "1"})
    h.worker._clock = SteppingClock()
    # The deadline is read at 1 s: 1 + (9000 - 5000) / 1000 = 5 s; records 0, 1, 2 read 3, 4, 5 s.
    result = h.worker.process("c1", [good(i) for i in range(6)], dlq_transport=h.transport,
                              remaining_ms=lambda: 9000.0)
    assert [r.offset for r in result.item_failures] == [2]
    assert h.lines() == ["{id=0}", "{id=1}"]
    (tmp_path / "none").mkdir()
    h2 = Harness(tmp_path / "none")
    h2.worker._clock = SteppingClock()
    with pytest.raises(BatchDeadlineError, match="ran out of time after 2 of 6 record\\(s\\); the rest \\(from "
                                                 "orders-0@2\\)"):
        h2.worker.process("c1", [good(i) for i in range(6)], dlq_transport=h2.transport,
                          remaining_ms=lambda: 9000.0)


def test_a_batch_mixing_good_failing_and_dropped_records_keeps_record_order(tmp_path: Path) -> None:
    h = Harness(tmp_path, **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "c1-dlq",
        "errors.deadletterqueue.topic.replication.factor": "1",
        "transforms": "drop,cast", "transforms.drop.type": "org.apache.kafka.connect.transforms.Filter",
        "transforms.drop.predicate": "isTomb", "predicates": "isTomb",
        "predicates.isTomb.type": "RecordIsTombstone",
        "transforms.cast.type": T + "Cast$Value", "transforms.cast.spec": "id:int32",
    })
    batch = [good(0), ConsumedRecord("orders", 0, 1, None, "CREATE_TIME", None, b'{"id": "x"}'),
             ConsumedRecord("orders", 0, 2, None, "CREATE_TIME", None, None), good(3),
             ConsumedRecord("orders", 0, 4, None, "CREATE_TIME", None, b"{broken"), good(5)]
    result = h.run(batch)
    assert h.lines() == ["{id=0}", "{id=3}", "{id=5}"]
    assert (result.written, result.dropped, result.dead_lettered, result.failed) == (3, 1, 2, 2)
    assert [d["value"] for d in h.transport.delivered] == [b'{"id": "x"}', b"{broken"]
