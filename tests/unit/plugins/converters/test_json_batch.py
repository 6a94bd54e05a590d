"""``JsonConverter.batch_writer`` and ``StringConverter.batch_writer`` against their per-record
``from_connect_data``: equal bytes for every batch they take, and a refusal (an exception) for
every batch where some record would not convert — on random structs of many field types."""

from __future__ import annotations

import datetime as dt
import decimal
import random
from typing import Any

import pytest
from lambda_connect.api.data import UTC, Date, Decimal, Schema, Struct, Time, Timestamp, Type
from lambda_connect.api.errors import DataException
from lambda_connect.plugins.converters.json import JsonConverter
from lambda_connect.plugins.converters.string import StringConverter


def _field_schemas(rng: random.Random, depth: int) -> list[tuple[str, Schema]]:
    kinds = ["int8", "int16", "int32", "int64", "float", "bool", "string", "bytes", "ts", "date", "time",
             "decimal", "array", "map"] + (["struct"] if depth < 2 else [])
    out = []
    for i in range(rng.randrange(1, 7)):
        kind = rng.choice(kinds)
        optional = rng.random() < 0.5
        default = None
        if kind.startswith("int"):
            schema = Schema({"int8": Type.INT8, "int16": Type.INT16, "int32": Type.INT32, "int64": Type.INT64}[kind],
                            optional=optional)
            default = 7 if rng.random() < 0.2 else None
        elif kind == "float":
            schema = Schema(Type.FLOAT64, optional=optional)
        elif kind == "bool":
            schema = Schema(Type.BOOLEAN, optional=optional)
        elif kind == "string":
            schema = Schema(Type.STRING, optional=optional)
            default = "dflt" if rng.random() < 0.2 else None
        elif kind == "bytes":
            schema = Schema(Type.BYTES, optional=optional)
        elif kind == "ts":
            schema = Timestamp.schema(optional=optional)
        elif kind == "date":
            schema = Date.schema(optional=optional)
        elif kind == "time":
            schema = Time.schema(optional=optional)
        elif kind == "decimal":
            schema = Decimal.schema(2, optional=optional)
        elif kind == "array":
            schema = Schema.array(Schema(Type.INT32), optional=optional)
        elif kind == "map":
            schema = Schema.map(Schema(Type.STRING), Schema(Type.STRING), optional=optional)
        else:
            schema = Schema.struct(_field_schemas(rng, depth + 1), name=f"n{depth}{i}", optional=optional)
        if default is not None:
            schema = schema.copy(default=default)
        out.append((f"f{i}", schema))
    return out


def _value(rng: random.Random, schema: Schema) -> Any:
    if rng.random() < 0.15:
        return None  # allowed or not, with or without a default
    if rng.random() < 0.02:
        return "wrong type"
    if schema.name == Timestamp.LOGICAL_NAME:
        v = dt.datetime(2020, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=rng.randrange(-10**15, 10**15))
        if rng.random() < 0.1:
            v = v.astimezone(dt.timezone(dt.timedelta(hours=-5)))
        return v.replace(tzinfo=None) if rng.random() < 0.05 else v
    if schema.name == Date.LOGICAL_NAME:
        return dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(-1000, 1000))
    if schema.name == Time.LOGICAL_NAME:
        return dt.time(rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(1000) * 1000)
    if schema.name == Decimal.LOGICAL_NAME:
        return decimal.Decimal(rng.randrange(-10**6, 10**6)).scaleb(-2)
    t = schema.type
    if t in (Type.INT8, Type.INT16, Type.INT32, Type.INT64):
        bits = {Type.INT8: 7, Type.INT16: 15, Type.INT32: 31, Type.INT64: 63}[t]
        choices = [0, -1, 2**bits - 1, -(2**bits), rng.randrange(-100, 100)]
        return rng.choice([*choices, 2**bits] if rng.random() < 0.05 else choices)
    if t is Type.FLOAT64:
        return rng.choice([0.5, -2.25, float(rng.randrange(9)), 3])
    if t is Type.BOOLEAN:
        return rng.random() < 0.5
    if t is Type.STRING:
        return rng.choice(["", "a", "ünï", "x" * 20])
    if t is Type.BYTES:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(4)))
    if t is Type.ARRAY:
        return [rng.randrange(10) for _ in range(rng.randrange(3))]
    if t is Type.MAP:
        return {f"k{i}": f"v{i}" for i in range(rng.randrange(3))}
    return _struct(rng, schema)


def _struct(rng: random.Random, schema: Schema) -> Struct:
    return Struct.from_values(schema, [_value(rng, f.schema) for f in schema.fields])


def _per_record(converter: Any, schema: Schema | None, values: list[Any]) -> list[bytes | None] | None:
    try:
        return [converter.from_connect_data("t", schema, v) for v in values]
    except Exception:
        return None


@pytest.mark.parametrize("options", [{"schemas.enable": "false"}, {"schemas.enable": "true"},
                                     {"schemas.enable": "false", "replace.null.with.default": "false",
                                      "decimal.format": "NUMERIC"}], ids=["plain", "envelope", "options"])
def test_struct_batches_equal_per_record_conversion(options: dict[str, str]) -> None:
    converter = JsonConverter(JsonConverter.config_def.parse(options))
    rng = random.Random(17)
    taken = refused = 0
    for _ in range(300):
        schema = Schema.struct(_field_schemas(rng, 0), name="row")
        values = [_struct(rng, schema) for _ in range(rng.randrange(1, 12))]
        if rng.random() < 0.1:
            values.append(None)  # a null value with a schema: "null" (or the default), or refused
        expected = _per_record(converter, schema, values)
        writer = converter.batch_writer(schema)
        assert writer is not None
        try:
            got = writer(values)
        except Exception:
            refused += 1
            continue  # refusing is always allowed: the runtime then converts record by record
        taken += 1
        assert expected is not None, "the batch writer took a batch the per-record path refuses"
        assert got == expected
    assert taken > 50 and refused > 10  # both branches really ran


def test_mostly_valid_batches_are_taken_whole() -> None:
    """The writer is useful: batches of well-formed rows are not refused."""
    converter = JsonConverter(JsonConverter.config_def.parse({"schemas.enable": "false"}))
    inner = Schema.struct([("a", Schema(Type.INT16)), ("b", Schema(Type.STRING, optional=True))], optional=True)
    schema = Schema.struct([("id", Schema(Type.INT64)), ("ts", Timestamp.schema()), ("before", inner),
                            ("after", inner), ("p", Schema(Type.FLOAT64))], name="env")
    values = [Struct.from_values(schema, [i, dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(milliseconds=i * 7),
                                          None if i % 2 else Struct.from_values(inner, [i, None]),
                                          Struct.from_values(inner, [-i, "x"]), i / 4]) for i in range(200)]
    writer = converter.batch_writer(schema)
    assert writer is not None and converter.batch_writer(schema) is writer  # cached per schema object
    assert writer(values) == [converter.from_connect_data("t", schema, v) for v in values]


def test_schemaless_batches() -> None:
    for enable in ("true", "false"):
        converter = JsonConverter(JsonConverter.config_def.parse({"schemas.enable": enable}))
        writer = converter.batch_writer(None)
        assert writer is not None
        values = [None, {"a": 1, "b": [1, "x"]}, "text", 3.5, b"\x00\x01", {"n": None}]
        assert writer(values) == [converter.from_connect_data("t", None, v) for v in values]
        with pytest.raises(TypeError):
            writer([{"big": 2**70}])  # the per-record path writes it another way: refused here


def test_string_batches() -> None:
    converter = StringConverter(StringConverter.config_def.parse({}))
    writer = converter.batch_writer(None)
    assert writer is not None
    assert writer([None, None]) == [None, None]
    assert writer(["a", "ü"]) == [converter.from_connect_data("t", None, v) for v in ["a", "ü"]]
    with pytest.raises(LookupError):
        writer(["a", 1])  # a number: its Java string form, written record by record
    latin = StringConverter(StringConverter.config_def.parse({"converter.encoding": "ISO-8859-1"}))
    with pytest.raises(UnicodeEncodeError):
        latin.batch_writer(None)(["€"])  # type: ignore[misc]


def test_subclasses_that_write_otherwise_get_no_batch_writer() -> None:
    class Custom(JsonConverter):
        def from_connect_data(self, topic: str, schema: Any, value: Any, headers: Any = None) -> bytes | None:
            return b"custom"

    assert Custom(JsonConverter.config_def.parse({})).batch_writer(None) is None


# --- columns_writer: structs handed over by column (api.columns) -------------------------------
def _as_columns(rng: random.Random, schema: Schema, structs: list[Any]) -> list[Any]:
    """The field columns of ``structs`` (all Structs of ``schema``); a nested struct field becomes
    a ``StructColumn`` (with a ``present`` mask where some rows hold None) half of the time, when
    its values allow it, else stays a column of Struct/None values."""
    from lambda_connect.api.columns import StructColumn

    columns: list[Any] = []
    for i, field in enumerate(schema.fields):
        col = [s._values[i] for s in structs]
        inner = field.schema
        if (inner.type is Type.STRUCT and rng.random() < 0.5
                and all(v is None or (type(v) is Struct and v.schema is inner) for v in col)):
            held = [v for v in col if v is not None]
            present = None if len(held) == len(col) else [v is not None for v in col]
            columns.append(StructColumn(inner, _as_columns(rng, inner, held), present, length=len(held)))
        else:
            columns.append(col)
    return columns


@pytest.mark.parametrize("options", [{"schemas.enable": "false"}, {"schemas.enable": "true"},
                                     {"schemas.enable": "false", "replace.null.with.default": "false",
                                      "decimal.format": "NUMERIC"}], ids=["plain", "envelope", "options"])
def test_struct_columns_equal_per_record_conversion(options: dict[str, str]) -> None:
    """``columns_writer`` on the field columns of random structs (nested struct columns with and
    without nulls) writes what ``from_connect_data`` writes for each struct, or refuses."""
    from lambda_connect.api.columns import StructColumn

    converter = JsonConverter(JsonConverter.config_def.parse(options))
    rng = random.Random(71)
    taken = refused = nested = 0
    for _ in range(300):
        schema = Schema.struct(_field_schemas(rng, 0), name="row")
        values = [_struct(rng, schema) for _ in range(rng.randrange(1, 12))]
        expected = _per_record(converter, schema, values)
        columns = _as_columns(rng, schema, values)
        nested += any(type(c) is StructColumn for c in columns)
        writer = converter.columns_writer(schema)
        assert writer is not None and converter.columns_writer(schema) is writer
        try:
            got = writer(columns)
        except Exception:
            refused += 1
            continue
        taken += 1
        assert expected is not None, "the columns writer took a batch the per-record path refuses"
        assert got == expected
        # The StructColumn stands for exactly these structs.
        assert StructColumn(schema, columns).values() == values
    assert taken > 50 and refused > 10 and nested > 20


def test_columns_writer_refuses_what_is_not_its_own() -> None:
    from lambda_connect.api.columns import StructColumn

    converter = JsonConverter(JsonConverter.config_def.parse({"schemas.enable": "false"}))
    inner = Schema.struct([("a", Schema(Type.INT16))], name="inner", optional=True)
    twin = Schema.struct([("a", Schema(Type.INT16))], name="inner", optional=True)
    schema = Schema.struct([("id", Schema(Type.INT64)), ("after", inner)], name="env")
    writer = converter.columns_writer(schema)
    assert writer is not None
    ok = [[1, 2], StructColumn(inner, [[5]], [False, True])]
    assert writer(ok) == [b'{"id":1,"after":null}', b'{"id":2,"after":{"a":5}}']
    with pytest.raises(ValueError):
        writer([[1, 2], StructColumn(twin, [[5]], [False, True])])  # another schema object
    with pytest.raises(ValueError):
        writer([[1, 2], [None]])  # columns of different lengths
    with pytest.raises(ValueError):
        writer([[1, 2]])  # a column short
    required = Schema.struct([("id", Schema(Type.INT64)), ("after", Schema.struct([("a", Schema(Type.INT16))],
                                                                                  name="req"))], name="env2")
    req_inner = required.fields[1].schema
    with pytest.raises(DataException, match="Null for a required field"):  # a null the schema allows not
        converter.columns_writer(required)([[1, 2], StructColumn(req_inner, [[5]], [False, True])])
    assert converter.columns_writer(Schema(Type.STRING)) is None
