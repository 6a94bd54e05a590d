"""JsonConverter's type plans and envelope shortcuts change speed, never bytes or errors.

Every case runs through two converters with the same config: one with type plans (the
default) and one with ``plan_limit=0``, which converts every field every time as the
converter did before plans existed. Outputs must be byte-identical, values read back must be
identical including their Python types, and failures must carry the same message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import random
import re
from typing import Any

import pytest
from lambda_connect.api.data import (
    UTC,
    Date,
    Decimal,
    OutOfRangeTimestamp,
    Schema,
    SchemaAndValue,
    Struct,
    Time,
    Timestamp,
    Type,
)
from lambda_connect.api.errors import DataException
from lambda_connect.plugins.converters.json import ENVELOPE_ERROR, JsonConverter

from tests.acceptance.vectors import SMT_VECTORS_PATH

VECTORS = SMT_VECTORS_PATH
CONFIGS = [
    {},
    {"schemas.enable": "false"},
    {"decimal.format": "NUMERIC"},
    {"replace.null.with.default": "false"},
    {"decimal.format": "NUMERIC", "replace.null.with.default": "false", "schemas.enable": "false"},
]


def pair(props: dict[str, str]) -> tuple[JsonConverter, JsonConverter]:
    """(planned, reference) converters with the same configuration."""
    planned = JsonConverter(JsonConverter.config_def.parse(props))
    reference = JsonConverter(JsonConverter.config_def.parse(props))
    reference.codec = dataclasses.replace(reference.codec, plan_limit=0)
    return planned, reference


def typed(value: Any) -> Any:
    """A value with every Python type spelled out, so 1 and 1.0 and True differ."""
    if isinstance(value, Struct):
        return ("Struct", repr(value.schema), [typed(v) for v in value._values])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    return (type(value).__name__, repr(value))


def outcome(fn: Any, *args: Any) -> Any:
    try:
        result = fn(*args)
    except DataException as e:
        return ("error", str(e))
    if isinstance(result, SchemaAndValue):
        return (repr(result.schema), typed(result.value))
    return result


def assert_same(props: dict[str, str], schema: Schema | None, value: Any) -> None:
    planned, reference = pair(props)
    written = outcome(planned.from_connect_data, "t", schema, value)
    assert written == outcome(reference.from_connect_data, "t", schema, value)
    if isinstance(written, bytes):
        # twice: the second read of a message takes the learnt-envelope shortcut
        for _ in range(2):
            assert outcome(planned.to_connect_data, "t", written) == outcome(reference.to_connect_data, "t", written)


# --- random schemas and values ------------------------------------------------------------------

_PRIMITIVES = [Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.FLOAT32, Type.FLOAT64,
               Type.BOOLEAN, Type.STRING, Type.BYTES]
_BOUNDS = {Type.INT8: 2**7, Type.INT16: 2**15, Type.INT32: 2**31, Type.INT64: 2**63}


def random_schema(rnd: random.Random, depth: int = 0) -> Schema:
    optional = rnd.random() < 0.5
    kind = rnd.random()
    if depth < 3 and kind < 0.15:
        fields = [(f"f{i}", random_schema(rnd, depth + 1)) for i in range(rnd.randint(1, 6))]
        return Schema.struct(fields, optional=optional, name=rnd.choice([None, "n.S"]))
    if depth < 3 and kind < 0.22:
        return Schema.array(random_schema(rnd, depth + 1), optional=optional)
    if depth < 3 and kind < 0.29:
        keys = Schema(rnd.choice([Type.STRING, Type.INT32, Type.STRING, Type.BOOLEAN]))
        return Schema.map(keys, random_schema(rnd, depth + 1), optional=optional)
    if kind < 0.40:
        return rnd.choice([
            Decimal.schema(2, optional=optional),
            Date.schema(optional=optional),
            Time.schema(optional=optional),
            Timestamp.schema(optional=optional),
        ])
    schema = Schema(rnd.choice(_PRIMITIVES), optional=optional)
    if rnd.random() < 0.25:
        schema = schema.copy(default=good_value(rnd, schema))
    return schema


def good_value(rnd: random.Random, schema: Schema) -> Any:
    if schema.name == Decimal.LOGICAL_NAME:
        return decimal.Decimal(rnd.randint(-10**6, 10**6)).scaleb(-2)
    if schema.name == Date.LOGICAL_NAME:
        return dt.date(2024, 1, 1) + dt.timedelta(days=rnd.randint(-9999, 9999))
    if schema.name == Time.LOGICAL_NAME:
        return dt.time(rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59), rnd.randint(0, 999) * 1000)
    if schema.name == Timestamp.LOGICAL_NAME:
        if rnd.random() < 0.1:
            return OutOfRangeTimestamp(2**62)
        tz = rnd.choice([UTC, dt.timezone(dt.timedelta(hours=-5))])
        return dt.datetime(2000, 1, 1, tzinfo=tz) + dt.timedelta(microseconds=rnd.randint(-10**15, 10**15))
    t = schema.type
    if t in _BOUNDS:
        b = _BOUNDS[t]
        return rnd.choice([0, -b, b - 1, rnd.randint(-b, b - 1)])
    if t in (Type.FLOAT32, Type.FLOAT64):
        return rnd.choice([0.0, -1.5, 1e16, rnd.uniform(-1e9, 1e9), float("nan"), float("inf")])
    if t is Type.BOOLEAN:
        return rnd.random() < 0.5
    if t is Type.STRING:
        return rnd.choice(["", "plain", "日本語 🚀", "quote \" back \\ nul \u0000"])
    if t is Type.BYTES:
        return rnd.randbytes(rnd.randint(0, 8))
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        return [value_for(rnd, schema.value_schema) for _ in range(rnd.randint(0, 3))]
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        return {good_value(rnd, schema.key_schema): value_for(rnd, schema.value_schema) for _ in range(3)}
    struct = Struct.__new__(Struct)
    struct.schema = schema
    struct._values = [value_for(rnd, f.schema) for f in schema.fields]
    return struct


def bad_value(rnd: random.Random, schema: Schema) -> Any:
    """Values the converter must reject or coerce, each with Kafka's behaviour."""
    candidates: list[Any] = [None, True, 7, 2**63, 2**64 - 1, 1.5, "text", b"\x01", [1], {"k": 1},
                             dt.datetime(2020, 1, 1, 12), decimal.Decimal("1.234")]
    if schema.type is Type.STRUCT:
        candidates.append(Struct(Schema.struct([("other", Schema(Type.INT32, optional=True))])))
    return rnd.choice(candidates)


def value_for(rnd: random.Random, schema: Schema) -> Any:
    roll = rnd.random()
    if roll < 0.15:
        return None
    if roll < 0.20:
        return bad_value(rnd, schema)
    return good_value(rnd, schema)


@pytest.mark.parametrize("seed", range(6))
def test_random_structs_convert_identically_with_and_without_plans(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(60):
        schema = Schema.struct([(f"c{i}", random_schema(rnd)) for i in range(rnd.randint(1, 8))])
        props = rnd.choice(CONFIGS)
        planned, reference = pair(props)
        for _ in range(15):  # many records per schema: plans are reused and new ones are made
            value = good_value(rnd, schema)
            written = outcome(planned.from_connect_data, "t", schema, value)
            assert written == outcome(reference.from_connect_data, "t", schema, value), (schema, value)
            if isinstance(written, bytes):
                for _ in range(2):
                    assert outcome(planned.to_connect_data, "t", written) == outcome(
                        reference.to_connect_data, "t", written
                    )


def test_random_messages_read_identically_with_and_without_plans() -> None:
    """Hand-made payloads, including wrong JSON types, against random struct schemas."""
    rnd = random.Random(99)
    nodes: list[Any] = [None, True, False, 0, -1, 2**31, 2**63 - 1, 1.0, 2.5, "x", "AQI=", [], [1, 2], {}, {"a": 1}]
    for _ in range(300):
        schema = Schema.struct([(f"c{i}", random_schema(rnd)) for i in range(rnd.randint(1, 6))])
        props = rnd.choice([c for c in CONFIGS if c.get("schemas.enable") != "false"])
        planned, reference = pair(props)
        schema_json = json.dumps(planned.codec.schema_to_json(schema), separators=(",", ":"))
        for _ in range(5):
            payload = {f"c{i}": rnd.choice(nodes) for i in range(len(schema.fields)) if rnd.random() < 0.9}
            data = ('{"schema":' + schema_json + ',"payload":' + json.dumps(payload, separators=(",", ":")) + "}")
            for _ in range(2):
                got = outcome(planned.to_connect_data, "t", data.encode())
                assert got == outcome(reference.to_connect_data, "t", data.encode()), (schema, payload)


def _vectors() -> list[dict[str, Any]]:
    return [v for v in json.loads(VECTORS.read_text()) if v["kind"] == "json_converter"]


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["id"])
def test_acceptance_vectors_identical_with_and_without_plans(vector: dict[str, Any]) -> None:
    planned, reference = pair(vector["config"])
    if vector["direction"] == "to_connect":
        text = vector["input"].get("bytes_utf8")
        data = None if text is None else text.encode()
        assert outcome(planned.to_connect_data, "t", data) == outcome(reference.to_connect_data, "t", data)
    else:
        schema = planned.codec.schema_from_json(vector["input"]["schema"])
        value = vector["input"]["value"]
        if vector["input"].get("value_type") == "decimal":
            value = decimal.Decimal(value)
        assert_same(vector["config"], schema, value)


# --- behaviour a user would notice ---------------------------------------------------------------

ROW = Schema.struct([
    ("id", Schema(Type.INT64)),
    ("name", Schema(Type.STRING, optional=True)),
    ("qty", Schema(Type.INT32, optional=True, default=0)),
    ("price", Schema(Type.FLOAT64)),
    ("created", Timestamp.schema(optional=True)),
], name="row")


def row(**values: Any) -> Struct:
    struct = Struct.__new__(Struct)  # what sources with trusted rows do: no per-field put
    struct.schema = ROW
    struct._values = [values.get(f.name) for f in ROW.fields]
    return struct


def test_records_of_one_schema_with_changing_types_each_get_their_own_result() -> None:
    c = JsonConverter(JsonConverter.config_def.parse({"schemas.enable": "false"}))
    when = dt.datetime(2025, 1, 1, 0, 0, 1, 999_999, tzinfo=UTC)
    assert c.from_connect_data("t", ROW, row(id=1, name="a", qty=2, price=1.5, created=when)) == (
        b'{"id":1,"name":"a","qty":2,"price":1.5,"created":1735689601999}'
    )
    # an int in a FLOAT64 field is written as a double, a null optional with default as the default
    assert c.from_connect_data("t", ROW, row(id=2, price=3)) == (
        b'{"id":2,"name":null,"qty":0,"price":3.0,"created":null}'
    )
    with pytest.raises(DataException, match=re.escape("Invalid type for INT32: class java.lang.Boolean")):
        c.from_connect_data("t", ROW, row(id=3, qty=True, price=1.0))
    with pytest.raises(DataException, match=re.escape("Invalid type for INT64: class java.lang.Long")):
        c.from_connect_data("t", ROW, row(id=2**64 - 1, price=1.0))
    with pytest.raises(DataException, match="Null for a required field"):
        c.from_connect_data("t", ROW, row(id=4))
    assert c.from_connect_data("t", ROW, row(id=5, name="b", qty=7, price=0.5)) == (
        b'{"id":5,"name":"b","qty":7,"price":0.5,"created":null}'
    )


def test_more_type_combinations_than_plans_still_convert() -> None:
    planned, reference = pair({})
    planned.codec = dataclasses.replace(planned.codec, plan_limit=2)
    for i in range(12):
        value = row(id=i, name=("n" if i % 2 else None), qty=(i if i % 3 else None), price=float(i) if i % 4 else i)
        assert planned.from_connect_data("t", ROW, value) == reference.from_connect_data("t", ROW, value)


def test_field_names_that_are_str_subclasses_are_written_as_plain_keys() -> None:
    """SQLAlchemy reflects column names as ``quoted_name``, a ``str`` subclass."""

    class QuotedName(str):
        pass

    def written(name: type[str]) -> bytes | None:
        schema = Schema.struct([(name("id"), Schema(Type.INT64)), (name("nan"), Schema(Type.FLOAT64))])
        c = JsonConverter(JsonConverter.config_def.parse({"schemas.enable": "false"}))
        return c.from_connect_data("t", schema, Struct(schema, {"id": 1, "nan": float("nan")}))

    assert written(QuotedName) == written(str) == b'{"id":1,"nan":null}'


def test_equal_schema_objects_share_output_and_a_different_schema_is_rejected() -> None:
    c = JsonConverter(JsonConverter.config_def.parse({}))
    copy = ROW.copy()
    assert copy is not ROW and copy == ROW
    first = c.from_connect_data("t", ROW, row(id=1, price=1.0))
    assert c.from_connect_data("t", copy, row(id=1, price=1.0)) == first
    other = Schema.struct([("id", Schema(Type.INT64))])
    with pytest.raises(DataException, match=re.escape("Mismatching schema.")):
        c.from_connect_data("t", other, row(id=1, price=1.0))
    assert c.from_connect_data("t", ROW, row(id=1, price=1.0)) == first


@pytest.mark.parametrize(
    "tail",
    [
        b'{"id":1,"name":null,"qty":2,"price":1.0,"created":null},"extra":1}',
        b'{"id":1,"name":null,"qty":2,"price":1.0,"created":null},"payload":{}}',
        b'{"id":1}}}',
        b'{"id":1} x}',
    ],
)
def test_learnt_envelope_prefix_still_rejects_broken_envelopes(tail: bytes) -> None:
    c = JsonConverter(JsonConverter.config_def.parse({}))
    good = c.from_connect_data("t", ROW, row(id=1, qty=2, price=1.0))
    assert good is not None
    assert c.to_connect_data("t", good).value == row(id=1, qty=2, price=1.0)
    assert c.to_connect_data("t", good).value == row(id=1, qty=2, price=1.0)  # via the learnt prefix
    prefix = good[: good.index(b',"payload":') + len(b',"payload":')]
    planned, reference = pair({})
    planned.to_connect_data("t", good)
    result = outcome(planned.to_connect_data, "t", prefix + tail)
    assert result == outcome(reference.to_connect_data, "t", prefix + tail)
    assert result[0] == "error"
    if tail.endswith(b',"extra":1}'):
        assert result == ("error", ENVELOPE_ERROR)


def test_envelope_with_whitespace_or_other_key_order_reads_the_same() -> None:
    c = JsonConverter(JsonConverter.config_def.parse({}))
    good = c.from_connect_data("t", ROW, row(id=9, name="z", price=2.0))
    assert good is not None
    expected = c.to_connect_data("t", good)
    tree = json.loads(good)
    for text in (json.dumps(tree, indent=2), json.dumps({"payload": tree["payload"], "schema": tree["schema"]})):
        assert c.to_connect_data("t", text.encode()) == expected
