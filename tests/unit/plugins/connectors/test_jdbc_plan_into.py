"""``FieldsExtractor.plan_into`` (bunches for runs of one shape) gives what ``plan`` gives record by record."""

from __future__ import annotations

import decimal
import random
from typing import Any

import pytest
from lambda_connect.api import Schema, SinkRecord, Struct, Type
from lambda_connect.plugins.connectors.jdbc.schema_mapping import Bunch, Failed, FieldsExtractor, RowPlan

ROW = Schema.struct([("id", Schema(Type.INT32)), ("name", Schema(Type.STRING, optional=True))], name="Row")


def extractor(mode: str) -> FieldsExtractor:
    pk_fields = {"record_value": ["id"], "record_key": ["k"], "kafka": [], "none": []}[mode]
    return FieldsExtractor(table_format="t_${topic}", pk_mode=mode, pk_fields=pk_fields, whitelist=[],
                           delete_enabled=mode == "record_key")


def random_value(rng: random.Random, i: int) -> Any:
    kind = rng.random()
    if kind < 0.6:
        return {"id": i, "name": f"n{i}", "x": 1.5}
    if kind < 0.7:
        return {"id": i, "name": None, "x": 2.5}  # another shape
    if kind < 0.75:
        return {"id": None, "name": "no key", "x": 1.0}  # a null key field
    if kind < 0.8:
        return {"id": i, "price": decimal.Decimal("1.50")}  # never remembered
    if kind < 0.85:
        return Struct(ROW, {"id": i, "name": "s"})
    if kind < 0.9:
        return None  # a tombstone
    return {"name": f"n{i}", "id": i, "x": 0.5}  # the same fields in another order


def expanded(out: list[Any]) -> list[Any]:
    return [p for e in out for p in (e.plans() if type(e) is Bunch else [e])]


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or a.record is not b.record:
        return False
    if type(a) is Failed:
        return str(a.error) == str(b.error)
    assert isinstance(a, RowPlan)
    return (a.table, a.fields, a.keys, a.columns, dict(a.values), a.delete) == \
        (b.table, b.fields, b.keys, b.columns, dict(b.values), b.delete)


@pytest.mark.parametrize("mode", ["record_value", "none", "record_key", "kafka"])
def test_plan_into_gives_the_plans_of_plan(mode: str) -> None:
    rng = random.Random(mode)
    batched, single = extractor(mode), extractor(mode)
    offset = 0
    for _ in range(40):
        n = rng.choice([1, 2, 5, 50])
        uniform = rng.random() < 0.4  # one shape: one topic, or both topics (two tables)
        topics = rng.choice([["a"], ["b"], ["a", "b"]]) if uniform else ["a", "b"]
        records = [SinkRecord(rng.choice(topics), i % 3, None, i % 4, None,
                              {"id": offset + i, "name": "u", "x": 1.0} if uniform else random_value(rng, offset + i),
                              offset + i) for i in range(n)]
        offset += n
        out: list[Any] = []
        batched.plan_into(records, out)
        want = []
        for r in records:
            try:
                want.append(single.plan(r))
            except Exception as e:
                want.append(Failed(r, e))
        got = expanded(out)
        assert len(got) == len(want)
        assert all(same(g, w) for g, w in zip(got, want))


def test_a_one_shape_batch_becomes_one_bunch_in_record_order() -> None:
    ex = extractor("record_value")
    records = [SinkRecord("a", i % 2, None, None, None, {"id": i, "name": "x"}, i) for i in range(10)]
    first: list[Any] = []
    ex.plan_into(records, first)  # the first record of a shape takes the long way, then joins the bunch
    second: list[Any] = []
    ex.plan_into(records, second)  # the whole-batch check
    for out in (first, second):
        assert [type(e) for e in out] == [Bunch]
        assert out[0].records == records and out[0].values == [r.value for r in records]
        assert out[0].field_types() == {"id": int, "name": str}


def test_a_record_of_another_shape_splits_the_bunches_and_keeps_the_order() -> None:
    ex = extractor("record_value")
    values = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": None}, {"id": None, "v": "c"},
              {"id": 5, "v": "e"}]
    out: list[Any] = []
    ex.plan_into([SinkRecord("a", 0, None, None, None, v, i) for i, v in enumerate(values)], out)
    assert [type(e).__name__ for e in out] == ["Bunch", "Bunch", "Failed", "Bunch"]
    assert [r.kafka_offset for e in out for r in (e.records if type(e) is Bunch else [e.record])] == [0, 1, 2, 3, 4]
    assert "Primary key field 'id'" in str(out[2].error)


def test_puts_before_one_flush_extend_the_last_bunch() -> None:
    ex = extractor("none")
    out: list[Any] = []
    batches = [[SinkRecord("a", 0, None, None, None, {"n": i}, i) for i in range(k, k + 3)] for k in (0, 3, 6)]
    for batch in batches:
        ex.plan_into(batch, out)
    assert [type(e) for e in out] == [Bunch]
    assert [r.kafka_offset for r in out[0].records] == list(range(9))
    ex.plan_into([SinkRecord("b", 0, None, None, None, {"n": 9}, 9)], out)  # another table: a bunch of its own
    assert [len(e) for e in out] == [9, 1]
