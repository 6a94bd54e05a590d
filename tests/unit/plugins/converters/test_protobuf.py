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
    assert schema is not None and schema.name == "Order"  # Confluent's default: the bare message name
    assert build(url, **{"enhanced.protobuf.schema.support": "true"}).to_connect_data("orders", data).schema.name == (
        "com.example.Order"
    )
    assert got.get("text") == "héllo" and got.get("i64") == 2**40 and got.get("i32") == -5
    # Confluent's defaults: a null primitive is written as a plain proto3 field, so it reads as its default
    assert got.get("opt") == "" and got.get("blob") == b"\x00\x01" and got.get("flag") is True
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
    read_new = reader.to_connect_data("evo", new)
    assert read_new.value.to_dict() == {"id": 2, "note": "n"}
    assert read_new.schema.field("note").schema.parameters == {"io.confluent.connect.protobuf.Tag": "2"}


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


# --- registry features: references, .proto text, bearer auth -------------------------------------
class _FullRegistry(BaseHTTPRequestHandler):
    """Ids and subject versions, each with references; answers in .proto text unless
    ``format=serialized`` is asked and the entry has a serialized form. Records headers."""

    ids: dict[int, dict[str, Any]] = {}
    versions: dict[tuple[str, int], dict[str, Any]] = {}
    auth: list[str | None] = []

    def do_GET(self) -> None:
        self.auth.append(self.headers.get("Authorization"))
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        entry = None
        if parts[:2] == ["schemas", "ids"]:
            entry = self.ids.get(int(parts[2]))
        elif parts[0] == "subjects" and len(parts) == 4:
            entry = self.versions.get((parts[1], int(parts[3])))
        if entry is None:
            body, code = json.dumps({"error_code": 40403, "message": "not found"}).encode(), 404
        else:
            text = entry["serialized"] if "format=serialized" in query and "serialized" in entry else entry["text"]
            doc = {"schema": text, "schemaType": "PROTOBUF", "references": entry.get("refs", [])}
            if parts[0] == "subjects":
                doc.update(subject=parts[1], version=int(parts[3]), id=entry.get("id", 99))
            body, code = json.dumps(doc).encode(), 200
        self.send_response(code)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def registry() -> Any:
    _FullRegistry.ids, _FullRegistry.versions, _FullRegistry.auth = {}, {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FullRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_reads_from_http_registry_with_format_serialized_and_enum(registry: str) -> None:
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
    # the text form is unreadable on purpose: only format=serialized can succeed
    _FullRegistry.ids[7] = {"text": "not proto", "serialized": base64.b64encode(fdp.SerializeToString()).decode()}
    conv = build(registry)
    # second message of the file: index array [1], then field 1 varint 1 (BLUE)
    schema, got = conv.to_connect_data("t", _schema_registry.frame(7, write_indexes([1]) + b"\x08\x01"))
    assert schema.name == "Item" and got.get("color") == "BLUE"
    assert schema.field("color").schema.parameters["io.confluent.connect.protobuf.Enum.BLUE"] == "1"
    with pytest.raises(DataException, match="id 8"):
        conv.to_connect_data("t", _schema_registry.frame(8, b"\x00"))


COMMON = 'syntax = "proto3";\npackage common;\nimport "google/type/date.proto";\nmessage Money { int64 cents = 1; string currency = 2; google.type.Date booked = 3; }\n'  # noqa: E501
ORDER = """
syntax = "proto3";
package shop;
import "common/money.proto";
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  common.Money total = 2;
  oneof payment { string card = 3; int64 account = 4; }
  google.protobuf.Timestamp at = 5;
  enum State { NEW = 0; PAID = 1; }
  State state = 6;
}
"""


def _ser(text: str, name: str) -> str:
    from lambda_connect.plugins.converters._proto_text import parse_proto

    return base64.b64encode(parse_proto(text, name).SerializeToString()).decode()


def _order_bytes() -> bytes:
    from google.protobuf import message_factory
    from lambda_connect.plugins.converters import _proto_text, _protobuf_schemas

    common = _proto_text.parse_proto(COMMON, "common/money.proto")
    desc = _protobuf_schemas.build_file(
        _proto_text.parse_proto(ORDER, "shop/order.proto"), lambda name: common
    ).message_types_by_name["Order"]
    msg = message_factory.GetMessageClass(desc)(id=5, account=77, state=1)
    msg.total.cents = 1250
    msg.total.currency = "EUR"
    msg.total.booked.year, msg.total.booked.month, msg.total.booked.day = 2024, 2, 29
    msg.at.seconds, msg.at.nanos = 1_700_000_000, 123_456_789
    return msg.SerializeToString()


@pytest.mark.parametrize("serialized", [True, False], ids=["format=serialized", "proto-text"])
def test_references_oneof_enum_and_well_known_types(registry: str, serialized: bool) -> None:
    ref = [{"name": "common/money.proto", "subject": "money", "version": 3}]
    _FullRegistry.ids[11] = {"text": ORDER, "refs": ref}
    _FullRegistry.versions[("money", 3)] = {"text": COMMON}
    if serialized:
        _FullRegistry.ids[11]["serialized"] = _ser(ORDER, "shop/order.proto")
        _FullRegistry.versions[("money", 3)]["serialized"] = _ser(COMMON, "common/money.proto")
    schema, got = build(registry).to_connect_data("orders", _schema_registry.frame(11, b"\x00" + _order_bytes()))
    assert [f.name for f in schema.fields] == ["payment_0", "id", "total", "at", "state"]
    union = schema.field("payment_0").schema
    assert union.name == "io.confluent.connect.protobuf.Union.payment" and union.optional
    assert got.get("payment_0").to_dict() == {"card": None, "account": 77}
    assert got.get("total").get("booked") == dt.date(2024, 2, 29) and got.get("total").get("cents") == 1250
    assert schema.field("total").schema.field("booked").schema.name == "org.apache.kafka.connect.data.Date"
    assert got.get("at") == dt.datetime.fromtimestamp(1_700_000_000.123, tz=UTC)  # millisecond precision
    assert got.get("state") == "PAID"
    # what was read writes back through the mock registry and reads the same
    url = f"mock://{uuid.uuid4().hex}"
    again = build(url).to_connect_data("o2", build(url).from_connect_data("o2", schema, got))
    assert again.value.to_dict() == got.to_dict()


def test_missing_reference_and_recursive_message_are_clear(registry: str) -> None:
    _FullRegistry.ids[12] = {"text": ORDER}  # imports common/money.proto but lists no reference
    with pytest.raises(DataException, match=r"id 12 imports common/money.proto, which has no schema reference"):
        build(registry).to_connect_data("t", _schema_registry.frame(12, b"\x00"))
    _FullRegistry.ids[13] = {"text": 'syntax = "proto3"; message Node { Node next = 1; }'}
    with pytest.raises(DataException, match="Node contains itself"):
        build(registry).to_connect_data("t", _schema_registry.frame(13, b"\x00"))


def test_bearer_static_token_is_sent(registry: str) -> None:
    _FullRegistry.ids[14] = {"text": 'syntax = "proto3"; message A { string s = 1; }'}
    conv = build(registry, **{"bearer.auth.credentials.source": "STATIC_TOKEN", "bearer.auth.token": "tok-1"})
    assert conv.to_connect_data("t", _schema_registry.frame(14, b"\x00\x0a\x01z")).value.get("s") == "z"
    assert _FullRegistry.auth == ["Bearer tok-1"]
    from lambda_connect.api.errors import ConfigException

    with pytest.raises(ConfigException, match=r"bearer\.auth\.token"):
        build(registry, **{"bearer.auth.credentials.source": "STATIC_TOKEN"})
    with pytest.raises(ConfigException, match=r"bearer\.auth\.issuer\.endpoint\.url"):
        build(registry, **{"bearer.auth.credentials.source": "OAUTHBEARER"})


def test_logical_types_narrow_ints_and_unions_round_trip() -> None:
    from decimal import Decimal as D

    from lambda_connect.api.data import Date, Decimal, Time

    union = Schema.struct(
        [("email", Schema(Type.STRING, optional=True)), ("phone", Schema(Type.INT64, optional=True))],
        name="io.confluent.connect.protobuf.Union.contact",
        optional=True,
    )
    color = Schema(
        Type.STRING,
        optional=True,
        parameters={
            "io.confluent.connect.protobuf.Enum": "Color",
            "io.confluent.connect.protobuf.Enum.RED": "0",
            "io.confluent.connect.protobuf.Enum.GREEN": "1",
        },
    )
    s = Schema.struct(
        [
            ("day", Date.schema(optional=True)),
            ("at", Time.schema(optional=True)),
            ("price", Decimal.schema(2, optional=True, precision=10)),
            ("tiny", Schema(Type.INT8)),
            ("small", Schema(Type.INT16)),
            ("contact_0", union),
            ("color", color),
            ("days", Schema.array(Date.schema(optional=True), optional=True)),
        ],
        name="com.example.Kinds",
    )
    v = Struct(
        s,
        {
            "day": dt.date(1999, 12, 31),
            "at": dt.time(23, 59, 58, 123000),
            "price": D("-12.34"),
            "tiny": -8,
            "small": 300,
            "contact_0": Struct(union, {"phone": 5551234}),
            "color": "GREEN",
            "days": [dt.date(2020, 1, 1)],
        },
    )
    url = f"mock://{uuid.uuid4().hex}"
    schema, got = build(url).to_connect_data("k", build(url).from_connect_data("k", s, v))
    assert got.get("day") == dt.date(1999, 12, 31) and got.get("at") == dt.time(23, 59, 58, 123000)
    assert got.get("price") == D("-12.34") and schema.field("price").schema.parameters["scale"] == "2"
    assert schema.field("price").schema.parameters["connect.decimal.precision"] == "10"
    assert schema.field("tiny").schema.type is Type.INT8 and schema.field("small").schema.type is Type.INT16
    assert got.get("tiny") == -8 and got.get("small") == 300
    assert got.get("contact_0").to_dict() == {"email": None, "phone": 5551234}
    assert got.get("color") == "GREEN" and got.get("days") == [dt.date(2020, 1, 1)]
    bad = Struct(s, {**{f.name: v.get(f.name) for f in s.fields}, "color": "PURPLE"})
    with pytest.raises(DataException, match="PURPLE"):
        build(url).from_connect_data("k", s, bad)


def test_use_latest_version_writes_with_the_registered_schema() -> None:
    url = f"mock://{uuid.uuid4().hex}"
    # the subject's latest schema numbers the fields differently (id=7, note=3) and has an extra one
    latest = 'syntax = "proto3";\npackage com.example;\nmessage Evo { string extra = 1; optional string note = 3; int64 id = 7; }\n'  # noqa: E501
    sr = _schema_registry._schema_registry_module()
    latest_id = _schema_registry.mock_registry(url).register_schema("evo-value", sr.Schema(latest, "PROTOBUF"))
    mine = Schema.struct([("id", INT64_SCHEMA), ("note", Schema(Type.STRING, optional=True))], name="com.example.Evo")
    data = build(url, **{"use.latest.version": "true", "auto.register.schemas": "false"}).from_connect_data(
        "evo", mine, Struct(mine, {"id": 5, "note": "n"})
    )
    assert int.from_bytes(data[1:5], "big") == latest_id
    got = build(url).to_connect_data("evo", data)
    assert got.value.to_dict() == {"extra": "", "note": "n", "id": 5}
    assert got.schema.field("id").schema.parameters["io.confluent.connect.protobuf.Tag"] == "7"
    other = Schema.struct([("nope", INT64_SCHEMA)], name="com.example.Evo")
    with pytest.raises(DataException, match="has no field 'nope'"):
        build(url, **{"use.latest.version": "true"}).from_connect_data("evo", other, Struct(other, {"nope": 1}))


def test_random_bodies_only_ever_fail_with_a_data_exception() -> None:
    """Bounded, fixed seed: valid frames of every type family with bytes flipped, cut or added."""
    import contextlib
    import random

    url = f"mock://{uuid.uuid4().hex}"
    good = build(url).from_connect_data("orders", SCHEMA, value())
    conv = build(url)
    rnd = random.Random(18)
    for _ in range(500):
        body = bytearray(good[6:])
        for _ in range(rnd.randint(1, 4)):
            if not body:
                break
            roll, j = rnd.random(), rnd.randrange(len(body))
            if roll < 0.5:
                body[j] = rnd.randrange(256)
            elif roll < 0.75:
                del body[j:]
            else:
                body[j:j] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        with contextlib.suppress(DataException):  # anything else escaping fails the test
            conv.to_connect_data("orders", good[:6] + bytes(body))
    # a Timestamp past Python's datetime range: field 9 (ts) with seconds = 2**48
    ts_seconds = b"\x08" + bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40])
    with pytest.raises(DataException, match="topic orders"):
        conv.to_connect_data("orders", good[:6] + b"\x4a" + bytes([len(ts_seconds)]) + ts_seconds)


# --- nullability: Confluent's optional.for.nullables / wrapper.for.nullables ---------------------------
NULLABLE = Schema.struct(
    [
        ("id", INT64_SCHEMA),
        ("note", Schema(Type.STRING, optional=True)),
        ("small", Schema(Type.INT16, optional=True)),
        ("flag", Schema(Type.BOOLEAN, optional=True)),
    ],
    name="com.example.Row",
)


def _registered(url: str, subject: str) -> Any:
    """The FileDescriptorProto the converter registered under ``subject``."""
    from lambda_connect.plugins.converters.protobuf import file_proto

    text = _schema_registry.mock_registry(url).get_latest_version(subject).schema.schema_str
    return file_proto(text, "registered.proto", subject)


def _fields(fdp: Any) -> dict[str, tuple[int, str, bool]]:
    """name -> (type, type_name, proto3_optional) of the first message's fields."""
    return {f.name: (f.type, f.type_name, f.proto3_optional) for f in fdp.message_type[0].field}


def test_default_reads_every_field_optional_with_proto3_default_values() -> None:
    text = ('syntax = "proto3"; message A { int32 n = 1; string s = 2; optional int64 o = 3;'
            " repeated int32 xs = 4; map<string, int32> m = 5; bool b = 6; }")
    url = f"mock://{uuid.uuid4().hex}"
    sr = _schema_registry._schema_registry_module()
    schema_id = _schema_registry.mock_registry(url).register_schema("t-value", sr.Schema(text, "PROTOBUF"))
    read = build(url).to_connect_data("t", _schema_registry.frame(schema_id, b"\x00"))
    presence = build(url, **{"optional.for.nullables": "true"}).to_connect_data(
        "t", _schema_registry.frame(schema_id, b"\x00")
    )
    schema = read.schema
    assert all(f.schema.optional for f in schema.fields)
    assert schema.field("xs").schema.value_schema.optional  # array items too, as Confluent builds them
    assert schema.field("m").schema.key_schema.optional and schema.field("m").schema.value_schema.optional
    # unset plain scalars still read as their proto3 defaults; only a field with presence reads as null
    assert read.value.to_dict() == {"n": 0, "s": "", "o": None, "xs": [], "m": {}, "b": False}
    assert schema.field("n").schema.parameters == {"io.confluent.connect.protobuf.Tag": "1"}
    # optional.for.nullables=true: only fields that can be absent are optional (the old mapping)
    assert [f.name for f in presence.schema.fields if not f.schema.optional] == ["n", "s", "b"]
    assert presence.value.to_dict() == read.value.to_dict()


def test_nullables_keys_choose_how_optional_primitives_are_written() -> None:
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    row = Struct(NULLABLE, {"id": 1, "note": None, "small": None, "flag": None})
    for props, note_field, read_back in [
        ({}, (F.TYPE_STRING, "", False), {"id": 1, "note": "", "small": 0, "flag": False}),
        ({"optional.for.nullables": "true"}, (F.TYPE_STRING, "", True),
         {"id": 1, "note": None, "small": None, "flag": None}),
        ({"wrapper.for.nullables": "true"}, (F.TYPE_MESSAGE, ".google.protobuf.StringValue", False),
         {"id": 1, "note": None, "small": None, "flag": None}),
        ({"optional.for.nullables": "true", "wrapper.for.nullables": "true"},
         (F.TYPE_MESSAGE, ".google.protobuf.StringValue", False), {"id": 1, "note": None, "small": None, "flag": None}),
    ]:
        url = f"mock://{uuid.uuid4().hex}"
        data = build(url, **props).from_connect_data("t", NULLABLE, row)
        fdp = _registered(url, "t-value")
        assert _fields(fdp)["note"] == note_field, props
        assert _fields(fdp)["id"] == (F.TYPE_INT64, "", False), props  # a required primitive is always plain
        got = build(url, **props).to_connect_data("t", data)
        assert got.value.to_dict() == read_back, props
        assert got.schema.field("small").schema.type is Type.INT16, props  # connect.type survives a wrapper too
        full = build(url, **props).to_connect_data(
            "t", build(url, **props).from_connect_data(
                "t", NULLABLE, Struct(NULLABLE, {"id": 2, "note": "n", "small": -3, "flag": True})
            )
        )
        assert full.value.to_dict() == {"id": 2, "note": "n", "small": -3, "flag": True}, props
    assert "google/protobuf/wrappers.proto" in fdp.dependency


@pytest.mark.parametrize(
    ("props", "fields"),
    [
        ({}, "int64 id = 1; string name = 2; bool b = 5;"),
        ({"optional.for.nullables": "true"}, "int64 id = 1; optional string name = 2; bool b = 5;"),
        ({"wrapper.for.nullables": "true"}, "int64 id = 1; google.protobuf.StringValue name = 2; bool b = 5;"),
    ],
    ids=["defaults", "optional.for.nullables", "wrapper.for.nullables"],
)
def test_what_was_read_writes_back_the_same_schema(props: dict[str, str], fields: str) -> None:
    """Read a topic, write it back with auto.register.schemas: the registered .proto has the
    same fields (types, numbers, `optional`, wrappers) as the source's, in each mode."""
    from google.protobuf import message_factory
    from lambda_connect.plugins.converters import _proto_text, _protobuf_schemas

    source = ('syntax = "proto3";\npackage com.example;\nimport "google/protobuf/wrappers.proto";\n'
              f"message Row {{ {fields} }}\n")
    url = f"mock://{uuid.uuid4().hex}"
    sr = _schema_registry._schema_registry_module()
    schema_id = _schema_registry.mock_registry(url).register_schema("in-value", sr.Schema(source, "PROTOBUF"))
    fdp = _proto_text.parse_proto(source, "in.proto")
    desc = _protobuf_schemas.build_file(fdp, what="in").message_types_by_name["Row"]
    cls = message_factory.GetMessageClass(desc)
    msg = cls(id=4, b=True)
    if props.get("wrapper.for.nullables"):
        msg.name.value = "x"
    else:
        msg.name = "x"
    frame = _schema_registry.frame(schema_id, b"\x00" + msg.SerializeToString())
    read = build(url, **props).to_connect_data("in", frame)
    data = build(url, **props).from_connect_data("out", read.schema, read.value)

    def shape(f: Any) -> dict[str, tuple[int, int, str, bool]]:
        return {x.name: (x.number, x.type, x.type_name.lstrip("."), x.proto3_optional) for x in f.message_type[0].field}

    assert shape(_registered(url, "out-value")) == shape(desc_proto(desc))
    again = build(url, **props).to_connect_data("out", data)
    assert again.value.to_dict() == read.value.to_dict() == {"id": 4, "name": "x", "b": True}
    assert again.schema == read.schema


def desc_proto(desc: Any) -> Any:
    """The resolved FileDescriptorProto of a message descriptor's file (type names made full)."""
    from google.protobuf import descriptor_pb2

    out = descriptor_pb2.FileDescriptorProto()
    desc.file.CopyToProto(out)
    return out
