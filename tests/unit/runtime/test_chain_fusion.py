"""Fused schemaless stages must be indistinguishable from running each transform's ``apply``.

The chain fuses consecutive predicate-free map SMTs into one map copy and one new record
(runtime/chain.py). These tests run the same records through the chain and through the
transforms one by one and require equal records, or equal errors attributed to the same
transform class, over the shared acceptance vectors and over random records.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from lambda_connect.api.data import INT64_SCHEMA, OPTIONAL_STRING_SCHEMA, Schema, Struct
from lambda_connect.api.errors import RetriableException
from lambda_connect.api.records import ConnectRecord, Header, SinkRecord, SourceRecord
from lambda_connect.runtime._plugins import class_name_of
from lambda_connect.runtime.chain import TransformChain
from lambda_connect.runtime.errors import ErrorPolicy, Stage, StageError
from lambda_connect.runtime.registry import Registry

from tests.acceptance.vectors import load_smt_vectors

T = "org.apache.kafka.connect.transforms."

# Chains that fuse (and some that must not, because of a predicate or a key/value switch).
CHAINS: dict[str, dict[str, str]] = {
    "bench": {
        "transforms": "insert,replace,cast,ts",
        "transforms.insert.type": T + "InsertField$Value",
        "transforms.insert.topic.field": "src_topic",
        "transforms.insert.offset.field": "src_offset",
        "transforms.replace.type": T + "ReplaceField$Value",
        "transforms.replace.exclude": "debug",
        "transforms.replace.renames": "cust:customer_id",
        "transforms.cast.type": T + "Cast$Value",
        "transforms.cast.spec": "amount:float64,qty:int32",
        "transforms.ts.type": T + "TimestampConverter$Value",
        "transforms.ts.field": "created",
        "transforms.ts.target.type": "unix",
        "transforms.ts.unix.precision": "milliseconds",
    },
    "renames_chain_and_collide": {
        "transforms": "r,c",
        "transforms.r.type": T + "ReplaceField$Value",
        "transforms.r.include": "a,b,c,amount,qty,x,created",
        "transforms.r.exclude": "c",
        "transforms.r.renames": "a:b,b:c,x:amount",
        "transforms.c.type": T + "Cast$Value",
        "transforms.c.spec": "amount:float32,qty:int8,b:string,c:boolean",
    },
    "timestamps_and_metadata": {
        "transforms": "i,t,s",
        "transforms.i.type": T + "InsertField$Value",
        "transforms.i.partition.field": "p",
        "transforms.i.timestamp.field": "ts!",
        "transforms.i.static.field": "origin",
        "transforms.i.static.value": "bench",
        "transforms.t.type": T + "TimestampConverter$Value",
        "transforms.t.field": "created",
        "transforms.t.target.type": "string",
        "transforms.t.format": "yyyy-MM-dd HH:mm:ss.SSS",
        "transforms.s.type": T + "TimestampConverter$Value",
        "transforms.s.field": "ts",
        "transforms.s.target.type": "unix",
        "transforms.s.unix.precision": "seconds",
    },
    "key_then_value_with_a_plain_smt_between": {
        "transforms": "k,k2,hoist,v",
        "transforms.k.type": T + "InsertField$Key",
        "transforms.k.topic.field": "t",
        "transforms.k2.type": T + "Cast$Key",
        "transforms.k2.spec": "qty:int64,amount:float64",
        "transforms.hoist.type": T + "HoistField$Value",
        "transforms.hoist.field": "wrapped",
        "transforms.v.type": T + "ReplaceField$Value",
        "transforms.v.renames": "wrapped:inner",
    },
    "predicate_splits_the_group": {
        "transforms": "a,b,c",
        "transforms.a.type": T + "Cast$Value",
        "transforms.a.spec": "qty:int16",
        "transforms.b.type": T + "InsertField$Value",
        "transforms.b.topic.field": "matched",
        "transforms.b.predicate": "isOrders",
        "transforms.c.type": T + "ReplaceField$Value",
        "transforms.c.exclude": "amount",
        "predicates": "isOrders",
        "predicates.isOrders.type": "TopicNameMatches",
        "predicates.isOrders.pattern": "orders",
    },
    "whole_value_cast_does_not_fuse": {
        "transforms": "r,w",
        "transforms.r.type": T + "ReplaceField$Value",
        "transforms.r.exclude": "debug",
        "transforms.w.type": T + "Cast$Value",
        "transforms.w.spec": "string",
    },
}


def build(props: dict[str, str], policy: ErrorPolicy | None = None) -> TransformChain:
    return TransformChain.from_config(props, Registry.default(), policy)


def one_by_one(chain: TransformChain, record: ConnectRecord) -> Any:
    """The reference: each transform's own apply, with the chain's predicate rules."""
    for _, transform, predicate, negate in chain.transforms:
        if predicate is not None and negate is bool(predicate.test(record)):
            continue
        try:
            out = transform.apply(record)
        except Exception as e:
            return ("error", class_name_of(type(transform)), type(e).__name__, str(e))
        if out is None:
            return None
        record = out
    return record


def through_chain(chain: TransformChain, record: ConnectRecord) -> Any:
    try:
        return chain.apply(record)
    except StageError as e:
        assert e.stage is Stage.TRANSFORMATION
        return ("error", e.plugin_class, type(e.__cause__).__name__, str(e.__cause__))


def assert_same(chain: TransformChain, record: ConnectRecord) -> Any:
    before = repr(record)
    expected, actual = one_by_one(chain, record), through_chain(chain, record)
    # repr: every field, map key order included, and NaN compares equal to NaN.
    assert repr(actual) == repr(expected), f"input {before}"
    assert type(actual) is type(expected)
    assert repr(record) == before, "the input record must not be mutated"
    return actual


# --- random records ------------------------------------------------------------------------------

_FIELD_NAMES = ("a", "b", "c", "x", "amount", "qty", "created", "ts", "cust", "debug", "wrapped", "p")


def _random_scalar(rng: random.Random) -> Any:
    return rng.choice([
        None, True, False, 0, -1, 7, 2**31, 2**63 + 5, -(2**40), 0.5, -3.25, float("inf"), 1e300,
        "12", "-5", "+7", "123.45", " 1.5 ", "1e3", "1_000", "0x1p3", "NaN", "Infinity", "inf", "1d", "٣",
        "abc", "", "true", "2024-11-25 08:00:00.000", b"\x00\x01", [1, 2], {"nested": 1},
        1_732_521_600_000, -62_135_596_800_000, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.date(2020, 2, 29),
    ])


def _random_map(rng: random.Random) -> dict[str, Any]:
    names = rng.sample(_FIELD_NAMES, rng.randrange(len(_FIELD_NAMES) + 1))
    return {name: _random_scalar(rng) for name in names}


def _random_side(rng: random.Random) -> tuple[Schema | None, Any]:
    roll = rng.random()
    if roll < 0.8:
        return None, _random_map(rng)
    if roll < 0.85:
        return None, None
    if roll < 0.9:
        return None, rng.choice(["text", 5, [1], b"x"])
    if roll < 0.95:
        return OPTIONAL_STRING_SCHEMA, "schema'd text"
    schema = Schema.struct([("qty", INT64_SCHEMA)])
    return schema, Struct(schema).put("qty", 3)


def random_record(rng: random.Random) -> ConnectRecord:
    key_schema, key = _random_side(rng)
    value_schema, value = _random_side(rng)
    topic = rng.choice(["orders", "payments"])
    timestamp = rng.choice([None, 1_732_521_600_123])
    if rng.random() < 0.8:
        return SinkRecord(topic, rng.choice([0, 3]), key_schema, key, value_schema, value, rng.randrange(10**6),
                          timestamp, headers=[Header("h", "v")])
    return SourceRecord({"file": "f"}, {"pos": 1}, topic, rng.choice([None, 2]), key_schema, key, value_schema,
                        value, timestamp)


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_random_records_give_identical_results_and_errors(name: str) -> None:
    chain = build(CHAINS[name])
    rng = random.Random(f"fusion-{name}")
    outcomes = {"record": 0, "error": 0}
    for _ in range(1500):
        result = assert_same(chain, random_record(rng))
        outcomes["error" if isinstance(result, tuple) else "record"] += 1
    assert outcomes["record"] > 50 and outcomes["error"] > 10, outcomes  # both paths really exercised


def test_bench_chain_is_one_fused_stage_with_the_expected_output() -> None:
    chain = build(CHAINS["bench"])
    assert len(chain._stages) == 1  # the fused path is what the differential tests compare
    record = SinkRecord("orders", 0, None, "k", None, {
        "order_id": 1, "cust": "c-1", "amount": "12.50", "qty": "3", "created": 1_732_521_600_000, "debug": "x",
    }, 42, 1000)
    out = chain.apply(record)
    assert out.value == {"order_id": 1, "customer_id": "c-1", "amount": 12.5, "qty": 3,
                         "created": 1_732_521_600_000, "src_topic": "orders", "src_offset": 42}
    assert (out.key, out.kafka_offset, out.original_topic, out.timestamp) == ("k", 42, "orders", 1000)
    assert record.value["cust"] == "c-1" and "src_topic" not in record.value


def test_error_in_a_fused_plan_names_that_transform() -> None:
    chain = build(CHAINS["bench"])
    record = SinkRecord("orders", 0, None, None, None, {"amount": "12,5", "qty": "1", "created": 1}, 0)
    with pytest.raises(StageError) as info:
        chain.apply(record)
    assert info.value.plugin_class == T + "Cast$Value"
    assert info.value.message == "Value (12,5) was out of range for requested data type"
    source = SourceRecord(None, None, "orders", None, None, None, None, {"qty": "1"})
    with pytest.raises(StageError) as info:
        chain.apply(source)
    assert info.value.plugin_class == T + "InsertField$Value"
    assert "Only SinkRecord supported for [field insertion]" in info.value.message


def test_non_map_value_keeps_kafkas_message() -> None:
    chain = build(CHAINS["bench"])
    with pytest.raises(StageError) as info:
        chain.apply(SinkRecord("orders", 0, None, None, None, "plain text", 0))
    assert info.value.plugin_class == T + "InsertField$Value"
    assert info.value.message == (
        "Schemaless field insertion needs a map, got java.lang.String"
    )


def test_retriable_failure_inside_a_fused_group_is_retried_from_that_transform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lambda_connect.api.data import Type
    from lambda_connect.plugins.transforms import cast

    calls: list[int] = []

    def flaky(value: bool) -> int:  # Cast's converter for a boolean cast to int32
        calls.append(1)
        if len(calls) < 3:  # the fused plan and the first one-by-one attempt fail
            raise RetriableException("database busy")
        return 1 if value else 0

    monkeypatch.setitem(cast._TABLES[Type.INT32], bool, flaky)
    chain = build(CHAINS["bench"], ErrorPolicy.from_config({"errors.retry.timeout": "60000",
                                                             "errors.retry.delay.max.ms": "1"}))
    out = chain.apply(SinkRecord("orders", 0, None, None, None, {"amount": "1", "qty": True, "created": 5}, 9))
    assert out.value["amount"] == 1.0 and out.value["qty"] == 1 and out.value["src_offset"] == 9
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(StageError) as info:
        build(CHAINS["bench"]).apply(SinkRecord("orders", 0, None, None, None, {"qty": False}, 9))
    assert info.value.plugin_class == T + "Cast$Value" and info.value.message == "database busy"


# --- the shared acceptance vectors ---------------------------------------------------------------

def _vectors() -> list[dict[str, Any]]:
    vectors = load_smt_vectors()
    return [v for v in vectors if v["kind"] in ("transform", "chain") and not v.get("schemas_enable")
            and v.get("error_phase") != "configure"]


def _vector_chain(vector: dict[str, Any]) -> dict[str, str]:
    if vector["kind"] == "chain":
        return dict(vector["config"])
    return {"transforms": "t", "transforms.t.type": vector["transform"],
            **{f"transforms.t.{k}": v for k, v in vector["config"].items()}}


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["id"])
def test_vectors_give_identical_results_fused_and_one_by_one(vector: dict[str, Any]) -> None:
    chain = build(_vector_chain(vector))
    data = vector["input"]
    headers = [Header(k, v) for k, v in data.get("headers") or []]
    record = SinkRecord(data["topic"], data["partition"], None, data["key"], None, data["value"],
                        data["offset"] if data["offset"] is not None else 0, data["timestamp"], headers=headers)
    assert_same(chain, record)
