"""Connect schemas and values <-> Protobuf descriptors and dynamic messages.

Everything is built at run time with the ``protobuf`` runtime (no generated code): the
write side turns a Connect STRUCT schema into a ``FileDescriptorProto``; the read side
turns any message descriptor fetched from the registry into a Connect schema.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from lambda_connect.api.data import Schema, Struct, Timestamp, Type
from lambda_connect.api.errors import DataException

_TS = "google.protobuf.Timestamp"
_WRAPPERS = {
    "google.protobuf.DoubleValue": Type.FLOAT64,
    "google.protobuf.FloatValue": Type.FLOAT32,
    "google.protobuf.Int64Value": Type.INT64,
    "google.protobuf.UInt64Value": Type.INT64,
    "google.protobuf.Int32Value": Type.INT32,
    "google.protobuf.UInt32Value": Type.INT64,
    "google.protobuf.BoolValue": Type.BOOLEAN,
    "google.protobuf.StringValue": Type.STRING,
    "google.protobuf.BytesValue": Type.BYTES,
}
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _fd() -> Any:
    from google.protobuf import descriptor

    return descriptor.FieldDescriptor


# --- descriptor -> Connect ----------------------------------------------------------------
def _scalar_type(fd: Any) -> Type:
    f = _fd()
    t = fd.type
    if t in (f.TYPE_DOUBLE,):
        return Type.FLOAT64
    if t in (f.TYPE_FLOAT,):
        return Type.FLOAT32
    if t in (
        f.TYPE_INT64,
        f.TYPE_SINT64,
        f.TYPE_SFIXED64,
        f.TYPE_UINT64,
        f.TYPE_FIXED64,
        f.TYPE_UINT32,
        f.TYPE_FIXED32,
    ):
        return Type.INT64
    if t in (f.TYPE_INT32, f.TYPE_SINT32, f.TYPE_SFIXED32):
        return Type.INT32
    if t == f.TYPE_BOOL:
        return Type.BOOLEAN
    if t in (f.TYPE_STRING, f.TYPE_ENUM):
        return Type.STRING
    if t == f.TYPE_BYTES:
        return Type.BYTES
    raise DataException(f"Protobuf field {fd.full_name} has an unsupported type {t}")


def _is_map(fd: Any) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _is_repeated(fd: Any) -> bool:
    return bool(fd.is_repeated) if hasattr(fd, "is_repeated") else fd.label == _fd().LABEL_REPEATED


def _field_schema(fd: Any) -> Schema:
    if _is_map(fd):
        entry = fd.message_type
        return Schema.map(
            _single_schema(entry.fields_by_name["key"]), _single_schema(entry.fields_by_name["value"]), optional=True
        )
    single = _single_schema(fd)
    if _is_repeated(fd):
        return Schema.array(single, optional=True)
    return single


def _single_schema(fd: Any) -> Schema:
    msg = fd.message_type
    if msg is not None:
        if msg.full_name == _TS:
            return Timestamp.schema(optional=True)
        if msg.full_name in _WRAPPERS:
            return Schema(_WRAPPERS[msg.full_name], optional=True)
        return message_schema(msg, optional=True)
    params = None
    if fd.type == _fd().TYPE_ENUM:
        params = {"protobuf.enum": fd.enum_type.full_name}
    in_oneof = fd.containing_oneof is not None or getattr(fd, "has_presence", False)
    return Schema(_scalar_type(fd), optional=bool(in_oneof), parameters=params)


def message_schema(desc: Any, *, optional: bool = False) -> Schema:
    """The Connect STRUCT schema of a message descriptor (oneof members become optional fields)."""
    return Schema.struct([(f.name, _field_schema(f)) for f in desc.fields], name=desc.full_name, optional=optional)


def to_connect(schema: Schema, msg: Any) -> Struct:
    """A Struct from a dynamic message, following ``message_schema``."""
    desc = msg.DESCRIPTOR
    values: dict[str, Any] = {}
    for field in schema.fields:
        fd = desc.fields_by_name[field.name]
        raw = getattr(msg, fd.name)
        if _is_map(fd):
            vfd = fd.message_type.fields_by_name["value"]
            values[fd.name] = {k: _single_value(field.schema.value_schema, vfd, raw[k], True) for k in raw}
        elif _is_repeated(fd):
            values[fd.name] = [_single_value(field.schema.value_schema, fd, v, True) for v in raw]
        else:
            present = msg.HasField(fd.name) if (fd.message_type is not None or field.schema.optional) else True
            values[fd.name] = _single_value(field.schema, fd, raw, present)
    return Struct(schema, values)


def _single_value(schema: Schema, fd: Any, raw: Any, present: bool) -> Any:
    if not present:
        return None
    msg = fd.message_type
    if msg is not None:
        if msg.full_name == _TS:
            return _EPOCH + _dt.timedelta(seconds=raw.seconds, microseconds=raw.nanos // 1000)
        if msg.full_name in _WRAPPERS:
            return raw.value
        return to_connect(schema, raw)
    if fd.type == _fd().TYPE_ENUM:
        value = fd.enum_type.values_by_number.get(raw)
        return value.name if value is not None else str(raw)
    return raw


# --- Connect -> descriptor ----------------------------------------------------------------
_PROTO_TYPES = {
    Type.INT8: "TYPE_INT32",
    Type.INT16: "TYPE_INT32",
    Type.INT32: "TYPE_INT32",
    Type.INT64: "TYPE_INT64",
    Type.FLOAT32: "TYPE_FLOAT",
    Type.FLOAT64: "TYPE_DOUBLE",
    Type.BOOLEAN: "TYPE_BOOL",
    Type.STRING: "TYPE_STRING",
    Type.BYTES: "TYPE_BYTES",
}


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.replace(".", "_").split("_") if p) or "Entry"


def file_for(schema: Schema, package: str = "") -> Any:
    """A ``FileDescriptorProto`` whose first message is ``schema`` (a STRUCT).

    Optional Connect primitives become proto3 ``optional`` fields so that null survives.
    """
    from google.protobuf import descriptor_pb2

    if schema.type is not Type.STRUCT:
        raise DataException(f"ProtobufConverter writes STRUCT values only, not {schema.type.name}")
    name = (schema.name or "ConnectDefault1").rsplit(".", 1)
    pkg = name[0] if len(name) == 2 else package
    fdp = descriptor_pb2.FileDescriptorProto(
        name=f"{(schema.name or 'connect_default').replace('.', '_')}.proto", syntax="proto3", package=pkg
    )
    needs_ts = [False]
    _message(fdp.message_type.add(), name[-1], schema, needs_ts)
    if needs_ts[0]:
        fdp.dependency.append("google/protobuf/timestamp.proto")
    return fdp


def _message(mp: Any, name: str, schema: Schema, needs_ts: list[bool]) -> None:
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    mp.name = name
    for number, field in enumerate(schema.fields, start=1):
        fp = mp.field.add(name=field.name, number=number, label=F.LABEL_OPTIONAL)
        fs = field.schema
        if fs.type is Type.MAP:
            entry = mp.nested_type.add(name=_camel(field.name) + "Entry")
            entry.options.map_entry = True
            _entry_field(entry.field.add(name="key", number=1, label=F.LABEL_OPTIONAL), fs.key_schema, entry, needs_ts)
            _entry_field(
                entry.field.add(name="value", number=2, label=F.LABEL_OPTIONAL), fs.value_schema, entry, needs_ts
            )
            fp.label = F.LABEL_REPEATED
            fp.type = F.TYPE_MESSAGE
            fp.type_name = entry.name
            continue
        item = fs
        if fs.type is Type.ARRAY:
            fp.label = F.LABEL_REPEATED
            item = fs.value_schema
        _entry_field(fp, item, mp, needs_ts)
        if fs.type is not Type.ARRAY and fs.optional and item.type in _PROTO_TYPES and item.name is None:
            fp.proto3_optional = True
            oneof = len(mp.oneof_decl)
            mp.oneof_decl.add(name=f"_{field.name}")
            fp.oneof_index = oneof


def _entry_field(fp: Any, schema: Schema, parent: Any, needs_ts: list[bool]) -> None:
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    if schema.name == Timestamp.LOGICAL_NAME:
        fp.type = F.TYPE_MESSAGE
        fp.type_name = "." + _TS
        needs_ts[0] = True
    elif schema.type is Type.STRUCT:
        nested = _camel(schema.name.rsplit(".", 1)[-1] if schema.name else fp.name)
        if not any(n.name == nested for n in parent.nested_type):
            _message(parent.nested_type.add(), nested, schema, needs_ts)
        fp.type = F.TYPE_MESSAGE
        fp.type_name = nested
    elif schema.type in _PROTO_TYPES:
        fp.type = getattr(F, _PROTO_TYPES[schema.type])
    else:
        raise DataException(f"ProtobufConverter cannot write a nested {schema.type.name} inside field {fp.name}")


def fill(msg: Any, schema: Schema, value: Struct) -> None:
    """Copy a Struct into a dynamic message built from ``file_for(schema)``."""
    for field in schema.fields:
        v = value.get(field.name)
        if v is None:
            continue
        fs = field.schema
        if fs.type is Type.MAP:
            target = getattr(msg, field.name)
            for k, item in v.items():
                if fs.value_schema.type is Type.STRUCT or fs.value_schema.name == Timestamp.LOGICAL_NAME:
                    _fill_single(target[k], fs.value_schema, item)
                else:
                    target[k] = item
        elif fs.type is Type.ARRAY:
            target = getattr(msg, field.name)
            for item in v:
                if fs.value_schema.type is Type.STRUCT or fs.value_schema.name == Timestamp.LOGICAL_NAME:
                    _fill_single(target.add(), fs.value_schema, item)
                else:
                    target.append(item)
        elif fs.type is Type.STRUCT or fs.name == Timestamp.LOGICAL_NAME:
            _fill_single(getattr(msg, field.name), fs, v)
        else:
            setattr(msg, field.name, v)


def _fill_single(target: Any, schema: Schema, value: Any) -> None:
    if schema.name == Timestamp.LOGICAL_NAME:
        millis = Timestamp.from_logical(schema, value)
        target.seconds, rest = divmod(millis, 1000)
        target.nanos = rest * 1_000_000
    else:
        fill(target, schema, value)
