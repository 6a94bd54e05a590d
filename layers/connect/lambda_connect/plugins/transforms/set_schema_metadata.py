"""SetSchemaMetadata: rename and/or re-version the key/value schema."""

from __future__ import annotations

from typing import Any, ClassVar

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.data import Schema, Struct
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._util import REPLACE_NULL_WITH_DEFAULT, KeyOrValue, SchemaCache, key_value_variants

__all__ = ["SetSchemaMetadata"]

_NAME = "schema.name"
_VERSION = "schema.version"


@key_value_variants("SetSchemaMetadata")
class SetSchemaMetadata(KeyOrValue[Any], Transformation[Any]):
    """Set the schema name, version or both on the record's key or value schema.

    A schema is required, except that a null value without a schema (a schemaless tombstone)
    passes unchanged. Struct values are rebuilt against the renamed schema; nested schemas are
    left alone. Use ``SetSchemaMetadata$Key`` or ``SetSchemaMetadata$Value``.
    """

    Key: ClassVar[type[SetSchemaMetadata]]
    Value: ClassVar[type[SetSchemaMetadata]]

    config_def = ConfigDef(
        ConfigKey(name=_NAME, type=ConfigType.STRING, default=None, importance=Importance.HIGH,
                  doc="Schema name to set."),
        ConfigKey(name=_VERSION, type=ConfigType.INT, default=None, importance=Importance.HIGH,
                  doc="Schema version to set."),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._name: str | None = config[_NAME]
        self._version: int | None = config[_VERSION]
        if self._name is None and self._version is None:
            message = "Neither schema name nor version configured"
            raise ConfigException(message, {_NAME: [message], _VERSION: [message]})
        self._replace_null = bool(config[REPLACE_NULL_WITH_DEFAULT.name])
        self._schemas = SchemaCache()

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        if schema is None:
            if value is None:
                return record
            raise DataException("Schema required for [updating schema metadata]")
        updated = self._schemas.get_or_build(schema, lambda: self._rename(schema))
        if isinstance(value, Struct):
            read = value.get if self._replace_null else value.get_without_default
            renamed = Struct(updated)
            for field in updated.fields:
                renamed.put(field, read(field.name))
            value = renamed
        return self.new_with(record, updated, value)

    def _rename(self, schema: Schema) -> Schema:
        # The default (a Struct of the old schema, for struct schemas) is kept as it is, as Kafka does.
        return schema.copy(
            name=self._name if self._name is not None else schema.name,
            version=self._version if self._version is not None else schema.version,
            validate_default=False,
        )
