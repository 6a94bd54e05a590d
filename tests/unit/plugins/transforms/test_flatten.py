"""Flatten, mirroring Kafka's FlattenTest."""

from __future__ import annotations

import decimal

import pytest
from lambda_connect.api.data import (
    INT32_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    Schema,
    Struct,
    Type,
)
from lambda_connect.api.errors import DataException
from lambda_connect.plugins.transforms.flatten import Flatten

from tests.unit.plugins.transforms.smt_a_support import make, run_vector, sink, vectors_for


def flatten(**props: str) -> Flatten:
    return make(Flatten.Value, **props)


def test_default_delimiter_is_dot() -> None:
    assert flatten().apply(sink({"A": {"B": {"C": 1}}, "D": 2})).value == {"A.B.C": 1, "D": 2}


def test_schemaless_nested_maps_with_custom_delimiter_and_null_leaves() -> None:
    value = {"A": {"B": {"int": 8, "bytes": b"x", "none": None}, "list": [{"x": {"y": 1}}]}}
    assert flatten(delimiter="#").apply(sink(value)).value == {
        "A#B#int": 8, "A#B#bytes": b"x", "A#B#none": None, "A#list": [{"x": {"y": 1}}],
    }


def test_schemaless_unsupported_value_type() -> None:
    with pytest.raises(DataException, match=r"Flatten transformation does not support class java\.math\.BigDecimal "
                                            r"for record without schemas \(for field A\.B\)"):
        flatten().apply(sink({"A": {"B": decimal.Decimal(1)}}))


def test_schemaless_struct_inside_map_is_rejected() -> None:
    schema = Schema.struct([("a", INT32_SCHEMA)])
    with pytest.raises(DataException, match=r"does not support class org.apache.kafka.connect.data.Struct "
                                            r"for record without schemas \(for field A\)"):
        flatten().apply(sink({"A": Struct(schema, {"a": 1})}))


def test_null_passes_through() -> None:
    record = sink(None, Schema.struct([("a", INT32_SCHEMA)], optional=True))
    assert flatten().apply(record) is record
    record = sink(None)
    assert flatten().apply(record) is record


def test_schemaless_requires_map() -> None:
    with pytest.raises(DataException, match=r"Schemaless flattening needs a map"):
        flatten().apply(sink(42))


def test_with_schema_nested_structs() -> None:
    inner = Schema.struct([("int", INT32_SCHEMA), ("str", STRING_SCHEMA)], name="inner", doc="nested")
    outer = Schema.struct([("A", inner), ("arr", Schema.array(INT32_SCHEMA, doc="d"))], name="outer", version=3)
    value = Struct(outer, {"A": Struct(inner, {"int": 1, "str": "s"}), "arr": [1, 2]})
    result = flatten().apply(sink(value, outer))
    assert result.value_schema == Schema.struct(
        [("A.int", INT32_SCHEMA), ("A.str", STRING_SCHEMA), ("arr", Schema.array(INT32_SCHEMA, doc="d"))],
        name="outer", version=3,
    )
    assert result.value.to_dict() == {"A.int": 1, "A.str": "s", "arr": [1, 2]}


def test_optional_ancestor_makes_leaves_optional_and_null_struct_gives_nulls() -> None:
    inner = Schema.struct([("x", INT32_SCHEMA)], optional=True)
    outer = Schema.struct([("A", inner), ("B", STRING_SCHEMA)])
    result = flatten().apply(sink(Struct(outer, {"A": None, "B": "b"}), outer))
    assert result.value_schema.field("A.x").schema == Schema(Type.INT32, optional=True)
    assert result.value.to_dict() == {"A.x": None, "B": "b"}


def test_defaults_come_from_field_or_ancestor() -> None:
    inner = Schema.struct([("x", Schema(Type.INT32, optional=True)), ("y", Schema(Type.STRING, default="own"))])
    # A struct default references the schema it belongs to, so it cannot be validated against it.
    inner_with_default = inner.copy(optional=True, default=Struct(inner, {"x": 7, "y": "parent"}),
                                    validate_default=False)
    outer = Schema.struct([("A", inner_with_default)])
    schema = flatten().apply(sink(Struct(outer, {"A": None}), outer)).value_schema
    assert schema.field("A.x").schema.default == 7
    assert schema.field("A.y").schema.default == "own"


def test_map_field_with_schema_is_rejected() -> None:
    schema = Schema.struct([("m", Schema.map(STRING_SCHEMA, OPTIONAL_STRING_SCHEMA))])
    with pytest.raises(DataException, match=r"Flatten transformation does not support MAP for record with schemas "
                                            r"\(for field m\)"):
        flatten().apply(sink(Struct(schema, {"m": {}}), schema))


def test_with_schema_requires_struct() -> None:
    with pytest.raises(DataException, match=r"Only Struct objects supported for \[flattening\]"):
        flatten().apply(sink(42, INT32_SCHEMA))


def test_key_variant() -> None:
    result = make(Flatten.Key).apply(sink("v", key={"A": {"B": 12}}))
    assert (result.key, result.value) == ({"A.B": 12}, "v")


@pytest.mark.parametrize("vector", vectors_for("Flatten"))
def test_acceptance_vector(vector: dict) -> None:
    run_vector(vector)
