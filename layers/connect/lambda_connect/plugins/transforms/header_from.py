"""HeaderFrom: copy or move top-level fields of the key/value into headers."""

from __future__ import annotations

from typing import Any, ClassVar

from lambda_connect.api.config import (
    Config,
    ConfigDef,
    ConfigKey,
    ConfigType,
    Importance,
    NonEmptyList,
    ValidString,
)
from lambda_connect.api.data import Schema, Struct
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.records import ConnectRecord, Header
from lambda_connect.api.transform import Transformation

from ._util import REPLACE_NULL_WITH_DEFAULT, KeyOrValue, SchemaCache, key_value_variants, require_map, require_struct

__all__ = ["HeaderFrom"]

_MOVE, _COPY = "move", "copy"


@key_value_variants("HeaderFrom")
class HeaderFrom(KeyOrValue[Any], Transformation[Any]):
    """Turn fields of the key or value into headers of the same record, moving or copying them.

    Headers are appended, so existing headers with the same name stay. With a schema each
    header carries its field's schema. There is no null guard, as in Kafka: a null key/value
    fails the record (guard with a ``RecordIsTombstone`` predicate).
    """

    Key: ClassVar[type[HeaderFrom]]
    Value: ClassVar[type[HeaderFrom]]

    config_def = ConfigDef(
        ConfigKey(
            name="fields",
            type=ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            doc="Fields of the key or value that become headers.",
        ),
        ConfigKey(
            name="headers",
            type=ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            doc="Header names, one per entry of 'fields' and in its order.",
        ),
        ConfigKey(
            name="operation",
            type=ConfigType.STRING,
            validator=ValidString(_MOVE, _COPY),
            importance=Importance.HIGH,
            doc="move: the fields leave the key/value for the headers; copy: they stay and the headers get a copy.",
        ),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        fields: list[str] = config["fields"]
        headers: list[str] = config["headers"]
        if len(fields) != len(headers):
            msg = "'fields' config must have the same number of elements as 'headers' config."
            raise ConfigException(msg, {"fields": [msg], "headers": [msg]})
        self._pairs: tuple[tuple[str, str], ...] = tuple(zip(fields, headers))
        self._moved = frozenset(fields)
        self._move: bool = config["operation"] == _MOVE
        self._purpose = f"header {config['operation']}"
        self._replace_null_with_default: bool = config["replace.null.with.default"]
        self._schemas = SchemaCache()

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        if schema is None:
            data = require_map(value, self._purpose)
            added = [Header(header, data.get(field)) for field, header in self._pairs]
            if self._move:
                data = {k: v for k, v in data.items() if k not in self._moved}
            return self._new(record, None, data, added)
        struct = require_struct(value, self._purpose)
        read = struct.get if self._replace_null_with_default else struct.get_without_default
        added = []
        for field_name, header in self._pairs:
            field = struct.schema.field(field_name)
            if field is None:
                raise DataException(f"Field does not exist: {field_name}")
            added.append(Header(header, read(field), field.schema))
        if not self._move:
            return self._new(record, schema, struct, added)
        moved_schema = self._schemas.get_or_build(struct.schema, lambda: self._moved_schema(struct.schema))
        updated = Struct(moved_schema)
        for f in moved_schema.fields:
            updated.put(f.name, read(f.name))
        return self._new(record, moved_schema, updated, added)

    def _new(self, record: ConnectRecord, schema: Schema | None, value: Any, added: list[Header]) -> ConnectRecord:
        if self.operates_on_key:
            return record.new_record(key_schema=schema, key=value, headers=record.headers.extend(added))
        return record.new_record(value_schema=schema, value=value, headers=record.headers.extend(added))

    def _moved_schema(self, schema: Schema) -> Schema:
        """The struct without the moved fields; name, version, doc and parameters are kept."""
        fields = [(f.name, f.schema) for f in schema.fields if f.name not in self._moved]
        return Schema.struct(
            fields, name=schema.name, version=schema.version, doc=schema.doc, parameters=schema.parameters
        )
