"""InsertField: add record metadata (topic, partition, offset, timestamp) or a constant to the key/value."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

from lambda_connect.api import map_edits
from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.data import (
    INT32_SCHEMA,
    INT64_SCHEMA,
    OPTIONAL_INT32_SCHEMA,
    OPTIONAL_INT64_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    Schema,
    Struct,
    Timestamp,
)
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
    require_sink_record,
    require_struct,
    run_plan,
)

__all__ = ["InsertField"]

_PURPOSE = "field insertion"
_OPTIONALITY_DOC = (
    "Suffix with <code>!</code> to make this a required field, or <code>?</code> to keep it optional (the default)."
)
_FIELD_KEYS = ("topic.field", "partition.field", "offset.field", "timestamp.field", "static.field")
_OPTIONAL_TIMESTAMP_SCHEMA = Timestamp.schema(optional=True)
_TIMESTAMP_SCHEMA = Timestamp.schema()


class _Spec(NamedTuple):
    """A field to insert: ``name!`` makes it required in the schema, ``name?``/``name`` optional."""

    name: str
    optional: bool

    @classmethod
    def parse(cls, spec: str | None) -> _Spec | None:
        if spec is None:
            return None
        if spec.endswith("?"):
            return cls(spec[:-1], True)
        if spec.endswith("!"):
            return cls(spec[:-1], False)
        return cls(spec, True)


def _field_key(key: str, what: str) -> ConfigKey:
    return ConfigKey(name=key, type=ConfigType.STRING, default=None, doc=f"Field name for {what}. {_OPTIONALITY_DOC}")


@key_value_variants("InsertField")
class InsertField(KeyOrValue[Any], Transformation[Any]):
    """Insert field(s) using attributes from the record metadata or a configured static value.

    Use ``InsertField$Key`` for the record key and ``InsertField$Value`` for the value.
    A null key/value passes through unchanged (tombstones stay tombstones).
    """

    Key: ClassVar[type[InsertField]]
    Value: ClassVar[type[InsertField]]

    config_def = ConfigDef(
        _field_key("topic.field", "Kafka topic"),
        _field_key("partition.field", "Kafka partition"),
        _field_key("offset.field", "Kafka offset - only applicable to sink connectors"),
        _field_key("timestamp.field", "record timestamp"),
        _field_key("static.field", "static data field"),
        ConfigKey(
            name="static.value",
            type=ConfigType.STRING,
            default=None,
            importance=Importance.MEDIUM,
            doc="Value of the constant field named by static.field.",
        ),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._topic = _Spec.parse(config["topic.field"])
        self._partition = _Spec.parse(config["partition.field"])
        self._offset = _Spec.parse(config["offset.field"])
        self._timestamp = _Spec.parse(config["timestamp.field"])
        self._static = _Spec.parse(config["static.field"])
        self._static_value: str | None = config["static.value"]
        self._replace_null_with_default: bool = config["replace.null.with.default"]
        if not any((self._topic, self._partition, self._offset, self._timestamp, self._static)):
            msg = "No field insertion configured"
            raise ConfigException(msg, {k: [msg] for k in _FIELD_KEYS})
        if self._static is not None and self._static_value is None:
            raise ConfigException.for_key(
                "static.value", None, f"No value specified for static field: {self._static.name}"
            )
        # Plain names for the schemaless hot path, resolved once.
        self._topic_name = self._topic.name if self._topic is not None else None
        self._partition_name = self._partition.name if self._partition is not None else None
        self._offset_name = self._offset.name if self._offset is not None else None
        self._timestamp_name = self._timestamp.name if self._timestamp is not None else None
        self._static_name = self._static.name if self._static is not None else None
        self._schemas = SchemaCache()
        self._plan = compile_plans([self.schemaless_source()], "insert_field")

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        # Inlined operating_value/operating_schema: this runs once per record in the hot chain.
        if self.operates_on_key:
            value, schema = record.key, record.key_schema
        else:
            value, schema = record.value, record.value_schema
        if value is None:
            return record
        if schema is None:
            updated = dict(value) if type(value) is dict else dict(require_map(value, _PURPOSE))
            if self._offset_name is not None:
                require_sink_record(record, _PURPOSE)
            run_plan(self._plan, updated, record)
            return self.new_with(record, None, updated)
        return self._apply_with_schema(record, value)

    def schemaless_source(self) -> PlanSource:
        """Stores of the configured metadata; only the configured fields appear in the code.
        Only sink records have offsets: for the others apply raises Kafka's error first."""
        edits = []
        if self._topic_name is not None:
            edits.append(map_edits.insert_topic(self._topic_name))
        if self._partition_name is not None:
            edits.append(map_edits.insert_partition(self._partition_name))
        if self._offset_name is not None:
            edits.append(map_edits.insert_offset(self._offset_name, LookupError))
        if self._timestamp_name is not None:
            edits.append(map_edits.insert_timestamp(self._timestamp_name))
        if self._static_name is not None:
            edits.append(map_edits.insert_constant(self._static_name, self._static_value))
        return map_edits.join(edits)

    def _apply_with_schema(self, record: ConnectRecord, value: Any) -> ConnectRecord:
        struct = require_struct(value, _PURPOSE)
        schema = self._schemas.get_or_build(struct.schema, lambda: self._updated_schema(struct.schema))
        updated = Struct(schema)
        read = struct.get if self._replace_null_with_default else struct.get_without_default
        for field in struct.schema.fields:
            updated.put(field.name, read(field))
        if self._topic is not None:
            updated.put(self._topic.name, record.topic)
        if self._partition is not None and record.kafka_partition is not None:
            updated.put(self._partition.name, record.kafka_partition)
        if self._offset is not None:
            updated.put(self._offset.name, require_sink_record(record, _PURPOSE).kafka_offset)
        if self._timestamp is not None and record.timestamp is not None:
            updated.put(self._timestamp.name, Timestamp.to_logical(None, record.timestamp))
        if self._static_name is not None:
            updated.put(self._static_name, self._static_value)
        return self.new_with(record, schema, updated)

    def _updated_schema(self, schema: Schema) -> Schema:
        """The input struct's fields plus the inserted ones; like Kafka's ``copySchemaBasics``
        it keeps name, version, doc and parameters but not optionality or default."""
        fields: list[tuple[str, Schema]] = [(f.name, f.schema) for f in schema.fields]
        if self._topic is not None:
            fields.append((self._topic.name, OPTIONAL_STRING_SCHEMA if self._topic.optional else STRING_SCHEMA))
        if self._partition is not None:
            fields.append(
                (self._partition.name, OPTIONAL_INT32_SCHEMA if self._partition.optional else INT32_SCHEMA)
            )
        if self._offset is not None:
            fields.append((self._offset.name, OPTIONAL_INT64_SCHEMA if self._offset.optional else INT64_SCHEMA))
        if self._timestamp is not None:
            fields.append(
                (
                    self._timestamp.name,
                    _OPTIONAL_TIMESTAMP_SCHEMA if self._timestamp.optional else _TIMESTAMP_SCHEMA,
                )
            )
        if self._static is not None:
            fields.append((self._static.name, OPTIONAL_STRING_SCHEMA if self._static.optional else STRING_SCHEMA))
        return Schema.struct(
            fields, name=schema.name, version=schema.version, doc=schema.doc, parameters=schema.parameters
        )
