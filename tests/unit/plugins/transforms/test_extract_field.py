"""ExtractField, mirroring Kafka's ExtractFieldTest and the V2 cases of FieldPathNotationTest."""

from __future__ import annotations

import pytest
from lambda_connect.api.data import INT32_SCHEMA, STRING_SCHEMA, Schema, Struct, Type
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.plugins.transforms.extract_field import ExtractField, field_path

from tests.unit.plugins.transforms.smt_a_support import make, run_vector, sink, vectors_for


def extract(field: str, **props: str) -> ExtractField:
    return make(ExtractField.Value, field=field, **props)


def test_config_requires_field() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "field"'):
        make(ExtractField.Value)


def test_config_rejects_unknown_syntax_version() -> None:
    with pytest.raises(ConfigException) as info:
        extract("a", **{"field.syntax.version": "V3"})
    assert "field.syntax.version" in info.value.errors


def test_config_rejects_incomplete_backticks() -> None:
    with pytest.raises(ConfigException, match=r"Unclosed backtick in field path \[`foo\.bar\] at position 0"):
        extract("`foo.bar", **{"field.syntax.version": "v2"})


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("foo", ("foo",)),
        ("foo.bar.baz", ("foo", "bar", "baz")),
        ("`foo.bar`.baz", ("foo.bar", "baz")),
        ("foo.`bar.baz`", ("foo", "bar.baz")),
        ("`foo\\`.bar`.baz", ("foo`.bar", "baz")),
        ("foo`bar.baz", ("foo`bar", "baz")),
        ("foo.", ("foo", "")),
    ],
)
def test_v2_paths(path: str, steps: tuple[str, ...]) -> None:
    assert field_path(path, "V2") == steps


def test_v1_takes_the_name_literally() -> None:
    assert field_path("`a.b`.c", "V1") == ("`a.b`.c",)


def test_schemaless() -> None:
    assert extract("magic").apply(sink({"magic": 42})).value == 42
    assert extract("missing").apply(sink({"magic": 42})).value is None
    assert extract("magic").apply(sink(None)).value is None


def test_schemaless_requires_map() -> None:
    with pytest.raises(DataException, match=r"Schemaless field extr"):
        extract("magic").apply(sink(42))


def test_schemaless_nested_v2() -> None:
    transform = extract("`a.b`.c", **{"field.syntax.version": "V2"})
    assert transform.apply(sink({"a.b": {"c": 1}})).value == 1
    assert transform.apply(sink({"a.b": None})).value is None


def test_with_schema() -> None:
    schema = Schema.struct([("magic", INT32_SCHEMA), ("s", STRING_SCHEMA)])
    result = make(ExtractField.Key, field="magic").apply(sink("v", key=Struct(schema, {"magic": 42, "s": "x"}),
                                                              key_schema=schema))
    assert (result.key_schema, result.key, result.value) == (INT32_SCHEMA, 42, "v")


def test_with_schema_nested_v2_and_null_parent() -> None:
    inner = Schema.struct([("c", INT32_SCHEMA)], optional=True)
    schema = Schema.struct([("a", inner)])
    transform = extract("a.c", **{"field.syntax.version": "V2"})
    result = transform.apply(sink(Struct(schema, {"a": Struct(inner, {"c": 5})}), schema))
    assert (result.value_schema, result.value) == (INT32_SCHEMA, 5)
    assert transform.apply(sink(Struct(schema, {"a": None}), schema)).value is None


def test_with_schema_null_value_gives_field_schema() -> None:
    schema = Schema.struct([("magic", INT32_SCHEMA)], optional=True)
    result = extract("magic").apply(sink(None, schema))
    assert (result.value_schema, result.value) == (INT32_SCHEMA, None)


def test_with_schema_unknown_field_fails() -> None:
    schema = Schema.struct([("magic", INT32_SCHEMA)])
    with pytest.raises(DataException, match="Unknown field: nonexistent"):
        extract("nonexistent").apply(sink(Struct(schema, {"magic": 1}), schema))


@pytest.mark.parametrize(("replace", "expected"), [("true", 42), ("false", None)])
def test_unset_optional_field_default(replace: str, expected: int | None) -> None:
    schema = Schema.struct([("f", Schema(Type.INT32, optional=True, default=42))])
    result = extract("f", **{"replace.null.with.default": replace}).apply(sink(Struct(schema, {"f": None}), schema))
    assert result.value == expected


@pytest.mark.parametrize("vector", vectors_for("ExtractField"))
def test_acceptance_vector(vector: dict) -> None:
    run_vector(vector)
