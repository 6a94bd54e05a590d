"""Helpers every built-in SMT shares: shape checks with Kafka's messages, the common
``replace.null.with.default`` key, a bounded schema cache, and the Key/Value split."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from lambda_connect.api.config import ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.data import Schema, Struct
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import ConnectRecord

__all__ = [
    "REPLACE_NULL_WITH_DEFAULT",
    "KeyOrValue",
    "SchemaCache",
    "require_map",
    "require_map_or_null",
    "require_sink_record",
    "require_struct",
    "require_struct_or_null",
]

REPLACE_NULL_WITH_DEFAULT = ConfigKey(
    name="replace.null.with.default",
    type=ConfigType.BOOLEAN,
    default="true",
    importance=Importance.MEDIUM,
    doc="Whether to replace fields that have a default value and that are null to the default value. "
    "When set to true, the default value is used, otherwise null is used.",
)


def _class_of(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "java.util.HashMap",
        list: "java.util.ArrayList",
        str: "java.lang.String",
        int: "java.lang.Long",
        float: "java.lang.Double",
        bool: "java.lang.Boolean",
        bytes: "[B",
        Struct: "org.apache.kafka.connect.data.Struct",
    }.get(type(value), type(value).__name__)


def require_map(value: Any, purpose: str) -> dict[str, Any]:
    """Kafka's ``Requirements.requireMap``: schemaless operations need a map."""
    if not isinstance(value, dict):
        raise DataException(f"Only Map objects supported in absence of schema for [{purpose}], found: {_class_of(value)}")
    return value


def require_map_or_null(value: Any, purpose: str) -> dict[str, Any] | None:
    return None if value is None else require_map(value, purpose)


def require_struct(value: Any, purpose: str) -> Struct:
    if not isinstance(value, Struct):
        raise DataException(f"Only Struct objects supported for [{purpose}], found: {_class_of(value)}")
    return value


def require_struct_or_null(value: Any, purpose: str) -> Struct | None:
    return None if value is None else require_struct(value, purpose)


def require_sink_record(record: ConnectRecord, purpose: str) -> Any:
    from lambda_connect.api.records import SinkRecord

    if not isinstance(record, SinkRecord):
        raise DataException(f"Only SinkRecord supported for [{purpose}], found: {type(record).__name__}")
    return record


class SchemaCache:
    """A small LRU keyed by input schema: derived schemas are built once per input schema,
    which keeps schema'd transforms cheap on the hot path."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._data: OrderedDict[Any, Schema] = OrderedDict()

    def get_or_build(self, key: Any, build: Callable[[], Schema]) -> Schema:
        try:
            value = self._data[key]
            self._data.move_to_end(key)
            return value
        except KeyError:
            value = build()
            self._data[key] = value
            if len(self._data) > self._size:
                self._data.popitem(last=False)
            return value


R = TypeVar("R", bound=ConnectRecord)


class KeyOrValue(Generic[R]):
    """Mixin for the ``$Key``/``$Value`` variants: ``operating_*`` read the side the variant
    works on and ``new_with`` writes it back, so an SMT body is written once."""

    operates_on_key: ClassVar[bool] = False

    def operating_schema(self, record: R) -> Schema | None:
        return record.key_schema if self.operates_on_key else record.value_schema

    def operating_value(self, record: R) -> Any:
        return record.key if self.operates_on_key else record.value

    def new_with(self, record: R, schema: Schema | None, value: Any) -> R:
        if self.operates_on_key:
            return record.new_record(key_schema=schema, key=value)
        return record.new_record(value_schema=schema, value=value)


def config_def(*keys: ConfigKey) -> ConfigDef:
    return ConfigDef(*keys)
