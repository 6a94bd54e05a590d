"""Connect schemas and values <-> Protobuf descriptors and dynamic messages, mapped the way
Confluent's ``ProtobufData`` maps them.

Everything is built at run time with the ``protobuf`` runtime (no generated code): the
read side turns a message descriptor into a Connect schema plus a compiled reader (one
closure per field, built once per schema id, so decoding a record walks no descriptors);
the write side turns a Connect STRUCT schema into a ``FileDescriptorProto`` and fills a
dynamic message from a Struct.

Shapes, as Confluent produces them: a message is a STRUCT named after the message (its
full name with ``enhanced.protobuf.schema.support``); a real ``oneof`` is an optional STRUCT
field ``<oneof>_<index>`` named ``io.confluent.connect.protobuf.Union.<oneof>`` holding its
members; an enum is a STRING with ``io.confluent.connect.protobuf.Enum`` parameters;
``google.protobuf.Timestamp``, ``google.type.Date``, ``google.type.TimeOfDay`` and
``confluent.type.Decimal`` are the Connect logical types; every field schema carries its
field number as ``io.confluent.connect.protobuf.Tag``, which writing honours.

Nullability follows Confluent's two data keys (both false by default, as there):

- neither set: every field of a message is optional in the Connect schema, yet an unset
  proto3 scalar still reads as its default (0, "", false, the first enum symbol) and only
  fields with presence (messages, proto2/proto3 ``optional``, oneof members) read as null.
  Writing turns an optional Connect primitive into a plain proto3 field, so a null is
  written as the default and a schema read here writes back unchanged.
- ``optional.for.nullables``: reading makes only fields with presence optional; writing
  marks optional primitives proto3 ``optional`` so null survives the trip.
- ``wrapper.for.nullables``: reading keeps presence-less scalars required; writing turns
  optional primitives into ``google.protobuf.*Value`` wrapper fields (null = absent).

Wrapper fields read as optional primitives in every mode. Array items are optional Connect
schemas, as Confluent builds them; they are written as plain repeated fields.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
from collections.abc import Callable
from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.data import Date, Decimal, Schema, Struct, Time, Timestamp, Type
from lambda_connect.api.errors import DataException

from ._protobuf_schemas import DATE_TYPE, DECIMAL_TYPE, TIME_TYPE, TIMESTAMP_TYPE, add_meta_params, meta_params

__all__ = [
    "ENUM_PARAM",
    "NULLABLES_CONFIG_DEF",
    "TAG_PARAM",
    "UNION_PREFIX",
    "file_for",
    "message_reader",
    "message_schema",
    "message_writer",
    "nullables",
]

_NS = "io.confluent.connect.protobuf"
ENUM_PARAM = _NS + ".Enum"
UNION_PREFIX = _NS + ".Union."
TAG_PARAM = _NS + ".Tag"

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

Reader = Callable[[Any], Any]

# --- the nullables keys (Confluent's data config; shared with the Glue Protobuf converter) ----
OPTIONAL_FOR_NULLABLES_CONFIG = "optional.for.nullables"
WRAPPER_FOR_NULLABLES_CONFIG = "wrapper.for.nullables"

NULLABLES_CONFIG_DEF = ConfigDef(
    ConfigKey(
        name=OPTIONAL_FOR_NULLABLES_CONFIG,
        type=ConfigType.BOOLEAN,
        default="false",
        importance=Importance.MEDIUM,
        doc="Keep null in optional Connect primitives by writing them as proto3 `optional` fields; when "
        "reading, only fields that can be absent (`optional`, messages, oneof members) are then optional in "
        "the Connect schema. false: every field reads as optional and a null primitive is written as its "
        "type's default value.",
    ),
    ConfigKey(
        name=WRAPPER_FOR_NULLABLES_CONFIG,
        type=ConfigType.BOOLEAN,
        default="false",
        importance=Importance.MEDIUM,
        doc="Keep null in optional Connect primitives by writing them as `google.protobuf` wrapper messages "
        "(`Int64Value`, `StringValue`, ...); when reading, plain scalars then stay required in the Connect "
        "schema. Wrapper fields read as optional primitives either way.",
    ),
)


def nullables(config: Config) -> dict[str, bool]:
    """The nullables keys as keyword arguments of ``_protobuf_data.message_schema``/``file_for``."""
    return {
        "optional_for_nullables": config[OPTIONAL_FOR_NULLABLES_CONFIG],
        "wrapper_for_nullables": config[WRAPPER_FOR_NULLABLES_CONFIG],
    }


def _fd() -> Any:
    from google.protobuf import descriptor

    return descriptor.FieldDescriptor


# --- descriptor -> Connect schema ---------------------------------------------------------
def _scalar_type(fd: Any) -> Type:
    f = _fd()
    t = fd.type
    if t == f.TYPE_DOUBLE:
        return Type.FLOAT64
    if t == f.TYPE_FLOAT:
        return Type.FLOAT32
    if t in (f.TYPE_INT64, f.TYPE_SINT64, f.TYPE_SFIXED64, f.TYPE_UINT64, f.TYPE_FIXED64, f.TYPE_UINT32,
             f.TYPE_FIXED32):
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


def _real_oneof(fd: Any) -> Any:
    """The field's oneof unless it is the synthetic one protoc makes for a proto3 ``optional``
    (named ``_<field>``, holding that field alone)."""
    oneof = fd.containing_oneof
    if oneof is None or (len(oneof.fields) == 1 and oneof.name == "_" + fd.name):
        return None
    return oneof


def _tagged(schema: Schema, number: int) -> Schema:
    return schema.copy(parameters={**(schema.parameters or {}), TAG_PARAM: str(number)})


class _Ctx:
    """Per-schema build state: naming, whether only fields with presence are optional (either
    nullables key) or all of them (Confluent's default), and the message names on the current
    path (a recursive message cannot become a finite Connect schema)."""

    def __init__(self, enhanced: bool, presence_only: bool) -> None:
        self.enhanced = enhanced
        self.presence_only = presence_only
        self.path: list[str] = []


def message_schema(
    desc: Any,
    *,
    enhanced: bool = False,
    optional: bool = False,
    optional_for_nullables: bool = False,
    wrapper_for_nullables: bool = False,
) -> Schema:
    """The Connect STRUCT schema of a message descriptor.

    With neither nullables key every field is optional (Confluent's default); with either,
    only fields that can be absent on the wire are (see the module doc).
    """
    return _message_schema(desc, _Ctx(enhanced, optional_for_nullables or wrapper_for_nullables), optional)


def _nullable(schema: Schema) -> Schema:
    """``schema`` made optional: Confluent's default declares a field nullable even when the
    wire cannot tell an unset proto3 scalar from its default."""
    return schema if schema.optional else schema.copy(optional=True)


def _message_schema(desc: Any, ctx: _Ctx, optional: bool) -> Schema:
    if desc.full_name in ctx.path:
        raise DataException(
            f"Protobuf message {desc.full_name} contains itself ({' -> '.join(ctx.path)}); "
            "recursive messages have no Connect schema"
        )
    ctx.path.append(desc.full_name)
    fields: list[tuple[str, Schema]] = []
    for index, oneof in enumerate(desc.oneofs):
        if not oneof.fields or _real_oneof(oneof.fields[0]) is None:
            continue
        members = [(f.name, _field_schema(f, ctx)) for f in oneof.fields]
        fields.append((f"{oneof.name}_{index}", Schema.struct(members, name=UNION_PREFIX + oneof.name, optional=True)))
    for f in desc.fields:
        if _real_oneof(f) is None:
            fields.append((f.name, _field_schema(f, ctx)))
    ctx.path.pop()
    return Schema.struct(fields, name=desc.full_name if ctx.enhanced else desc.name, optional=optional)


def _field_schema(fd: Any, ctx: _Ctx) -> Schema:
    if _is_map(fd):
        entry = fd.message_type
        key = _single_schema(entry.fields_by_name["key"], ctx)
        value = _single_schema(entry.fields_by_name["value"], ctx)
        if not ctx.presence_only:
            key, value = _nullable(key), _nullable(value)
        schema = Schema.map(key, value, optional=True)
    elif _is_repeated(fd):
        schema = Schema.array(_nullable(_single_schema(fd, ctx)), optional=True)
    else:
        schema = _single_schema(fd, ctx)
        if not ctx.presence_only:
            schema = _nullable(schema)
    return _tagged(schema, fd.number)


def _single_schema(fd: Any, ctx: _Ctx) -> Schema:
    msg = fd.message_type
    if msg is not None:
        name = msg.full_name
        if name == TIMESTAMP_TYPE:
            return Timestamp.schema(optional=True)
        if name == DATE_TYPE:
            return Date.schema(optional=True)
        if name == TIME_TYPE:
            return Time.schema(optional=True)
        if name == DECIMAL_TYPE:
            meta = meta_params(fd.GetOptions())
            precision = meta.get("precision")
            return Decimal.schema(
                int(meta.get("scale", "0")), optional=True, precision=int(precision) if precision else None
            )
        if name in _WRAPPERS:
            kind = _WRAPPERS[name]
            if kind is Type.INT32:  # an INT8/INT16 written as Int32Value keeps its connect.type
                kind = _NARROW.get(meta_params(fd.GetOptions()).get("connect.type", ""), kind)
            return Schema(kind, optional=True)
        return _message_schema(msg, ctx, True)
    if fd.type == _fd().TYPE_ENUM:
        params = {ENUM_PARAM: fd.enum_type.name}
        params.update({f"{ENUM_PARAM}.{v.name}": str(v.number) for v in fd.enum_type.values})
        return Schema(Type.STRING, optional=True, parameters=params)
    presence = _real_oneof(fd) is not None or getattr(fd, "has_presence", False)
    kind = _scalar_type(fd)
    if kind is Type.INT32:
        kind = _NARROW.get(meta_params(fd.GetOptions()).get("connect.type", ""), kind)
    return Schema(kind, optional=bool(presence))


_NARROW = {"int8": Type.INT8, "int16": Type.INT16}


# --- dynamic message -> Connect value -----------------------------------------------------
def message_reader(schema: Schema, desc: Any) -> Callable[[Any], Struct]:
    """A function turning a message of ``desc`` into a Struct of ``schema`` (from
    ``message_schema(desc)``), with every per-field decision taken here, once."""
    steps: list[Reader] = []
    oneofs = {f"{o.name}_{i}": o for i, o in enumerate(desc.oneofs)}
    for field in schema.fields:
        oneof = oneofs.get(field.name)
        if oneof is not None and field.schema.name == UNION_PREFIX + oneof.name:
            steps.append(_union_reader(field.schema, oneof))
            continue
        steps.append(_field_reader(field.schema, desc.fields_by_name[field.name]))

    def read(msg: Any) -> Struct:
        return Struct.from_values(schema, [step(msg) for step in steps])

    return read


def _union_reader(schema: Schema, oneof: Any) -> Reader:
    members = {f.name: (i, _single_reader(schema.fields[i].schema, f)) for i, f in enumerate(oneof.fields)}
    name, width = oneof.name, len(schema.fields)

    def read(msg: Any) -> Any:
        which = msg.WhichOneof(name)
        if which is None:
            return None
        i, single = members[which]
        values: list[Any] = [None] * width
        values[i] = single(getattr(msg, which))
        return Struct.from_values(schema, values)

    return read


def _field_reader(schema: Schema, fd: Any) -> Reader:
    name = fd.name
    if _is_map(fd):
        value_read = _single_reader(schema.value_schema, fd.message_type.fields_by_name["value"])
        key_read = _single_reader(schema.key_schema, fd.message_type.fields_by_name["key"])
        return lambda msg: {key_read(k): value_read(v) for k, v in getattr(msg, name).items()}
    if _is_repeated(fd):
        single = _single_reader(schema.value_schema, fd)
        return lambda msg: [single(v) for v in getattr(msg, name)]
    single = _single_reader(schema, fd)
    if fd.message_type is not None or getattr(fd, "has_presence", False):
        return lambda msg: single(getattr(msg, name)) if msg.HasField(name) else None
    if fd.type == _fd().TYPE_ENUM:
        return lambda msg: single(getattr(msg, name))
    return lambda msg: getattr(msg, name)


def _single_reader(schema: Schema, fd: Any) -> Reader:
    msg = fd.message_type
    if msg is not None:
        name = msg.full_name
        if name == TIMESTAMP_TYPE:
            return lambda raw: _EPOCH + _dt.timedelta(seconds=raw.seconds, microseconds=raw.nanos // 1_000_000 * 1000)
        if name == DATE_TYPE:
            return _read_date
        if name == TIME_TYPE:
            return lambda raw: _dt.time(raw.hours, raw.minutes, raw.seconds, raw.nanos // 1_000_000 * 1000)
        if name == DECIMAL_TYPE:
            return lambda raw: _decimal.Decimal(int.from_bytes(raw.value, "big", signed=True)).scaleb(-raw.scale)
        if name in _WRAPPERS:
            return lambda raw: raw.value
        return message_reader(schema, msg)
    if fd.type == _fd().TYPE_ENUM:
        names = {v.number: v.name for v in fd.enum_type.values}
        return lambda raw: names.get(raw, str(raw))
    return lambda raw: raw


def _read_date(raw: Any) -> _dt.date:
    try:
        return _dt.date(raw.year, raw.month, raw.day)
    except ValueError as e:
        raise DataException(f"google.type.Date {raw.year}-{raw.month}-{raw.day} is not a calendar date: {e}") from e


# --- Connect schema -> descriptor ---------------------------------------------------------
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
_LOGICAL_MESSAGES = {
    Timestamp.LOGICAL_NAME: (TIMESTAMP_TYPE, "google/protobuf/timestamp.proto"),
    Date.LOGICAL_NAME: (DATE_TYPE, "google/type/date.proto"),
    Time.LOGICAL_NAME: (TIME_TYPE, "google/type/timeofday.proto"),
    Decimal.LOGICAL_NAME: (DECIMAL_TYPE, "confluent/type/decimal.proto"),
}


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.replace(".", "_").split("_") if p) or "Entry"


class _Out:
    """Write-side choices for optional Connect primitives (the nullables keys) and the
    file's imports."""

    def __init__(self, optional_for_nullables: bool, wrapper_for_nullables: bool) -> None:
        self.optional = optional_for_nullables
        self.wrapper = wrapper_for_nullables
        self.deps: list[str] = []


def file_for(
    schema: Schema, package: str = "", *, optional_for_nullables: bool = False, wrapper_for_nullables: bool = False
) -> Any:
    """A ``FileDescriptorProto`` whose first message is ``schema`` (a STRUCT).

    An optional Connect primitive becomes a plain proto3 field by default (Confluent's
    default: null is written as the type's default), a proto3 ``optional`` field with
    ``optional_for_nullables`` and a ``google.protobuf`` wrapper field with
    ``wrapper_for_nullables`` (both: the wrapper, whose presence already keeps null); field
    numbers come from the ``Tag`` parameter where a schema read from Protobuf has one.
    """
    from google.protobuf import descriptor_pb2

    if schema.type is not Type.STRUCT:
        raise DataException(f"ProtobufConverter writes STRUCT values only, not {schema.type.name}")
    name = (schema.name or "ConnectDefault1").rsplit(".", 1)
    pkg = name[0] if len(name) == 2 else package
    fdp = descriptor_pb2.FileDescriptorProto(
        name=f"{(schema.name or 'connect_default').replace('.', '_')}.proto", syntax="proto3", package=pkg
    )
    out = _Out(optional_for_nullables, wrapper_for_nullables)
    _message(fdp.message_type.add(), name[-1], schema, out)
    fdp.dependency.extend(out.deps)
    return fdp


def _numbers(fields: list[Any]) -> list[int]:
    """Field numbers: each Tag parameter kept, the rest counted up past the used ones."""
    tags = [(f.schema.parameters or {}).get(TAG_PARAM) for f in fields]
    used = {int(t) for t in tags if t is not None}
    out, n = [], 0
    for tag in tags:
        if tag is not None:
            out.append(int(tag))
            continue
        n += 1
        while n in used:
            n += 1
        out.append(n)
    return out


def _message(mp: Any, name: str, schema: Schema, out: _Out) -> None:
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    mp.name = name
    flat: list[tuple[Any, int | None]] = []  # (field, oneof index) in declaration order
    for field in schema.fields:
        fs = field.schema
        if fs.type is Type.STRUCT and fs.name and fs.name.startswith(UNION_PREFIX):
            index = len(mp.oneof_decl)
            mp.oneof_decl.add(name=fs.name[len(UNION_PREFIX):])
            flat.extend((member, index) for member in fs.fields)
        else:
            flat.append((field, None))
    synthetic: list[Any] = []
    for (field, oneof), number in zip(flat, _numbers([f for f, _ in flat]), strict=True):
        fp = mp.field.add(name=field.name, number=number, label=F.LABEL_OPTIONAL)
        fs = field.schema
        if oneof is not None:
            fp.oneof_index = oneof
        if fs.type is Type.MAP:
            entry = mp.nested_type.add(name=_camel(field.name) + "Entry")
            entry.options.map_entry = True
            _entry_field(entry.field.add(name="key", number=1, label=F.LABEL_OPTIONAL), fs.key_schema, entry, out)
            _entry_field(entry.field.add(name="value", number=2, label=F.LABEL_OPTIONAL), fs.value_schema, entry, out)
            fp.label = F.LABEL_REPEATED
            fp.type = F.TYPE_MESSAGE
            fp.type_name = entry.name
            continue
        item = fs
        if fs.type is Type.ARRAY:
            fp.label = F.LABEL_REPEATED
            item = fs.value_schema
        nullable = oneof is None and fs.type is not Type.ARRAY and fs.optional and item.name is None
        if nullable and out.wrapper and fs.type in _WRAPPER_FOR and ENUM_PARAM not in (fs.parameters or {}):
            _wrapper_field(fp, fs, out)
            continue
        _entry_field(fp, item, mp, out)
        if nullable and out.optional and fp.type != F.TYPE_MESSAGE:
            fp.proto3_optional = True
            synthetic.append(fp)
    for fp in synthetic:  # synthetic oneofs follow the real ones, as protoc orders them
        fp.oneof_index = len(mp.oneof_decl)
        mp.oneof_decl.add(name=f"_{fp.name}")


_WRAPPER_FOR = {
    Type.INT8: "google.protobuf.Int32Value",
    Type.INT16: "google.protobuf.Int32Value",
    Type.INT32: "google.protobuf.Int32Value",
    Type.INT64: "google.protobuf.Int64Value",
    Type.FLOAT32: "google.protobuf.FloatValue",
    Type.FLOAT64: "google.protobuf.DoubleValue",
    Type.BOOLEAN: "google.protobuf.BoolValue",
    Type.STRING: "google.protobuf.StringValue",
    Type.BYTES: "google.protobuf.BytesValue",
}
_WRAPPERS_FILE = "google/protobuf/wrappers.proto"


def _wrapper_field(fp: Any, schema: Schema, out: _Out) -> None:
    """A singular field of the wrapper type for an optional primitive (an enum stays an enum)."""
    from google.protobuf import descriptor_pb2

    fp.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
    fp.type_name = "." + _WRAPPER_FOR[schema.type]
    if _WRAPPERS_FILE not in out.deps:
        out.deps.append(_WRAPPERS_FILE)
    if schema.type in (Type.INT8, Type.INT16):
        _meta(fp, {"connect.type": schema.type.name.lower()}, out)


def _entry_field(fp: Any, schema: Schema, parent: Any, out: _Out) -> None:
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    logical = _LOGICAL_MESSAGES.get(schema.name or "")
    if logical is not None:
        fp.type = F.TYPE_MESSAGE
        fp.type_name = "." + logical[0]
        if logical[1] not in out.deps:
            out.deps.append(logical[1])
        if schema.name == Decimal.LOGICAL_NAME:
            params = {"scale": str(Decimal.scale_of(schema))}
            precision = (schema.parameters or {}).get("connect.decimal.precision")
            if precision:
                params["precision"] = precision
            _meta(fp, params, out)
    elif schema.type is Type.STRUCT:
        nested = _camel(schema.name.rsplit(".", 1)[-1] if schema.name else fp.name)
        if nested == fp.name:
            nested += "Message"  # a message type may not share its field's name
        if not any(n.name == nested for n in parent.nested_type):
            _message(parent.nested_type.add(), nested, schema, out)
        fp.type = F.TYPE_MESSAGE
        fp.type_name = nested
    elif schema.type is Type.STRING and schema.parameters and ENUM_PARAM in schema.parameters:
        enum_name = schema.parameters[ENUM_PARAM]
        if not any(e.name == enum_name for e in parent.enum_type):
            prefix = ENUM_PARAM + "."
            symbols = sorted(
                ((int(v), k[len(prefix):]) for k, v in schema.parameters.items() if k.startswith(prefix)),
            )
            if not symbols or symbols[0][0] != 0:
                raise DataException(
                    f"Enum {enum_name} of field {fp.name} needs a symbol numbered 0 to be written as proto3"
                )
            ep = parent.enum_type.add(name=enum_name)
            for number, symbol in symbols:
                ep.value.add(name=symbol, number=number)
        fp.type = F.TYPE_ENUM
        fp.type_name = enum_name
    elif schema.type in _PROTO_TYPES:
        fp.type = getattr(F, _PROTO_TYPES[schema.type])
        if schema.type in (Type.INT8, Type.INT16):
            _meta(fp, {"connect.type": schema.type.name.lower()}, out)
    else:
        raise DataException(f"ProtobufConverter cannot write a nested {schema.type.name} inside field {fp.name}")


def _meta(fp: Any, params: dict[str, str], out: _Out) -> None:
    add_meta_params(fp.options, params)
    if "confluent/meta.proto" not in out.deps:
        out.deps.append("confluent/meta.proto")


# --- Connect value -> dynamic message -----------------------------------------------------
Writer = Callable[[Any, Any], None]  # (message, Connect value) -> None


def _needs_message(schema: Schema) -> bool:
    return schema.type is Type.STRUCT or (schema.name or "") in _LOGICAL_MESSAGES


def message_writer(schema: Schema, desc: Any) -> Callable[[Any, Struct], None]:
    """A function copying a Struct of ``schema`` into a message of ``desc`` (built by
    ``file_for(schema)``), with every per-field decision taken here, once."""
    steps: list[tuple[str, Writer]] = []
    for field in schema.fields:
        fs = field.schema
        if fs.type is Type.STRUCT and fs.name and fs.name.startswith(UNION_PREFIX):
            steps.append((field.name, _union_writer(fs, desc)))
        else:
            steps.append((field.name, _field_writer(fs, desc.fields_by_name[field.name])))

    def write(msg: Any, value: Struct) -> None:
        get = value.get
        for name, step in steps:
            v = get(name)
            if v is not None:
                step(msg, v)

    return write


def _union_writer(schema: Schema, desc: Any) -> Writer:
    members = [(m.name, _field_writer(m.schema, desc.fields_by_name[m.name])) for m in schema.fields]

    def write(msg: Any, value: Struct) -> None:
        for name, step in members:
            v = value.get(name)
            if v is not None:
                step(msg, v)
                return

    return write


def _field_writer(fs: Schema, fd: Any) -> Writer:
    name = fd.name
    if fs.type is Type.MAP:
        vfd = fd.message_type.fields_by_name["value"]
        if _needs_message(fs.value_schema):
            single = _single_writer(fs.value_schema, vfd)

            def write_map(msg: Any, v: Any) -> None:
                target = getattr(msg, name)
                for k, item in v.items():
                    single(target[k], item)

            return write_map
        scalar = _scalar_writer(vfd)
        if scalar is None:
            return lambda msg, v: getattr(msg, name).update(v)
        return lambda msg, v: getattr(msg, name).update({k: scalar(x) for k, x in v.items()})
    if fs.type is Type.ARRAY:
        if _needs_message(fs.value_schema):
            single = _single_writer(fs.value_schema, fd)

            def write_list(msg: Any, v: Any) -> None:
                add = getattr(msg, name).add
                for item in v:
                    single(add(), item)

            return write_list
        scalar = _scalar_writer(fd)
        if scalar is None:
            return lambda msg, v: getattr(msg, name).extend(v)
        return lambda msg, v: getattr(msg, name).extend([scalar(x) for x in v])
    if _needs_message(fs):
        single = _single_writer(fs, fd)
        return lambda msg, v: single(getattr(msg, name), v)
    if fd.message_type is not None and fd.message_type.full_name in _WRAPPERS:  # wrapper.for.nullables

        def write_wrapped(msg: Any, v: Any) -> None:
            getattr(msg, name).value = v

        return write_wrapped
    scalar = _scalar_writer(fd)
    if scalar is None:
        return lambda msg, v: setattr(msg, name, v)
    return lambda msg, v: setattr(msg, name, scalar(v))


def _scalar_writer(fd: Any) -> Callable[[Any], Any] | None:
    """How a Connect value becomes the field's value; None when it is used as it is."""
    enum = fd.enum_type
    if enum is None:
        return None
    numbers = {v.name: v.number for v in enum.values}

    def to_number(v: Any) -> int:
        number = numbers.get(v)
        if number is None:
            raise DataException(f"{v!r} is not a symbol of enum {enum.name} (field {fd.name})")
        return number

    return to_number


def _single_writer(schema: Schema, fd: Any) -> Writer:
    name = schema.name
    if name == Timestamp.LOGICAL_NAME:
        def write_ts(target: Any, value: Any) -> None:
            target.seconds, rest = divmod(Timestamp.from_logical(schema, value), 1000)
            target.nanos = rest * 1_000_000

        return write_ts
    if name == Date.LOGICAL_NAME:
        def write_date(target: Any, value: Any) -> None:
            day = Date.to_logical(schema, Date.from_logical(schema, value))
            target.year, target.month, target.day = day.year, day.month, day.day

        return write_date
    if name == Time.LOGICAL_NAME:
        def write_time(target: Any, value: Any) -> None:
            t = Time.to_logical(schema, Time.from_logical(schema, value))
            target.hours, target.minutes, target.seconds = t.hour, t.minute, t.second
            target.nanos = t.microsecond * 1000

        return write_time
    if name == Decimal.LOGICAL_NAME:
        scale = Decimal.scale_of(schema)
        precision = (schema.parameters or {}).get("connect.decimal.precision")

        def write_decimal(target: Any, value: Any) -> None:
            target.value = Decimal.from_logical(schema, value)
            target.scale = scale
            if precision:
                target.precision = int(precision)

        return write_decimal
    return message_writer(schema, fd.message_type)
