"""A sink record → the row it becomes: table, key columns, value columns (Confluent's FieldsMetadata).

``pk.mode`` decides where the primary key comes from, exactly as in Confluent's JDBC sink:

    none          no key columns; every (whitelisted) value field is a column
    kafka         __connect_topic, __connect_partition, __connect_offset (or the 3 names in pk.fields)
    record_key    a primitive key → the single column named in pk.fields; a struct/map key → its
                  fields (all, or those in pk.fields)
    record_value  fields of the value (all, or those in pk.fields)

``fields.whitelist`` filters the non-key value fields. Value fields named like a key column
are left to the key, as Confluent does.

Beyond Confluent, schemaless records (JSON maps, primitive keys without a schema) are
accepted: each field's schema is inferred from its Python value (int → INT64, float →
FLOAT64, bool → BOOLEAN, str → STRING, bytes → BYTES, dict/list → a JSON document). A null
tells nothing about the type, so it is ``UNKNOWN`` until another record (or the table) says
more. ``merge_schemas`` combines what the records of one table say; int and float widen to
FLOAT64, any other disagreement is an error naming the field.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_connect.api import DataException, Date, Decimal, Schema, SinkRecord, Struct, Time, Timestamp, Type

from .dialects import JSON_LOGICAL, Column, TableId

__all__ = ["UNKNOWN", "FieldsExtractor", "RowPlan", "infer_schema", "merge_schemas", "table_name"]

UNKNOWN = Schema(Type.STRING, optional=True, name="lambda_connect.Unknown")

KAFKA_PK_DEFAULTS = ("__connect_topic", "__connect_partition", "__connect_offset")
_KAFKA_PK_SCHEMAS = (Schema(Type.STRING), Schema(Type.INT32), Schema(Type.INT64))
_INTS = (Type.INT8, Type.INT16, Type.INT32, Type.INT64)


@dataclass(frozen=True)
class RowPlan:
    """What one record does to its table: upsert/insert/update ``values`` or delete by key."""

    record: SinkRecord
    table: TableId
    columns: tuple[Column, ...]
    values: Mapping[str, Any]
    keys: tuple[str, ...]
    delete: bool = False

    @property
    def key_values(self) -> tuple[Any, ...]:
        return tuple(self.values[k] for k in self.keys)


def table_name(fmt: str, topic: str) -> TableId:
    """``table.name.format`` applied to a topic (``${topic}`` is the only placeholder)."""
    return TableId.parse(fmt.replace("${topic}", topic))


def infer_schema(value: Any) -> Schema:
    """The optional schema a schemaless value implies (``UNKNOWN`` for None)."""
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return Schema(Type.BOOLEAN, optional=True)
    if isinstance(value, int):
        return Schema(Type.INT64, optional=True)
    if isinstance(value, float):
        return Schema(Type.FLOAT64, optional=True)
    if isinstance(value, str):
        return Schema(Type.STRING, optional=True)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Schema(Type.BYTES, optional=True)
    if isinstance(value, decimal.Decimal):
        exp = value.as_tuple().exponent
        return Decimal.schema(max(-exp, 0) if isinstance(exp, int) else 0, optional=True)
    if isinstance(value, dt.datetime):
        return Timestamp.schema(optional=True)
    if isinstance(value, dt.date):
        return Date.schema(optional=True)
    if isinstance(value, dt.time):
        return Time.schema(optional=True)
    if isinstance(value, (dict, list, tuple, Struct)):
        return Schema(Type.STRING, optional=True, name=JSON_LOGICAL)
    raise DataException(f"Cannot map a value of Python type {type(value).__name__} to a column")


def merge_schemas(field: str, a: Schema, b: Schema) -> Schema:
    """One schema for a column two records describe differently, or a DataException naming it."""
    if a.name == UNKNOWN.name or a == b:
        return b
    if b.name == UNKNOWN.name:
        return a
    optional = a.optional or b.optional
    if a.type is b.type and a.name == b.name:
        return a if a.optional == optional else a.copy(optional=optional)
    if a.name is None and b.name is None and a.type in _INTS and b.type in _INTS:
        wide = a if _INTS.index(a.type) >= _INTS.index(b.type) else b
        return wide.copy(optional=optional)
    numeric = (*_INTS, Type.FLOAT32, Type.FLOAT64)
    if a.name is None and b.name is None and a.type in numeric and b.type in numeric:
        return Schema(Type.FLOAT64, optional=optional)
    raise DataException(f"Field '{field}' has conflicting types across records: {_describe(a)} and {_describe(b)}")


def _describe(s: Schema) -> str:
    return s.name or s.type.name


def _fields_of(
    value: Any, schema: Schema | None, what: str, table: TableId, pk_mode: str
) -> list[tuple[str, Schema, Any]]:
    """(name, schema, value) of every field of a struct or map value."""
    if isinstance(value, Struct):
        return [(f.name, f.schema, value.get(f)) for f in value.schema.fields]
    if isinstance(value, Mapping):
        return [(str(k), infer_schema(v), v) for k, v in value.items()]
    kind = "null" if value is None else type(value).__name__
    raise DataException(
        f"PK mode for table '{table}' is {pk_mode} which requires records to have a Struct or map {what}, "
        f"but found a {kind} {what}"
    )


class FieldsExtractor:
    """Turns records into ``RowPlan``s under one connector's pk/whitelist settings."""

    def __init__(
        self,
        *,
        table_format: str,
        pk_mode: str,
        pk_fields: Sequence[str],
        whitelist: Sequence[str],
        delete_enabled: bool,
    ) -> None:
        self.table_format = table_format
        self.pk_mode = pk_mode
        self.pk_fields = tuple(pk_fields)
        self.whitelist = frozenset(whitelist)
        self.delete_enabled = delete_enabled
        self._tables: dict[str, TableId] = {}

    def table_for(self, topic: str) -> TableId:
        table = self._tables.get(topic)
        if table is None:
            table = self._tables[topic] = table_name(self.table_format, topic)
        return table

    def plan(self, record: SinkRecord) -> RowPlan:
        """The row for ``record``; raises DataException when the record cannot become one."""
        table = self.table_for(record.topic)
        if record.value is None:
            if not self.delete_enabled:
                raise DataException(
                    f"Sink connector is configured with 'delete.enabled=false' and 'pk.mode={self.pk_mode}' and "
                    "therefore requires records with a non-null Struct value and non-null Struct schema, but found "
                    f"record at (topic='{record.topic}',partition={record.kafka_partition},"
                    f"offset={record.kafka_offset},timestamp={record.timestamp}) with a null value"
                )
            key_cols = self._key_columns(record, table)
            values = {c.name: v for c, v in key_cols}
            return RowPlan(record, table, tuple(c for c, _ in key_cols), values, tuple(values), delete=True)
        key_cols = self._key_columns(record, table)
        keys = tuple(c.name for c, _ in key_cols)
        columns = [c for c, _ in key_cols]
        values = {c.name: v for c, v in key_cols}
        taken = set(keys)
        for name, schema, value in _fields_of(record.value, record.value_schema, "value", table, self.pk_mode):
            if name in taken or (self.whitelist and name not in self.whitelist):
                continue
            columns.append(Column(name, schema))
            values[name] = value
        return RowPlan(record, table, tuple(columns), values, keys)

    def _key_columns(self, record: SinkRecord, table: TableId) -> list[tuple[Column, Any]]:
        mode = self.pk_mode
        if mode == "none":
            return []
        if mode == "kafka":
            names = self.pk_fields or KAFKA_PK_DEFAULTS
            if len(names) != 3:
                raise DataException(
                    f"PK mode for table '{table}' is KAFKA so there should either be no field names defined for "
                    f"defaults {list(KAFKA_PK_DEFAULTS)} to be applicable, or exactly 3, "
                    f"defined fields are: {list(names)}"
                )
            coords = (record.topic, record.kafka_partition, record.kafka_offset)
            return [(Column(n, s, key=True), v) for n, s, v in zip(names, _KAFKA_PK_SCHEMAS, coords)]
        if mode == "record_key":
            key = record.key
            if key is None:
                raise DataException(
                    f"PK mode for table '{table}' is RECORD_KEY, but record key is null "
                    f"(topic='{record.topic}',partition={record.kafka_partition},offset={record.kafka_offset})"
                )
            if not isinstance(key, (Struct, Mapping)):
                if len(self.pk_fields) != 1:
                    raise DataException(
                        "Need exactly one PK column defined since the key schema for records is a primitive type, "
                        f"defined columns are: {list(self.pk_fields)}"
                    )
                schema = record.key_schema if record.key_schema is not None else infer_schema(key)
                return [(Column(self.pk_fields[0], schema.copy(optional=False), key=True), key)]
            return self._pick(_fields_of(key, record.key_schema, "key", table, mode), table, "key")
        # record_value
        fields = _fields_of(record.value, record.value_schema, "value", table, mode)
        return self._pick(fields, table, "value")

    def _pick(self, fields: list[tuple[str, Schema, Any]], table: TableId, what: str) -> list[tuple[Column, Any]]:
        by_name = {name: (schema, value) for name, schema, value in fields}
        names = self.pk_fields or tuple(by_name)
        out: list[tuple[Column, Any]] = []
        for name in names:
            if name not in by_name:
                raise DataException(
                    f"PK mode for table '{table}' is {self.pk_mode.upper()} with configured PK fields "
                    f"{list(self.pk_fields)}, but record {what} schema does not contain field: {name}"
                )
            schema, value = by_name[name]
            if value is None:
                raise DataException(f"Primary key field '{name}' of table '{table}' is null")
            out.append((Column(name, schema.copy(optional=False) if schema.optional else schema, key=True), value))
        return out
