"""Protobuf schemas at run time, shared by the Confluent and the Glue Protobuf converters.

A schema arrives as a ``FileDescriptorProto`` (serialized, or parsed from ``.proto`` text by
``_proto_text``) whose imports must be in the descriptor pool before it: the well-known
types come from here (``google/protobuf/*`` from the runtime itself; ``google/type/date.proto``,
``google/type/timeofday.proto``, ``confluent/type/decimal.proto`` and ``confluent/meta.proto``,
which the runtime does not ship, are built below), any other import from a resolver the
converter supplies (the Confluent registry's schema references). Each schema gets a pool of
its own so that two versions of one file never collide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambda_connect.api.errors import DataException

__all__ = [
    "DATE_TYPE",
    "DECIMAL_TYPE",
    "TIMESTAMP_TYPE",
    "TIME_TYPE",
    "build_file",
    "decode_varint",
    "encode_varint",
    "glue_message_order",
    "is_well_known",
    "add_meta_params",
    "message_at",
    "meta_params",
]

TIMESTAMP_TYPE = "google.protobuf.Timestamp"
DATE_TYPE = "google.type.Date"
TIME_TYPE = "google.type.TimeOfDay"
DECIMAL_TYPE = "confluent.type.Decimal"

_RUNTIME_WELL_KNOWN = (
    "any_pb2",
    "api_pb2",
    "duration_pb2",
    "empty_pb2",
    "field_mask_pb2",
    "source_context_pb2",
    "struct_pb2",
    "timestamp_pb2",
    "type_pb2",
    "wrappers_pb2",
    "descriptor_pb2",
)


def _extra_well_known() -> dict[str, Any]:
    """The files Confluent treats as built in that the Python runtime lacks, as descriptors."""
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    out: dict[str, Any] = {}

    def file(name: str, package: str, message: str, fields: list[tuple[str, int]]) -> Any:
        fdp = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
        msg = fdp.message_type.add(name=message)
        for number, (field, kind) in enumerate(fields, start=1):
            msg.field.add(name=field, number=number, type=kind, label=F.LABEL_OPTIONAL)
        out[name] = fdp
        return fdp

    file("google/type/date.proto", "google.type", "Date", [("year", F.TYPE_INT32), ("month", F.TYPE_INT32),
                                                            ("day", F.TYPE_INT32)])
    file("google/type/timeofday.proto", "google.type", "TimeOfDay",
         [("hours", F.TYPE_INT32), ("minutes", F.TYPE_INT32), ("seconds", F.TYPE_INT32), ("nanos", F.TYPE_INT32)])
    file("confluent/type/decimal.proto", "confluent.type", "Decimal",
         [("value", F.TYPE_BYTES), ("precision", F.TYPE_UINT32), ("scale", F.TYPE_INT32)])
    meta = file("confluent/meta.proto", "confluent", "Meta", [("doc", F.TYPE_STRING)])
    meta.dependency.append("google/protobuf/descriptor.proto")
    entry = meta.message_type[0].nested_type.add(name="ParamsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    meta.message_type[0].field.add(
        name="params", number=2, type=F.TYPE_MESSAGE, type_name=".confluent.Meta.ParamsEntry", label=F.LABEL_REPEATED
    )
    meta.message_type[0].field.add(name="tags", number=3, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
    for ext, extendee in (
        ("file_meta", "FileOptions"),
        ("message_meta", "MessageOptions"),
        ("field_meta", "FieldOptions"),
        ("enum_meta", "EnumOptions"),
        ("enum_value_meta", "EnumValueOptions"),
    ):
        meta.extension.add(
            name=ext, number=1088, type=F.TYPE_MESSAGE, type_name=".confluent.Meta",
            extendee=f".google.protobuf.{extendee}", label=F.LABEL_OPTIONAL,
        )
    return out


_WELL_KNOWN: dict[str, Any] | None = None


def _well_known() -> dict[str, Any]:
    global _WELL_KNOWN
    if _WELL_KNOWN is None:
        import importlib

        from google.protobuf import descriptor_pb2

        found = {}
        for mod_name in _RUNTIME_WELL_KNOWN:
            mod = importlib.import_module(f"google.protobuf.{mod_name}")
            fdp = descriptor_pb2.FileDescriptorProto.FromString(mod.DESCRIPTOR.serialized_pb)
            found[fdp.name] = fdp
        found.update(_extra_well_known())
        _WELL_KNOWN = found
    return _WELL_KNOWN


def is_well_known(file_name: str) -> bool:
    """Whether an import resolves without the registry (as Confluent's built-in dependencies do)."""
    return file_name in _well_known()


def build_file(fdp: Any, resolve: Callable[[str], Any] | None = None, *, what: str = "") -> Any:
    """A ``FileDescriptor`` for ``fdp`` in a fresh pool, its imports added first.

    ``resolve(import name)`` returns the ``FileDescriptorProto`` of an import that is not a
    well-known type; without it such an import is an error naming the file and ``what``.
    """
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(proto: Any, chain: tuple[str, ...]) -> None:
        if proto.name in added:
            return
        if proto.name in chain:
            raise DataException(f"Protobuf schema {what}: import cycle through {' -> '.join((*chain, proto.name))}")
        for dep in proto.dependency:
            dep_proto = _well_known().get(dep)
            if dep_proto is None:
                if resolve is None:
                    raise DataException(
                        f"Protobuf schema {what} imports {dep}, which is neither a well-known type nor a reference"
                    )
                dep_proto = resolve(dep)
            add(dep_proto, (*chain, proto.name))
        try:
            pool.Add(proto)
        except (TypeError, KeyError, ValueError) as e:
            raise DataException(f"The Protobuf schema {what} ({proto.name}) cannot be built: {e}") from e
        added.add(proto.name)

    add(fdp, ())
    try:
        return pool.FindFileByName(fdp.name)
    except KeyError as e:  # pragma: no cover - Add succeeded, so the file is there
        raise DataException(f"The Protobuf schema {what} ({fdp.name}) cannot be built: {e}") from e


def message_at(file_desc: Any, indexes: list[int], what: str) -> Any:
    """The message a Confluent message-index path points at (top level, then nested)."""
    try:
        desc = list(file_desc.message_types_by_name.values())[indexes[0]]
        for i in indexes[1:]:
            desc = desc.nested_types[i]
    except IndexError:
        raise DataException(f"Message index {indexes} does not exist in Protobuf schema {what}") from None
    return desc


def glue_message_order(file_desc: Any) -> list[Any]:
    """Every message of a file, nested ones included, sorted by full name: the position in
    this list is the message index Glue's Protobuf serializer writes."""
    found: list[Any] = []
    queue = list(file_desc.message_types_by_name.values())
    while queue:
        desc = queue.pop(0)
        found.append(desc)
        queue.extend(desc.nested_types)
    return sorted(found, key=lambda d: d.full_name)


def decode_varint(data: memoryview | bytes, pos: int, what: str) -> tuple[int, int]:
    """(unsigned value, next position) of a base-128 varint."""
    shift = result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DataException(f"Corrupt Protobuf frame: the {what} is truncated")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def encode_varint(n: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# --- confluent.Meta options (field_meta = 1088) -------------------------------------------
_META_FIELD = 1088
_META_TAG = encode_varint(_META_FIELD << 3 | 2)
_META_CLASS: Any = None


def _meta_class() -> Any:
    global _META_CLASS
    if _META_CLASS is None:
        from google.protobuf import message_factory

        file_desc = build_file(_well_known()["confluent/meta.proto"], what="confluent/meta.proto")
        _META_CLASS = message_factory.GetMessageClass(file_desc.message_types_by_name["Meta"])
    return _META_CLASS


def meta_params(options: Any) -> dict[str, str]:
    """The ``params`` of a ``confluent.field_meta`` option (Confluent keeps the Connect type
    of int8/int16 and a decimal's precision and scale there), read from the raw option bytes
    because the option is an extension the runtime's own FieldOptions does not know."""
    raw = options.SerializeToString()
    if _META_TAG not in raw:
        return {}
    pos, out = 0, {}
    while pos < len(raw):
        key, pos = decode_varint(raw, pos, "field options")
        wire = key & 7
        if wire == 0:
            _, pos = decode_varint(raw, pos, "field options")
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = decode_varint(raw, pos, "field options")
            if key >> 3 == _META_FIELD:
                out.update(_meta_class().FromString(raw[pos:pos + size]).params)
            pos += size
        else:
            return out
    return out


def add_meta_params(options: Any, params: dict[str, str]) -> None:
    """Append a ``confluent.field_meta`` option with ``params`` to a FieldOptions message."""
    body = _meta_class()(params=params).SerializeToString()
    options.MergeFromString(_META_TAG + encode_varint(len(body)) + body)
