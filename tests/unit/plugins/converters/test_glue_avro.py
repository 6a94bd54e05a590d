"""AWSKafkaAvroConverter against moto's Glue Schema Registry."""

from __future__ import annotations

import uuid

import pytest
from lambda_connect.api.data import INT64_SCHEMA, STRING_SCHEMA, Schema, Struct, Type
from lambda_connect.api.errors import DataException
from lambda_connect.plugins.converters.glue_avro import AWSKafkaAvroConverter, glue_frame

from tests.fixtures.glue import glue_registry  # noqa: F401 - the "glue" fixture

V1 = Schema.struct([("id", INT64_SCHEMA), ("name", STRING_SCHEMA)], name="com.example.User")
V2 = Schema.struct(
    [("id", INT64_SCHEMA), ("name", STRING_SCHEMA), ("email", Schema(Type.STRING, optional=True))],
    name="com.example.User",
)


def build(**props: str) -> AWSKafkaAvroConverter:
    base = {"registry.name": "reg", "region": "us-east-1"}
    return AWSKafkaAvroConverter(AWSKafkaAvroConverter.config_def.parse({**base, **props}))


def test_round_trip_registers_and_frames(glue: None) -> None:
    data = build(schemaAutoRegistrationEnabled="true").from_connect_data(
        "users", V1, Struct(V1, {"id": 1, "name": "a"})
    )
    assert data is not None and data[0] == 3 and data[1] == 0
    schema, got = build().to_connect_data("users", data)
    assert got.to_dict() == {"id": 1, "name": "a"} and schema.field("name") is not None


def test_zlib_and_evolution(glue: None) -> None:
    w = build(schemaAutoRegistrationEnabled="true", compression="ZLIB")
    old = w.from_connect_data("users", V1, Struct(V1, {"id": 1, "name": "a" * 200}))
    new = w.from_connect_data("users", V2, Struct(V2, {"id": 2, "name": "b", "email": "e"}))
    assert old[1] == 5 and len(old) < 100 and old[2:18] != new[2:18]
    r = build()
    assert r.to_connect_data("users", old).value.get("name") == "a" * 200
    assert r.to_connect_data("users", new).value.to_dict() == {"id": 2, "name": "b", "email": "e"}


def test_unknown_uuid_corrupt_and_unregistered(glue: None) -> None:
    missing = uuid.uuid4()
    with pytest.raises(DataException, match=str(missing)):
        build().to_connect_data("t", glue_frame(missing, b"\x02"))
    with pytest.raises(DataException, match="header version 3"):
        build().to_connect_data("t", b"\x00\x00\x00\x00\x01abc")
    with pytest.raises(DataException, match="compression byte 9"):
        build().to_connect_data("t", bytes([3, 9]) + missing.bytes + b"x")
    with pytest.raises(DataException, match="zlib"):
        build().to_connect_data("t", bytes([3, 5]) + missing.bytes + b"notzlib")
    with pytest.raises(DataException, match="schemaAutoRegistrationEnabled"):
        build().from_connect_data("users", V1, Struct(V1, {"id": 1, "name": "a"}))
