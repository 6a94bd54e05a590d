"""ProtobufConverter: Confluent wire format, descriptors built at run time, mock and HTTP registries."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from lambda_connect.api.data import (
    BOOLEAN_SCHEMA,
    BYTES_SCHEMA,
    FLOAT32_SCHEMA,
    FLOAT64_SCHEMA,
    INT32_SCHEMA,
    INT64_SCHEMA,
    STRING_SCHEMA,
    UTC,
    Schema,
    Struct,
    Timestamp,
    Type,
)
from lambda_connect.api.errors import DataException
from lambda_connect.plugins.converters import _schema_registry
from lambda_connect.plugins.converters.protobuf import ProtobufConverter, read_indexes, write_indexes

INNER = Schema.struct([("x", INT64_SCHEMA)], name="com.example.Inner", optional=True)
SCHEMA = Schema.struct(
    [
        ("i32", INT32_SCHEMA),
        ("i64", INT64_SCHEMA),
        ("f32", FLOAT32_SCHEMA),
        ("f64", FLOAT64_SCHEMA),
        ("flag", BOOLEAN_SCHEMA),
        ("text", STRING_SCHEMA),
        ("opt", Schema(Type.STRING, optional=True)),
        ("blob", BYTES_SCHEMA),
        ("ts", Timestamp.schema(optional=True)),
        ("tags", Schema.array(STRING_SCHEMA, optional=True)),
        ("attrs", Schema.map(STRING_SCHEMA, INT64_SCHEMA, optional=True)),
        ("inner", INNER),
        ("items", Schema.array(INNER, optional=True)),
    ],
    name="com.example.Order",
)


def value(**over: Any) -> Struct:
    v = {
        "i32": -5,
        "i64": 2**40,
        "f32": 1.5,
        "f64": 2.25,
        "flag": True,
        "text": "héllo",
        "opt": None,
        "blob": b"\x00\x01",
        "ts": dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "tags": ["a", "b"],
        "attrs": {"k": 7},
        "inner": Struct(INNER, {"x": 9}),
        "items": [Struct(INNER, {"x": 1}), Struct(INNER, {"x": 2})],
    }
    v.update(over)
    return Struct(SCHEMA, v)


def build(url: str, is_key: bool = False, **props: str) -> ProtobufConverter:
    return ProtobufConverter(ProtobufConverter.config_def.parse({"schema.registry.url": url, **props}), is_key=is_key)


def test_round_trip_every_family_through_wire_format() -> None:
    url = f"mock://{uuid.uuid4().hex}"
    data = build(url).from_connect_data("orders", SCHEMA, value())
    assert data is not None and data[0] == 0 and data[5] == 0  # magic, id, single-zero index shortcut
    schema, got = build(url).to_connect_data("orders", data)
    assert schema is not None and schema.name == "com.example.Order"
    assert got.get("text") == "héllo" and got.get("i64") == 2**40 and got.get("i32") == -5
    assert got.get("opt") is None and got.get("blob") == b"\x00\x01" and got.get("flag") is True
    assert got.get("ts") == dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert schema.field("ts").schema.name == Timestamp.LOGICAL_NAME
    assert got.get("tags") == ["a", "b"] and got.get("attrs") == {"k": 7}
    assert got.get("inner").get("x") == 9 and [s.get("x") for s in got.get("items")] == [1, 2]
    assert schema.field("attrs").schema.type is Type.MAP and schema.field("tags").schema.type is Type.ARRAY
    _, with_opt = build(url).to_connect_data("orders", build(url).from_connect_data("orders", SCHEMA, value(opt="x")))
    assert with_opt.get("opt") == "x"
    subjects = _schema_registry.mock_registry(url).get_subjects()
    assert subjects == ["orders-value"]


def test_record_name_strategy_and_lookup_without_register() -> None:
    url = f"mock://{uuid.uuid4().hex}"
    strategy = {"value.subject.name.strategy": "RecordNameStrategy"}
    build(url, **strategy).from_connect_data("orders", SCHEMA, value())
    assert _schema_registry.mock_registry(url).get_subjects() == ["com.example.Order"]
    other = Schema.struct([("a", STRING_SCHEMA)], name="com.example.Other")
    with pytest.raises(DataException, match="schema ID for subject"):
        build(url, **{"auto.register.schemas": "false"}).from_connect_data("t", other, Struct(other, {"a": "b"}))


def test_field_added_reads_old_and_new_records() -> None:
    url = f"mock://{uuid.uuid4().hex}"
    v1 = Schema.struct([("id", INT64_SCHEMA)], name="com.example.Evo")
    v2 = Schema.struct([("id", INT64_SCHEMA), ("note", Schema(Type.STRING, optional=True))], name="com.example.Evo")
    conv = build(url)
    old = conv.from_connect_data("evo", v1, Struct(v1, {"id": 1}))
    new = conv.from_connect_data("evo", v2, Struct(v2, {"id": 2, "note": "n"}))
    reader = build(url)
    assert reader.to_connect_data("evo", old).value.to_dict() == {"id": 1}
    assert reader.to_connect_data("evo", new).value.to_dict() == {"id": 2, "note": "n"}


def test_unknown_id_and_corrupt_frames_are_clear_errors() -> None:
    conv = build(f"mock://{uuid.uuid4().hex}")
    with pytest.raises(DataException, match="id 4242"):
        conv.to_connect_data("t", _schema_registry.frame(4242, b"\x00"))
    with pytest.raises(DataException, match="magic byte"):
        conv.to_connect_data("t", b"\x07abc")
    with pytest.raises(DataException, match="message-index"):
        conv.to_connect_data("t", _schema_registry.frame(1, b"\x80"))
    good = conv.from_connect_data("orders", SCHEMA, value())
    with pytest.raises(DataException, match="Failed to deserialize Protobuf data for topic orders"):
        conv.to_connect_data("orders", good[:6] + b"\xff\xff\xff")


def test_message_indexes_zigzag_round_trip() -> None:
    assert write_indexes([0]) == b"\x00"
    for idx in ([1], [0, 2], [3, 1, 70]):
        got, rest = read_indexes(memoryview(write_indexes(idx) + b"z"))
        assert got == idx and bytes(rest) == b"z"


class _Registry(BaseHTTPRequestHandler):
    """A registry that serves one schema id only in ``format=serialized`` (no .proto text)."""

    schemas: dict[int, str] = {}
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        path, _, query = self.path.partition("?")
        sid = int(path.rsplit("/", 1)[-1]) if path.startswith("/schemas/ids/") else -1
        if sid in self.schemas and "format=serialized" in query:
            body = json.dumps({"schema": self.schemas[sid], "schemaType": "PROTOBUF"}).encode()
            self.send_response(200)
        else:
            body = json.dumps({"error_code": 40403, "message": f"Schema {sid} not found"}).encode()
            self.send_response(404)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_reads_from_http_registry_with_format_serialized_and_enum() -> None:
    from google.protobuf import descriptor_pb2

    fdp = descriptor_pb2.FileDescriptorProto(name="shop.proto", package="shop", syntax="proto3")
    enum = fdp.enum_type.add(name="Color")
    enum.value.add(name="RED", number=0)
    enum.value.add(name="BLUE", number=1)
    first = fdp.message_type.add(name="Unused")
    first.field.add(name="z", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING, label=1)
    msg = fdp.message_type.add(name="Item")
    msg.field.add(
        name="color", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_ENUM, type_name=".shop.Color", label=1
    )
    _Registry.schemas = {7: base64.b64encode(fdp.SerializeToString()).decode()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conv = build(f"http://127.0.0.1:{server.server_address[1]}")
        # second message of the file: index array [1], then field 1 varint 1 (BLUE)
        schema, got = conv.to_connect_data("t", _schema_registry.frame(7, write_indexes([1]) + b"\x08\x01"))
        assert schema.name == "shop.Item" and got.get("color") == "BLUE"
        assert any("format=serialized" in p for p in _Registry.seen)
        with pytest.raises(DataException, match="id 8"):
            conv.to_connect_data("t", _schema_registry.frame(8, b"\x00"))
    finally:
        server.shutdown()
        server.server_close()
