"""ProtobufConverter: Confluent's ``io.confluent.connect.protobuf.ProtobufConverter``.

Wire format: magic byte 0, 4-byte schema id, the message-index array (zig-zag varints; a
single 0 byte stands for "the first message of the file"), then the Protobuf message.

Route chosen: schemas are exchanged as serialized ``FileDescriptorProto`` (base64), which
is what ``GET /schemas/ids/{id}?format=serialized`` returns and what the registry accepts
on registration, so no ``.proto`` text parser is needed; the ``protobuf`` runtime turns the
descriptor into a message class at run time. ``google/protobuf/*`` imports resolve from the
runtime's own well-known types. ``protobuf`` and the registry client are imported when the
converter is built, never when this module is imported.
"""

from __future__ import annotations

import base64
from typing import Any

from lambda_connect.api.config import Config
from lambda_connect.api.converter import Converter
from lambda_connect.api.data import Schema, SchemaAndValue
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import Headers

from . import _protobuf_data, _schema_registry
from ._schema_registry import SR_CONFIG_DEF

__all__ = ["ProtobufConverter", "read_indexes", "write_indexes"]


def _read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DataException("Corrupt Protobuf frame: the message-index array is truncated")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def read_indexes(payload: memoryview) -> tuple[list[int], memoryview]:
    """Split the message-index array off a payload; ``[0]`` is the first message."""
    count, pos = _read_varint(payload, 0)
    if count == 0:
        return [0], payload[pos:]
    if count < 0 or count > 100:
        raise DataException(f"Corrupt Protobuf frame: message-index count {count} is invalid")
    indexes = []
    for _ in range(count):
        i, pos = _read_varint(payload, pos)
        if i < 0:
            raise DataException(f"Corrupt Protobuf frame: negative message index {i}")
        indexes.append(i)
    return indexes, payload[pos:]


def write_indexes(indexes: list[int]) -> bytes:
    """The message-index array; ``[0]`` uses the single-zero shortcut."""
    if indexes == [0]:
        return b"\x00"
    out = bytearray()
    for n in [len(indexes), *indexes]:
        z = (n << 1) ^ (n >> 63)
        while z > 0x7F:
            out.append((z & 0x7F) | 0x80)
            z >>= 7
        out.append(z)
    return bytes(out)


class ProtobufConverter(Converter):
    """Protobuf with schemas kept in Confluent Schema Registry (``schema.registry.url``)."""

    name = "io.confluent.connect.protobuf.ProtobufConverter"
    config_def = SR_CONFIG_DEF

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        super().__init__(config, is_key=is_key)
        try:
            from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise DataException(
                "ProtobufConverter needs protobuf: pip install 'lambda-connect[schema-registry]'"
            ) from e
        self._pb2 = descriptor_pb2
        self._pool_mod = descriptor_pool
        self._factory = message_factory
        self._client = _schema_registry.client_for(config)
        self._ids = _schema_registry.SchemaIds(self._client, config, "PROTOBUF")
        self._strategy: str = config[
            _schema_registry.KEY_STRATEGY_CONFIG if is_key else _schema_registry.VALUE_STRATEGY_CONFIG
        ]
        self._writers: dict[Schema, tuple[str, str, Any]] = {}
        self._readers: dict[int, Any] = {}
        self._types: dict[tuple[int, tuple[int, ...]], tuple[Any, Schema]] = {}

    def _pool_with(self, fdp: Any) -> Any:
        from google.protobuf import timestamp_pb2, wrappers_pb2

        pool = self._pool_mod.DescriptorPool()
        for mod in (timestamp_pb2, wrappers_pb2):
            pool.Add(self._pb2.FileDescriptorProto.FromString(mod.DESCRIPTOR.serialized_pb))
        try:
            pool.Add(fdp)
            return pool.FindFileByName(fdp.name)
        except (TypeError, KeyError, ValueError) as e:
            raise DataException(f"The Protobuf schema {fdp.name} cannot be built: {e}") from e

    # --- Connect -> bytes -------------------------------------------------------------------
    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if value is None:
            return None
        if schema is None:
            raise DataException("ProtobufConverter needs a STRUCT schema to write a value")
        writer = self._writers.get(schema)
        if writer is None:
            fdp = _protobuf_data.file_for(schema)
            file_desc = self._pool_with(fdp)
            msg_desc = file_desc.message_types_by_name[fdp.message_type[0].name]
            text = base64.b64encode(fdp.SerializeToString()).decode()
            writer = self._writers[schema] = (text, msg_desc.full_name, self._factory.GetMessageClass(msg_desc))
        text, record_name, cls = writer
        subject = _schema_registry.subject_name(self._strategy, topic, self.is_key, record_name)
        schema_id, _ = self._ids.id_for(subject, text)
        msg = cls()
        try:
            _protobuf_data.fill(msg, schema, value)
            body = msg.SerializeToString()
        except (TypeError, ValueError, AttributeError, KeyError) as e:
            raise DataException(f"Failed to serialize Protobuf data from topic {topic} : {e}") from e
        return _schema_registry.frame(schema_id, write_indexes([0]) + body)

    # --- bytes -> Connect -------------------------------------------------------------------
    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        schema_id, payload = _schema_registry.unframe(data)
        indexes, body = read_indexes(payload)
        cls, schema = self._type_for(schema_id, indexes)
        try:
            msg = cls.FromString(bytes(body))
        except Exception as e:
            raise DataException(
                f"Failed to deserialize Protobuf data for topic {topic} with schema id {schema_id}: {e}"
            ) from e
        return SchemaAndValue(schema, _protobuf_data.to_connect(schema, msg))

    def _file(self, schema_id: int) -> Any:
        file_desc = self._readers.get(schema_id)
        if file_desc is None:
            sr = _schema_registry._schema_registry_module()
            try:
                registered = self._client.get_schema(schema_id, fmt="serialized")
            except sr.SchemaRegistryError as e:
                raise DataException(f"Error retrieving Protobuf schema for id {schema_id}: {e}") from e
            try:
                fdp = self._pb2.FileDescriptorProto.FromString(base64.b64decode(registered.schema_str))
            except Exception as e:
                raise DataException(f"Schema id {schema_id} is not a serialized Protobuf file descriptor: {e}") from e
            file_desc = self._readers[schema_id] = (self._pool_with(fdp), [m.name for m in fdp.message_type])
        return file_desc

    def _type_for(self, schema_id: int, indexes: list[int]) -> tuple[Any, Schema]:
        key = (schema_id, tuple(indexes))
        found = self._types.get(key)
        if found is None:
            file_desc, names = self._file(schema_id)
            try:
                desc = file_desc.message_types_by_name[names[indexes[0]]]
                for i in indexes[1:]:
                    desc = desc.nested_types[i]
            except IndexError:
                raise DataException(
                    f"Message index {indexes} does not exist in Protobuf schema id {schema_id}"
                ) from None
            found = self._types[key] = (self._factory.GetMessageClass(desc), _protobuf_data.message_schema(desc))
        return found
