"""ValueToKey: build the record key from fields of the value."""

from __future__ import annotations

from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, NonEmptyList
from lambda_connect.api.data import Schema, Struct
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._util import REPLACE_NULL_WITH_DEFAULT, SchemaCache, require_map, require_struct

__all__ = ["ValueToKey"]

_PURPOSE = "copying fields from value to key"


class ValueToKey(Transformation[Any]):
    """Build the record key from chosen fields of the value (the old key is dropped).

    The key lists the fields in configuration order. There is no null guard, as in Kafka: a
    tombstone fails the record (guard with a negated ``RecordIsTombstone`` predicate).
    """

    name = "org.apache.kafka.connect.transforms.ValueToKey"
    config_def = ConfigDef(
        ConfigKey(
            name="fields",
            type=ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            doc="Value fields copied into the new key, in this order.",
        ),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._fields: tuple[str, ...] = tuple(config["fields"])
        self._replace_null_with_default: bool = config["replace.null.with.default"]
        self._schemas = SchemaCache()

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        if record.value_schema is None:
            value = require_map(record.value, _PURPOSE)
            return record.new_record(key_schema=None, key={f: value.get(f) for f in self._fields})
        struct = require_struct(record.value, _PURPOSE)
        key_schema = self._schemas.get_or_build(struct.schema, lambda: self._key_schema(struct.schema))
        key = Struct(key_schema)
        read = struct.get if self._replace_null_with_default else struct.get_without_default
        for f in self._fields:
            key.put(f, read(f))
        return record.new_record(key_schema=key_schema, key=key, value_schema=struct.schema, value=struct)

    def _key_schema(self, value_schema: Schema) -> Schema:
        """An unnamed, required struct of the listed value fields' schemas."""
        fields: list[tuple[str, Schema]] = []
        for name in self._fields:
            field = value_schema.field(name)
            if field is None:
                raise DataException(f"Field does not exist: {name}")
            fields.append((name, field.schema))
        return Schema.struct(fields)
