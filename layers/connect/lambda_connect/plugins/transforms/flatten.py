"""Flatten: turn nested maps/structs into one level, joining names with a delimiter."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, ClassVar

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.data import Schema, Struct, Type
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._util import KeyOrValue, SchemaCache, key_value_variants, require_map, require_struct

__all__ = ["Flatten"]

_PURPOSE = "flattening"
_DELIMITER = "delimiter"
# Python types standing for the Java classes Connect accepts in schemaless data; maps recurse.
_SCHEMALESS_LEAVES = (bool, int, float, str, bytes, bytearray, list, tuple)
_JAVA_CLASS = {Struct: "org.apache.kafka.connect.data.Struct", decimal.Decimal: "java.math.BigDecimal",
               dt.datetime: "java.util.Date", dt.date: "java.util.Date", dt.time: "java.util.Date"}
_LEAF_TYPES = frozenset(t for t in Type if t.is_primitive) | {Type.ARRAY}


@key_value_variants("Flatten")
class Flatten(KeyOrValue[Any], Transformation[Any]):
    """Pull nested fields up to the top level, naming each by its path joined with a delimiter.

    Applies to a Struct when a schema is present, or a Map for schemaless data. Arrays (and
    whatever they contain) are copied unchanged. Use ``Flatten$Key`` or ``Flatten$Value``.
    """

    Key: ClassVar[type[Flatten]]
    Value: ClassVar[type[Flatten]]

    config_def = ConfigDef(
        ConfigKey(name=_DELIMITER, type=ConfigType.STRING, default=".", importance=Importance.MEDIUM,
                  doc="Text placed between the parent and child names of a flattened field."),
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._delimiter: str = config[_DELIMITER]
        self._schemas = SchemaCache()

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = self.operating_value(record)
        if value is None:
            return record
        schema = self.operating_schema(record)
        if schema is None:
            out: dict[str, Any] = {}
            self._flatten_map(require_map(value, _PURPOSE), "", out)
            return self.new_with(record, None, out)
        struct = require_struct(value, _PURPOSE)
        updated = self._schemas.get_or_build(schema, lambda: self._build_schema(schema))
        flat = Struct(updated)
        self._flatten_struct(struct, "", flat)
        return self.new_with(record, updated, flat)

    def _name(self, prefix: str, name: str) -> str:
        return name if not prefix else prefix + self._delimiter + name

    def _flatten_map(self, original: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
        for key, v in original.items():
            name = self._name(prefix, key)
            if v is None or isinstance(v, _SCHEMALESS_LEAVES):
                out[name] = v
            elif isinstance(v, dict):
                self._flatten_map(v, name, out)
            else:
                java = _JAVA_CLASS.get(type(v), type(v).__qualname__)
                raise DataException(
                    f"Flatten transformation does not support class {java} for record without schemas "
                    f"(for field {name})."
                )

    def _flatten_struct(self, struct: Struct | None, prefix: str, out: Struct) -> None:
        if struct is None:
            return
        for field in struct.schema.fields:
            name = self._name(prefix, field.name)
            if field.schema.type is Type.STRUCT:
                self._flatten_struct(struct.get(field), name, out)
            else:
                out.put(name, struct.get(field))

    # --- schema ----------------------------------------------------------------------------
    def _build_schema(self, schema: Schema) -> Schema:
        fields: list[tuple[str, Schema]] = []
        default = schema.default if isinstance(schema.default, Struct) else None
        self._flatten_schema(schema, "", fields, schema.optional, default)
        updated = Schema.struct(fields, optional=schema.optional, name=schema.name, version=schema.version,
                                doc=schema.doc, parameters=schema.parameters)
        if default is not None:
            flat_default = Struct(updated)
            self._flatten_struct(default, "", flat_default)
            updated = updated.copy(default=flat_default, validate_default=False)
        return updated

    def _flatten_schema(self, schema: Schema, prefix: str, out: list[tuple[str, Schema]], optional: bool,
                        parent_default: Struct | None) -> None:
        for field in schema.fields:
            name = self._name(prefix, field.name)
            field_optional = optional or field.schema.optional
            default = field.schema.default
            if default is None and parent_default is not None:
                default = parent_default.get(field)
            if field.schema.type in _LEAF_TYPES:
                out.append((name, _leaf_schema(field.schema, field_optional, default)))
            elif field.schema.type is Type.STRUCT:
                self._flatten_schema(field.schema, name, out, field_optional, default)
            else:
                raise DataException(
                    f"Flatten transformation does not support {field.schema.type.name} for record with schemas "
                    f"(for field {name})."
                )


def _leaf_schema(original: Schema, optional: bool, default: Any) -> Schema:
    """The original's type, name and docs, with the optionality and default inherited from its ancestors."""
    if original.optional == optional and original.default == default:
        return original
    return original.copy(optional=optional, default=default)
