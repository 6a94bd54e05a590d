"""HoistField, mirroring Kafka's HoistFieldTest."""

from __future__ import annotations

import pytest
from lambda_connect.api.config import ConfigDef
from lambda_connect.api.data import INT32_SCHEMA, OPTIONAL_INT32_SCHEMA, Schema, Struct
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.plugins.transforms.hoist_field import HoistField

from tests.unit.plugins.transforms.smt_a_support import make, run_vector, sink, vectors_for


def test_config_requires_field() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "field"'):
        make(HoistField.Key)


def test_schemaless_wraps_value_and_null() -> None:
    transform = make(HoistField.Value, field="magic")
    assert transform.apply(sink(42)).value == {"magic": 42}
    assert transform.apply(sink(None)).value == {"magic": None}


def test_with_schema_wraps_in_unnamed_required_struct() -> None:
    result = make(HoistField.Key, field="magic").apply(sink("v", key=42, key_schema=INT32_SCHEMA))
    expected_schema = Schema.struct([("magic", INT32_SCHEMA)])
    assert result.key_schema == expected_schema
    assert result.key == Struct(expected_schema, {"magic": 42})
    assert result.value == "v"


def test_with_schema_null_for_optional_schema_is_wrapped() -> None:
    result = make(HoistField.Value, field="f").apply(sink(None, OPTIONAL_INT32_SCHEMA))
    assert result.value.get("f") is None


def test_with_schema_null_for_required_schema_fails() -> None:
    with pytest.raises(DataException, match="null used for required field"):
        make(HoistField.Value, field="f").apply(sink(None, INT32_SCHEMA))


def test_config_def_is_a_configdef() -> None:
    assert isinstance(HoistField.config_def, ConfigDef) and HoistField.config_def.names() == ["field"]


@pytest.mark.parametrize("vector", vectors_for("HoistField"))
def test_acceptance_vector(vector: dict) -> None:
    run_vector(vector)
