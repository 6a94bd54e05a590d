"""HoistField: wrap the whole key/value in a single-field struct or map."""

from __future__ import annotations

from typing import Any, ClassVar

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.data import Schema, Struct
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._util import KeyOrValue, SchemaCache, key_value_variants

__all__ = ["HoistField"]

_FIELD = "field"


@key_value_variants("HoistField")
class HoistField(KeyOrValue[Any], Transformation[Any]):
    """Wrap data using the specified field name in a Struct when schema present, or a Map in the case of
    schemaless data.

    A null key/value is wrapped too (``{field: null}``); with a required schema that is a
    DataException. Use ``HoistField$Key`` or ``HoistField$Value``.
    """

    Key: ClassVar[type[HoistField]]
    Value: ClassVar[type[HoistField]]

    config_def = ConfigDef(
        ConfigKey(name=_FIELD, type=ConfigType.STRING, importance=Importance.MEDIUM,
                  doc="Name of the one field of the new struct or map that wraps the original."),
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._field: str = config[_FIELD]
        self._schemas = SchemaCache()

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        schema = self.operating_schema(record)
        value = self.operating_value(record)
        if schema is None:
            return self.new_with(record, None, {self._field: value})
        updated = self._schemas.get_or_build(schema, lambda: Schema.struct([(self._field, schema)]))
        return self.new_with(record, updated, Struct(updated).put(self._field, value))
