"""ProtobufConverter: Confluent's ``io.confluent.connect.protobuf.ProtobufConverter``.

Wire format: magic byte 0, 4-byte schema id, the message-index array (zig-zag varints; a
single 0 byte stands for "the first message of the file"), then the Protobuf message.

Schemas are fetched with ``GET /schemas/ids/{id}?format=serialized`` (a base64
``FileDescriptorProto``); a registry that answers with ``.proto`` text instead is read with
``_proto_text``. Imports that are not well-known types resolve through the schema's
references (``GET /subjects/{subject}/versions/{version}``), recursively. The ``protobuf``
runtime then builds the message class at run time; descriptor, class, Connect schema and
compiled reader are cached per schema id. ``protobuf`` and the registry client are imported
when the converter is built, never when this module is imported.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.converter import Converter
from lambda_connect.api.data import Schema, SchemaAndValue, Struct
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import Headers

from . import _proto_text, _protobuf_data, _protobuf_schemas, _schema_registry
from ._schema_registry import SR_CONFIG_DEF

__all__ = ["ProtobufConverter", "read_indexes", "write_indexes"]

ENHANCED_CONFIG = "enhanced.protobuf.schema.support"
PROTOBUF_CONFIG_DEF = SR_CONFIG_DEF + ConfigDef(
    ConfigKey(
        name=ENHANCED_CONFIG,
        type=ConfigType.BOOLEAN,
        default="false",
        importance=Importance.MEDIUM,
        doc="Name Connect schemas after the message's full name, package included (false: the bare "
        "message name, as Confluent's converter does by default).",
    ),
) + _protobuf_data.NULLABLES_CONFIG_DEF


def _read_zigzag(data: memoryview, pos: int) -> tuple[int, int]:
    raw, pos = _protobuf_schemas.decode_varint(data, pos, "message-index array")
    return (raw >> 1) ^ -(raw & 1), pos


def read_indexes(payload: memoryview) -> tuple[list[int], memoryview]:
    """Split the message-index array off a payload; ``[0]`` is the first message."""
    count, pos = _read_zigzag(payload, 0)
    if count == 0:
        return [0], payload[pos:]
    if count < 0 or count > 100:
        raise DataException(f"Corrupt Protobuf frame: message-index count {count} is invalid")
    indexes = []
    for _ in range(count):
        i, pos = _read_zigzag(payload, pos)
        if i < 0:
            raise DataException(f"Corrupt Protobuf frame: negative message index {i}")
        indexes.append(i)
    return indexes, payload[pos:]


def write_indexes(indexes: list[int]) -> bytes:
    """The message-index array; ``[0]`` uses the single-zero shortcut."""
    if indexes == [0]:
        return b"\x00"
    return b"".join(_protobuf_schemas.encode_varint((n << 1) ^ (n >> 63)) for n in [len(indexes), *indexes])


def file_proto(text: str, file_name: str, what: str) -> Any:
    """The ``FileDescriptorProto`` of a registry schema: base64 of a serialized descriptor, or
    ``.proto`` source text."""
    from google.protobuf import descriptor_pb2
    from google.protobuf.message import DecodeError

    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return _proto_text.parse_proto(text, file_name, what)
    try:
        fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
    except DecodeError as e:
        raise DataException(
            f"Protobuf schema {what} is neither a serialized file descriptor nor .proto text: {e}"
        ) from e
    if not fdp.name:
        fdp.name = file_name
    return fdp


class ProtobufConverter(Converter):
    """Protobuf with schemas kept in Confluent Schema Registry (``schema.registry.url``)."""

    name = "io.confluent.connect.protobuf.ProtobufConverter"
    config_def = PROTOBUF_CONFIG_DEF

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        super().__init__(config, is_key=is_key)
        try:
            from google.protobuf import message_factory
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise DataException(
                "ProtobufConverter needs protobuf: pip install 'lambda-connect[schema-registry]'"
            ) from e
        self._factory = message_factory
        self._client = _schema_registry.client_for(config)
        self._ids = _schema_registry.SchemaIds(self._client, config, "PROTOBUF")
        self._strategy: str = config[
            _schema_registry.KEY_STRATEGY_CONFIG if is_key else _schema_registry.VALUE_STRATEGY_CONFIG
        ]
        self._enhanced: bool = config[ENHANCED_CONFIG]
        self._nullables = _protobuf_data.nullables(config)
        self._writers: dict[Schema, tuple[str, str, Any, Callable[[Any, Struct], None]]] = {}
        self._files: dict[int, Any] = {}
        self._latest: dict[tuple[Schema, int], tuple[Any, Callable[[Any, Struct], None], list[int]]] = {}
        self._types: dict[tuple[int, tuple[int, ...]], tuple[Any, Schema, Callable[[Any], Struct]]] = {}

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
            fdp = _protobuf_data.file_for(schema, **self._nullables)
            msg_desc = _protobuf_schemas.build_file(fdp, what=fdp.name).message_types_by_name[fdp.message_type[0].name]
            text = base64.b64encode(fdp.SerializeToString()).decode()
            writer = self._writers[schema] = (
                text,
                msg_desc.full_name,
                self._factory.GetMessageClass(msg_desc),
                _protobuf_data.message_writer(schema, msg_desc),
            )
        text, record_name, cls, fill = writer
        subject = _schema_registry.subject_name(self._strategy, topic, self.is_key, record_name)
        schema_id, registered = self._ids.id_for(subject, text)
        indexes = [0]
        if registered != text:  # use.latest.version: write with the subject's latest schema
            cls, fill, indexes = self._latest_writer(schema, schema_id, record_name)
        msg = cls()
        try:
            fill(msg, value)
            body = msg.SerializeToString()
        except DataException:
            raise
        except (TypeError, ValueError, AttributeError, KeyError) as e:
            raise DataException(f"Failed to serialize Protobuf data from topic {topic} : {e}") from e
        return _schema_registry.frame(schema_id, write_indexes(indexes) + body)

    def _latest_writer(
        self, schema: Schema, schema_id: int, record_name: str
    ) -> tuple[Any, Callable[[Any, Struct], None], list[int]]:
        """Class, writer and message indexes for writing ``schema`` with registered schema
        ``schema_id``: its message named like the record, else its first message."""
        key = (schema, schema_id)
        found = self._latest.get(key)
        if found is None:
            file_desc = self._file(schema_id)
            top = list(file_desc.message_types_by_name.values())
            names = [d.full_name for d in top]
            index = names.index(record_name) if record_name in names else 0
            try:
                fill = _protobuf_data.message_writer(schema, top[index])
            except KeyError as e:
                raise DataException(
                    f"The latest schema (id {schema_id}) has no field {e} of the record's schema {schema.name}"
                ) from None
            found = self._latest[key] = (self._factory.GetMessageClass(top[index]), fill, [index])
        return found

    # --- bytes -> Connect -------------------------------------------------------------------
    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        schema_id, payload = _schema_registry.unframe(data)
        indexes, body = read_indexes(payload)
        cls, schema, read = self._type_for(schema_id, indexes)
        try:
            value = read(cls.FromString(bytes(body)))
        except Exception as e:  # upb's DecodeError, or a value Connect cannot hold (a year-10000 Timestamp)
            raise DataException(
                f"Failed to deserialize Protobuf data for topic {topic} with schema id {schema_id}: {e}"
            ) from e
        return SchemaAndValue(schema, value)

    def _fetch(self, fetch: Callable[[], Any], what: str) -> Any:
        sr = _schema_registry._schema_registry_module()
        try:
            return fetch()
        except sr.SchemaRegistryError as e:
            raise DataException(f"Error retrieving Protobuf schema for {what}: {e}") from e

    def _resolver(self, references: list[Any], what: str) -> Callable[[str], Any]:
        """Import name -> ``FileDescriptorProto``, following references of references."""
        by_name = {ref.name: ref for ref in references or ()}

        def resolve(import_name: str) -> Any:
            ref = by_name.get(import_name)
            if ref is None:
                raise DataException(
                    f"Protobuf schema {what} imports {import_name}, which has no schema reference "
                    f"(references: {sorted(by_name) or 'none'})"
                )
            ref_what = f"reference {import_name} (subject {ref.subject} version {ref.version})"
            registered = self._fetch(
                lambda: self._client.get_version(ref.subject, ref.version, fmt="serialized"), ref_what
            )
            by_name.update({r.name: r for r in registered.schema.references or ()})
            fdp = file_proto(registered.schema.schema_str, import_name, ref_what)
            fdp.name = import_name
            return fdp

        return resolve

    def _file(self, schema_id: int) -> Any:
        file_desc = self._files.get(schema_id)
        if file_desc is None:
            what = f"id {schema_id}"
            registered = self._fetch(lambda: self._client.get_schema(schema_id, fmt="serialized"), what)
            fdp = file_proto(registered.schema_str, f"schema_{schema_id}.proto", what)
            resolve = self._resolver(registered.references, what)
            file_desc = self._files[schema_id] = _protobuf_schemas.build_file(fdp, resolve, what=what)
        return file_desc

    def _type_for(self, schema_id: int, indexes: list[int]) -> tuple[Any, Schema, Callable[[Any], Struct]]:
        key = (schema_id, tuple(indexes))
        found = self._types.get(key)
        if found is None:
            desc = _protobuf_schemas.message_at(self._file(schema_id), indexes, f"id {schema_id}")
            schema = _protobuf_data.message_schema(desc, enhanced=self._enhanced, **self._nullables)
            found = self._types[key] = (
                self._factory.GetMessageClass(desc),
                schema,
                _protobuf_data.message_reader(schema, desc),
            )
        return found
