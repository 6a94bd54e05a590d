"""Glue's ProtobufSchemaConverter: Protobuf with schemas kept in the AWS Glue Schema Registry.

``com.amazonaws.services.schemaregistry.kafkaconnect.protobuf.ProtobufSchemaConverter`` as the
AWS library names it. After Glue's 18-byte header comes one unsigned varint, the message's
position among all messages of the file (nested ones included) sorted by full name, then the
message bytes. Glue keeps Protobuf schemas as ``.proto`` source, so reading parses the text
(``_proto_text``) and writing prints the descriptor built from the Connect schema. The Connect
mapping is the Confluent converter's (``_protobuf_data``), so a topic reads the same from
either registry; its nullables keys (``optional.for.nullables``, ``wrapper.for.nullables``)
are accepted here too, with the same defaults, although AWS's library has no such keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambda_connect.api.config import Config
from lambda_connect.api.data import Schema, SchemaAndValue
from lambda_connect.api.errors import DataException

from . import _proto_text, _protobuf_data, _protobuf_schemas
from ._glue_registry import GlueConverter, glue_config_def

__all__ = ["ProtobufSchemaConverter"]


class ProtobufSchemaConverter(GlueConverter):
    """Protobuf messages described by ``.proto`` schemas in the Glue Schema Registry."""

    name = "com.amazonaws.services.schemaregistry.kafkaconnect.protobuf.ProtobufSchemaConverter"
    config_def = glue_config_def("PROTOBUF") + _protobuf_data.NULLABLES_CONFIG_DEF
    data_format = "PROTOBUF"
    requires = ("google.protobuf.message_factory", "lambda-connect[aws,schema-registry]")

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        super().__init__(config, is_key=is_key)
        self._nullables = _protobuf_data.nullables(config)

    def _writer(self, schema: Schema) -> tuple[str, Callable[[Any], bytes]]:
        fdp = _protobuf_data.file_for(schema, **self._nullables)
        file_desc = _protobuf_schemas.build_file(fdp, what=fdp.name)
        desc = file_desc.message_types_by_name[fdp.message_type[0].name]
        prefix = _protobuf_schemas.encode_varint(_protobuf_schemas.glue_message_order(file_desc).index(desc))
        cls = self._lib.GetMessageClass(desc)
        fill = _protobuf_data.message_writer(schema, desc)

        def encode(value: Any) -> bytes:
            msg = cls()
            fill(msg, value)
            return prefix + msg.SerializeToString()

        return _proto_text.print_proto(fdp), encode

    def _reader(self, definition: str) -> Callable[[bytes], SchemaAndValue]:
        fdp = _proto_text.parse_proto(definition, "glue_schema.proto", "from Glue")
        order = _protobuf_schemas.glue_message_order(_protobuf_schemas.build_file(fdp, what="from Glue"))
        types: dict[int, tuple[Any, Schema, Callable[[Any], Any]]] = {}

        def decode(body: bytes) -> SchemaAndValue:
            if body and body[0] < 0x80:  # the usual case: one byte, no loop
                index, pos = body[0], 1
            else:
                index, pos = _protobuf_schemas.decode_varint(body, 0, "Glue message index")
            found = types.get(index)
            if found is None:
                if index >= len(order):
                    raise DataException(f"Message index {index} does not exist in the schema ({len(order)} messages)")
                schema = _protobuf_data.message_schema(order[index], **self._nullables)
                reader = _protobuf_data.message_reader(schema, order[index])
                found = types[index] = (self._lib.GetMessageClass(order[index]), schema, reader)
            cls, schema, read = found
            return SchemaAndValue(schema, read(cls.FromString(body[pos:])))

        return decode
