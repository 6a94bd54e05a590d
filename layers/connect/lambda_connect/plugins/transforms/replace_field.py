"""ReplaceField: keep, drop and rename the top-level fields of the key/value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from lambda_connect.api import map_edits
from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, LambdaValidator
from lambda_connect.api.data import Schema, Struct
from lambda_connect.api.errors import ConfigException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._util import (
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    PlanSource,
    SchemaCache,
    compile_plans,
    key_value_variants,
    require_map,
    require_struct,
    run_plan,
)

__all__ = ["ReplaceField", "parse_rename_mappings"]

_PURPOSE = "field replacement"


def _java_split_colon(text: str) -> list[str]:
    """``String.split(":")``: Java drops trailing empty parts, so ``"a:"`` has one part."""
    parts = text.split(":")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def parse_rename_mappings(mappings: Sequence[str], key: str = "renames") -> dict[str, str]:
    """``old:new`` entries to a dict; anything but exactly one ``old`` and one ``new`` is rejected
    with Kafka's message, attributed to ``key``."""
    renames: dict[str, str] = {}
    for mapping in mappings:
        parts = _java_split_colon(mapping)
        if len(parts) != 2:
            shown = "[" + ", ".join(mappings) + "]"
            raise ConfigException.for_key(key, shown, f"Invalid rename mapping: {mapping}")
        renames[parts[0]] = parts[1]
    return renames


def _check_renames(name: str, value: Any) -> None:
    parse_rename_mappings(value or [], name)


_RENAMES_VALIDATOR = LambdaValidator(_check_renames, "list of colon-delimited pairs, e.g. <code>foo:bar,abc:xyz</code>")


@key_value_variants("ReplaceField")
class ReplaceField(KeyOrValue[Any], Transformation[Any]):
    """Filter or rename fields.

    ``exclude`` wins over ``include``; filtering uses the original names and ``renames`` apply
    afterwards. Only top-level fields are affected. A null key/value passes through unchanged.
    """

    Key: ClassVar[type[ReplaceField]]
    Value: ClassVar[type[ReplaceField]]

    config_def = ConfigDef(
        ConfigKey(
            name="exclude",
            type=ConfigType.LIST,
            default="",
            importance=Importance.MEDIUM,
            doc="Fields to drop; a field listed here is dropped even when it is also included.",
        ),
        ConfigKey(
            name="include",
            type=ConfigType.LIST,
            default="",
            importance=Importance.MEDIUM,
            doc="Fields to keep; when set, every other field is dropped.",
        ),
        ConfigKey(
            name="renames",
            type=ConfigType.LIST,
            default="",
            validator=_RENAMES_VALIDATOR,
            importance=Importance.MEDIUM,
            doc="Field rename mappings.",
        ),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._exclude = frozenset(config["exclude"])
        self._include = frozenset(config["include"])
        self._renames = parse_rename_mappings(config["renames"])
        self._reverse = {new: old for old, new in self._renames.items()}
        self._replace_null_with_default: bool = config["replace.null.with.default"]
        self._schemas = SchemaCache()
        self._schemaless = compile_plans([self.schemaless_source()], "replace_field")

    def _keep(self, field_name: str) -> bool:
        return field_name not in self._exclude and (not self._include or field_name in self._include)

    def schemaless_source(self) -> PlanSource:
        """The in-place edit: filter on the original names, then rename. Renames apply
        together (``a:b,b:c`` moves both), and a renamed field replaces a kept field of the
        same name, where Kafka's result depends on its HashMap's iteration order."""
        edits = [map_edits.keep_fields(self._include - self._exclude) if self._include
                 else map_edits.drop_fields(self._exclude)]
        if self._renames:
            edits.append(map_edits.rename_fields(list(self._renames.items())))
        return map_edits.join(edits)

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        # Inlined operating_value/operating_schema: this runs once per record in the hot chain.
        if self.operates_on_key:
            value, schema = record.key, record.key_schema
        else:
            value, schema = record.value, record.value_schema
        if value is None:
            return record
        if schema is None:
            updated = dict(require_map(value, _PURPOSE))
            run_plan(self._schemaless, updated, record)
            return self.new_with(record, None, updated)
        struct = require_struct(value, _PURPOSE)
        schema = self._schemas.get_or_build(struct.schema, lambda: self._updated_schema(struct.schema))
        updated = Struct(schema)
        read = struct.get if self._replace_null_with_default else struct.get_without_default
        reverse = self._reverse
        for field in schema.fields:
            updated.put(field.name, read(reverse.get(field.name, field.name)))
        return self.new_with(record, schema, updated)

    def _updated_schema(self, schema: Schema) -> Schema:
        """Kept fields in their original order under their new names; like Kafka's
        ``copySchemaBasics`` it keeps name, version, doc and parameters."""
        fields = [(self._renames.get(f.name, f.name), f.schema) for f in schema.fields if self._keep(f.name)]
        return Schema.struct(
            fields, name=schema.name, version=schema.version, doc=schema.doc, parameters=schema.parameters
        )
