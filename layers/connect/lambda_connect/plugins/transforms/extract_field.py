"""ExtractField: replace the key/value with one of its fields, optionally a nested one (KIP-821)."""

from __future__ import annotations

from typing import Any, ClassVar

from lambda_connect.api.config import (
    CaseInsensitiveValidString,
    Config,
    ConfigDef,
    ConfigKey,
    ConfigType,
    Importance,
)
from lambda_connect.api.data import Field, Schema, Struct, Type
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._util import (
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    key_value_variants,
    require_map_or_null,
    require_struct_or_null,
)

__all__ = ["ExtractField", "field_path"]

_PURPOSE = "field extraction"
_FIELD = "field"
_SYNTAX = "field.syntax.version"


def field_path(path: str, version: str) -> tuple[str, ...]:
    """The steps of a field path: V1 takes the text literally, V2 splits on dots.

    V2 steps containing dots are wrapped in backticks (`` `a.b`.c ``); a backtick that would
    end such a step is kept literally when preceded by a backslash. Raises ConfigException
    (Kafka's message) for an unterminated backtick.
    """
    if version.upper() == "V1":
        return (path,)
    steps: list[str] = []
    i, n = 0, len(path)
    while 0 <= i < n:
        if path[i] != "`":
            dot = path.find(".", i)
            steps.append(path[i:] if dot < 0 else path[i:dot])
            i = n if dot < 0 else dot + 1
            continue
        opened = i
        i += 1
        start = i
        step: list[str] = []
        while True:
            i = path.find("`", i)
            if i < 0:
                _incomplete_backticks(path, opened)
            escaped = path[i - 1] == "\\"
            if i >= n - 1:
                if escaped:
                    _incomplete_backticks(path, opened)
                step.append(path[start:i])
                steps.append("".join(step))
                i += 1
                break
            if path[i + 1] != ".":
                i += 1
                continue
            if escaped:
                step.append(path[start : i - 1] + "`")
                i += 1
                start = i
                continue
            step.append(path[start:i])
            steps.append("".join(step))
            i += 2
            break
    if path.endswith("."):
        steps.append("")
    return tuple(steps)


def _incomplete_backticks(path: str, position: int) -> None:
    message = (f"Unclosed backtick in field path [{path}] at position {position}: close the pair, or write "
               f"a backslash before that backtick to take it literally")
    raise ConfigException(message, {_FIELD: [message]})


@key_value_variants("ExtractField")
class ExtractField(KeyOrValue[Any], Transformation[Any]):
    """Extract the specified field from a Struct when a schema is present, or a Map for schemaless data.

    Null values pass through as null. With ``field.syntax.version=V2`` the field may be a
    dotted path into nested structures. Use ``ExtractField$Key`` or ``ExtractField$Value``.
    """

    Key: ClassVar[type[ExtractField]]
    Value: ClassVar[type[ExtractField]]

    config_def = ConfigDef(
        ConfigKey(name=_FIELD, type=ConfigType.STRING, importance=Importance.MEDIUM,
                  doc="Field name to extract."),
        ConfigKey(
            name=_SYNTAX,
            type=ConfigType.STRING,
            default="V1",
            validator=CaseInsensitiveValidString("V1", "V2"),
            importance=Importance.HIGH,
            doc="Field path syntax. `V1`: the name is one top-level field. `V2`: a dotted path reaches into nested "
            "structs and maps; wrap a name that itself holds dots in backticks, so \"`foo.bar`.baz\" is field "
            "`baz` inside the field called \"foo.bar\".",
        ),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._original = config[_FIELD]
        self._steps = field_path(self._original, config[_SYNTAX])
        self._replace_null = bool(config[REPLACE_NULL_WITH_DEFAULT.name])

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        schema = self.operating_schema(record)
        if schema is None:
            current = require_map_or_null(self.operating_value(record), _PURPOSE)
            for step in self._steps[:-1]:
                if current is None:
                    break
                current = require_map_or_null(current.get(step), "nested field access")
            return self.new_with(record, None, None if current is None else current.get(self._steps[-1]))
        struct = require_struct_or_null(self.operating_value(record), _PURPOSE)
        field = self._field_from(schema)
        if field is None:
            raise DataException(f"Unknown field: {self._original}")
        return self.new_with(record, field.schema, self._value_from(struct))

    def _field_from(self, schema: Schema) -> Field | None:
        current = schema
        for step in self._steps[:-1]:
            if current.type is not Type.STRUCT:
                return None
            nested = current.field(step)
            if nested is None:
                return None
            current = nested.schema
        return current.field(self._steps[-1]) if current.type is Type.STRUCT else None

    def _value_from(self, struct: Struct | None) -> Any:
        current = struct
        for step in self._steps[:-1]:
            if current is None or current.schema.field(step) is None:
                return None
            current = require_struct_or_null(current.get(step), "nested field access")
        if current is None or current.schema.field(self._steps[-1]) is None:
            return None
        last = self._steps[-1]
        return current.get(last) if self._replace_null else current.get_without_default(last)

