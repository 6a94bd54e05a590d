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

Speed: a batch of 10,000 records usually has one or a handful of *shapes* (field names and
value types for maps, one schema object for structs). Everything that depends only on the
shape — inferred schemas, key columns, the column tuple — is worked out once per shape and
shared by every record of that shape, so per record only the shape key is built and the
key values are checked for null. Sharing the very same ``columns`` tuple also lets the
writer merge table schemas once per shape instead of once per record.
"""

from __future__ import annotations

import datetime as dt
import decimal
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from lambda_connect.api import DataException, Date, Decimal, Schema, SinkRecord, Struct, Time, Timestamp, Type

from .dialects import JSON_LOGICAL, Column, TableId

__all__ = ["UNKNOWN", "Bunch", "Failed", "FieldsExtractor", "RowPlan", "infer_schema", "merge_schemas", "table_name"]

UNKNOWN = Schema(Type.STRING, optional=True, name="lambda_connect.Unknown")

KAFKA_PK_DEFAULTS = ("__connect_topic", "__connect_partition", "__connect_offset")
_KAFKA_PK_SCHEMAS = (Schema(Type.STRING), Schema(Type.INT32), Schema(Type.INT64))
_INTS = (Type.INT8, Type.INT16, Type.INT32, Type.INT64)
_NUMERIC = (*_INTS, Type.FLOAT32, Type.FLOAT64)

_VALUE = operator.attrgetter("value")
_TOPIC = operator.attrgetter("topic")
_DICT_ONLY = {dict}

# Shapes are cached per extractor; a stream whose shapes never repeat (e.g. ever-new map
# keys) must not grow the cache without bound.
_MAX_SHAPES = 4096


class RowPlan:
    """What one record does to its table: upsert/insert/update ``values`` or delete by key.

    ``fields`` (the column names in ``columns`` order) is carried along because the writer
    groups rows by it; records of one shape share the same tuple.
    """

    __slots__ = ("columns", "delete", "fields", "keys", "record", "table", "values")

    def __init__(
        self,
        record: SinkRecord,
        table: TableId,
        columns: tuple[Column, ...],
        values: Mapping[str, Any],
        keys: tuple[str, ...],
        delete: bool = False,
        fields: tuple[str, ...] | None = None,
    ) -> None:
        self.record = record
        self.table = table
        self.columns = columns
        self.values = values
        self.keys = keys
        self.delete = delete
        self.fields = fields if fields is not None else tuple(c.name for c in columns)

    @property
    def key_values(self) -> tuple[Any, ...]:
        return tuple(self.values[k] for k in self.keys)

    def __repr__(self) -> str:
        return f"RowPlan(table={self.table}, fields={self.fields}, keys={self.keys}, delete={self.delete})"


@dataclass(frozen=True)
class Failed:
    """A record that could not become a row; reported at flush, once its offset is known to be new."""

    record: SinkRecord
    error: BaseException


class Bunch:
    """Consecutive records of one table whose values are plain JSON maps of one shape (field
    names and value types, so one ``_Layout``): two parallel lists instead of a RowPlan each.

    The map itself is each row's values, as on the short way of ``FieldsExtractor.plan``.
    """

    __slots__ = ("layout", "records", "table", "values")

    def __init__(self, table: TableId, layout: _Layout) -> None:
        self.table = table
        self.layout = layout
        self.records: list[SinkRecord] = []
        self.values: list[dict[str, Any]] = []

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.layout.columns

    @property
    def fields(self) -> tuple[str, ...]:
        return self.layout.fields

    @property
    def keys(self) -> tuple[str, ...]:
        return self.layout.keys

    def field_types(self) -> dict[str, type]:
        """The Python type of each field's values (one per field: the shape fixes it)."""
        first = self.values[0]
        return {f: type(first[f]) for f in self.layout.fields}

    def plans(self) -> list[RowPlan]:
        """One RowPlan per record, exactly as ``FieldsExtractor.plan`` makes them."""
        table, layout = self.table, self.layout
        columns, keys, fields = layout.columns, layout.keys, layout.fields
        return [RowPlan(r, table, columns, v, keys, False, fields) for r, v in zip(self.records, self.values)]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"Bunch(table={self.table}, fields={self.layout.fields}, records={len(self.records)})"


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
    if a is b or a.name == UNKNOWN.name or a == b:
        return b
    if b.name == UNKNOWN.name:
        return a
    optional = a.optional or b.optional
    if a.type is b.type and a.name == b.name:
        return a if a.optional == optional else a.copy(optional=optional)
    if a.name is None and b.name is None and a.type in _INTS and b.type in _INTS:
        wide = a if _INTS.index(a.type) >= _INTS.index(b.type) else b
        return wide.copy(optional=optional)
    if a.name is None and b.name is None and a.type in _NUMERIC and b.type in _NUMERIC:
        return Schema(Type.FLOAT64, optional=optional)
    raise DataException(f"Field '{field}' has conflicting types across records: {_describe(a)} and {_describe(b)}")


def _describe(s: Schema) -> str:
    return s.name or s.type.name


def _not_a_struct(value: Any, what: str, table: TableId, pk_mode: str) -> DataException:
    kind = "null" if value is None else type(value).__name__
    return DataException(
        f"PK mode for table '{table}' is {pk_mode} which requires records to have a Struct or map {what}, "
        f"but found a {kind} {what}"
    )


class _Shape:
    """The fields of every struct/map value of one shape, and what was derived from them.

    ``plain`` is true for a map whose keys are all strings: then the map itself serves as the
    row's values (extra entries are harmless, the writer reads columns by name).
    """

    __slots__ = ("derived", "names", "plain", "schemas")

    def __init__(self, names: tuple[str, ...], schemas: tuple[Schema, ...], plain: bool) -> None:
        self.names = names
        self.schemas = schemas
        self.plain = plain
        self.derived: dict[Any, Any] = {}


class _KeyPart:
    """Key columns a shape yields: ``columns`` for ``names`` found; ``missing`` is the first absent pk field."""

    __slots__ = ("columns", "missing", "names")

    def __init__(self, columns: tuple[Column, ...], names: tuple[str, ...], missing: str | None) -> None:
        self.columns = columns
        self.names = names
        self.missing = missing


class _Layout:
    """The finished column list for one (key part, value shape) pair."""

    __slots__ = ("columns", "fields", "keys", "value_names")

    def __init__(self, keys: tuple[Column, ...], shape: _Shape, whitelist: frozenset[str]) -> None:
        taken = {c.name for c in keys}
        cols = list(keys)
        value_names: list[str] = []
        for name, schema in zip(shape.names, shape.schemas):
            if name in taken or (whitelist and name not in whitelist):
                continue
            cols.append(Column(name, schema))
            value_names.append(name)
        self.columns = tuple(cols)
        self.fields = tuple(c.name for c in cols)
        self.keys = tuple(c.name for c in keys)
        self.value_names = tuple(value_names)


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
        self._map_shapes: dict[tuple[tuple[Any, ...], tuple[type, ...]], _Shape] = {}
        self._struct_shapes: dict[int, tuple[Schema, _Shape]] = {}
        self._primitive_keys: dict[Any, tuple[Any, tuple[Column, ...]]] = {}
        self._kafka_keys: tuple[Column, ...] | None = None
        # (field names, value types) of a plain JSON map whose row is known to be valid → its layout
        self._fast: dict[tuple[tuple[Any, ...], tuple[type, ...]], _Layout] = {}
        # Whether the last batch was one topic and one known shape (so the next likely is too).
        self._uniform_hint = True

    def table_for(self, topic: str) -> TableId:
        table = self._tables.get(topic)
        if table is None:
            table = self._tables[topic] = table_name(self.table_format, topic)
        return table

    # --- the per-batch entry point -------------------------------------------------------------
    def plan_into(self, records: Sequence[SinkRecord], out: list[Any]) -> None:
        """Append what ``records`` become to ``out``, in record order: a ``Bunch`` for each run of
        consecutive records that take the short way (see ``plan``) into one table with one layout,
        a ``RowPlan`` for any other record, a ``Failed`` for a record that cannot become a row.

        Same answers as ``plan`` record by record; a bunch only saves building a RowPlan per
        record, and lets the writer handle its rows as whole columns.
        """
        if self._uniform_hint and self._fast and self._plan_uniform(records, out):
            return
        fast = self._fast
        tables = self._tables
        bunch: Bunch | None = out[-1] if out and type(out[-1]) is Bunch else None  # an earlier put's
        first = len(out)
        for record in records:
            value = record.value
            key: Any = None
            if type(value) is dict:
                key = (tuple(value), tuple(map(type, value.values())))
                layout = fast.get(key)
                if layout is not None:
                    table = tables.get(record.topic)
                    if table is not None:
                        if bunch is None or bunch.layout is not layout or bunch.table is not table:
                            bunch = Bunch(table, layout)
                            out.append(bunch)
                        bunch.records.append(record)
                        bunch.values.append(value)
                        continue
            try:
                plan = self._plan(record)
            except DataException as e:
                out.append(Failed(record, e))
                bunch = None
                continue
            if key is not None and plan.values is value:
                layout = fast.get(key)  # the long way has just remembered this shape
                if layout is not None and layout.fields is plan.fields:
                    bunch = Bunch(plan.table, layout)
                    bunch.records.append(record)
                    bunch.values.append(value)
                    out.append(bunch)
                    continue
            out.append(plan)
            bunch = None
        # Try the whole-batch check next time only when this batch would have passed it.
        self._uniform_hint = len(out) <= first + 1 and type(out[-1]) is Bunch if out else True

    def _plan_uniform(self, records: Sequence[SinkRecord], out: list[Any]) -> bool:
        """The common batch, one topic and one known map shape throughout, as one Bunch, with the
        shape checked by C-level passes over the batch; False (nothing appended) otherwise."""
        if not records:
            return True
        values = list(map(_VALUE, records))
        if set(map(type, values)) != _DICT_ONLY:
            self._uniform_hint = False
            return False
        # One shape: the keys of all maps, end to end, repeat the first map's keys (a map's keys are
        # distinct, so no map can hold more or fewer of them and still line up), and so do the
        # types of their values.
        first, n = values[0], len(values)
        names = list(first)
        types = list(map(type, first.values()))
        layout = None
        topics = set(map(_TOPIC, records))
        if len(topics) == 1 and list(chain.from_iterable(values)) == names * n and \
                list(map(type, chain.from_iterable(map(dict.values, values)))) == types * n:
            layout = self._fast.get((tuple(names), tuple(types)))
        table = self._tables.get(next(iter(topics))) if layout is not None else None
        if layout is None or table is None:
            self._uniform_hint = False
            return False
        last = out[-1] if out else None
        if type(last) is Bunch and last.layout is layout and last.table is table:  # an earlier put's
            last.records.extend(records)
            last.values.extend(values)
            return True
        bunch = Bunch(table, layout)
        bunch.records = list(records)
        bunch.values = values
        out.append(bunch)
        return True

    # --- the per-record entry point ----------------------------------------------------------
    def plan(self, record: SinkRecord) -> RowPlan:
        """The row for ``record``; raises DataException when the record cannot become one.

        A JSON map of a shape seen before, in ``none``/``record_value`` mode, takes the short
        way: one dict lookup. A null key field makes a shape of its own (its type is NoneType),
        which the long way rejects and never remembers, so the short way needs no null check.
        Everything else, and the first record of each shape, goes the long way.
        """
        value = record.value
        if type(value) is dict and self._fast:
            layout = self._fast.get((tuple(value), tuple(map(type, value.values()))))
            if layout is not None:
                table = self._tables.get(record.topic)
                if table is not None:
                    return RowPlan(record, table, layout.columns, value, layout.keys, False, layout.fields)
        return self._plan(record)

    def _plan(self, record: SinkRecord) -> RowPlan:
        table = self._tables.get(record.topic) or self.table_for(record.topic)
        value = record.value
        if value is None:
            return self._delete_plan(record, table)
        mode = self.pk_mode
        if mode == "record_value":
            shape = self._shape(value, "value", table)
            part = self._value_key_part(shape)
            values = value if shape.plain else self._values_of(value, shape)
            self._check_keys(part, values, table, "value")
            layout = self._layout(part.columns, shape)
            if shape.plain and part.missing is None:
                self._remember(value, layout)
        elif mode == "none":
            shape = self._shape(value, "value", table)
            values = value if shape.plain else self._values_of(value, shape)
            layout = self._layout((), shape)
            if shape.plain:
                self._remember(value, layout)
        else:
            keys, key_values = self._key_columns(record, table)
            shape = self._shape(value, "value", table)
            layout = self._layout(keys, shape)
            values = dict(zip(layout.keys, key_values))
            if shape.plain:
                for name in layout.value_names:
                    values[name] = value[name]
            else:
                source = self._values_of(value, shape)
                for name in layout.value_names:
                    values[name] = source[name]
        return RowPlan(record, table, layout.columns, values, layout.keys, False, layout.fields)

    def _remember(self, value: Any, layout: _Layout) -> None:
        if type(value) is not dict:
            return
        types = tuple(map(type, value.values()))
        if decimal.Decimal in types:
            return
        if len(self._fast) >= _MAX_SHAPES:
            self._fast.clear()
        self._fast[(tuple(value), types)] = layout

    def _delete_plan(self, record: SinkRecord, table: TableId) -> RowPlan:
        if not self.delete_enabled:
            raise DataException(
                f"Sink connector is configured with 'delete.enabled=false' and 'pk.mode={self.pk_mode}' and "
                "therefore requires records with a non-null Struct value and non-null Struct schema, but found "
                f"record at (topic='{record.topic}',partition={record.kafka_partition},"
                f"offset={record.kafka_offset},timestamp={record.timestamp}) with a null value"
            )
        if self.pk_mode == "record_value":  # cannot be configured with delete.enabled; Confluent's message
            raise _not_a_struct(None, "value", table, self.pk_mode)
        keys, key_values = self._key_columns(record, table)
        names = tuple(c.name for c in keys)
        return RowPlan(record, table, keys, dict(zip(names, key_values)), names, delete=True)

    # --- shapes ---------------------------------------------------------------------------------
    def _shape(self, value: Any, what: str, table: TableId) -> _Shape:
        """The cached shape of a struct or map value (a DataException for anything else)."""
        if type(value) is dict or isinstance(value, Mapping):
            types = tuple(map(type, value.values()))
            if decimal.Decimal in types:  # a Decimal's schema depends on its scale, not only its type
                return self._map_shape(value)
            key = (tuple(value), types)
            shape = self._map_shapes.get(key)
            if shape is None:
                shape = self._map_shape(value)
                if len(self._map_shapes) >= _MAX_SHAPES:
                    self._map_shapes.clear()
                self._map_shapes[key] = shape
            return shape
        if isinstance(value, Struct):
            schema = value.schema
            cached = self._struct_shapes.get(id(schema))
            if cached is None or cached[0] is not schema:
                fields = schema.fields
                shape = _Shape(tuple(f.name for f in fields), tuple(f.schema for f in fields), plain=False)
                if len(self._struct_shapes) >= _MAX_SHAPES:
                    self._struct_shapes.clear()
                cached = self._struct_shapes[id(schema)] = (schema, shape)
            return cached[1]
        raise _not_a_struct(value, what, table, self.pk_mode)

    @staticmethod
    def _map_shape(value: Mapping[Any, Any]) -> _Shape:
        names = tuple(str(k) for k in value)
        schemas = tuple(infer_schema(v) for v in value.values())
        return _Shape(names, schemas, plain=all(type(k) is str for k in value))

    @staticmethod
    def _values_of(value: Any, shape: _Shape) -> dict[str, Any]:
        if isinstance(value, Struct):
            return {f.name: value.get(f) for f in value.schema.fields}
        return {str(k): v for k, v in value.items()}

    def _layout(self, keys: tuple[Column, ...], shape: _Shape) -> _Layout:
        """Cached by the identity of ``keys``: every key column tuple comes out of a cache too."""
        entry = shape.derived.get(id(keys))
        if entry is None or entry[0] is not keys:
            entry = shape.derived[id(keys)] = (keys, _Layout(keys, shape, self.whitelist))
        return entry[1]

    # --- key columns ----------------------------------------------------------------------------
    def _value_key_part(self, shape: _Shape) -> _KeyPart:
        part = shape.derived.get("pk")
        if part is None:
            part = shape.derived["pk"] = self._pick(shape)
        return part

    def _pick(self, shape: _Shape) -> _KeyPart:
        by_name = dict(zip(shape.names, shape.schemas))
        out: list[Column] = []
        for name in self.pk_fields or shape.names:
            schema = by_name.get(name)
            if schema is None:
                return _KeyPart(tuple(out), tuple(c.name for c in out), name)
            out.append(Column(name, schema.copy(optional=False) if schema.optional else schema, key=True))
        return _KeyPart(tuple(out), tuple(c.name for c in out), None)

    def _check_keys(self, part: _KeyPart, values: Mapping[str, Any], table: TableId, what: str) -> None:
        """Null key values and absent pk fields, in pk field order as Confluent reports them."""
        for name in part.names:
            if values[name] is None:
                raise DataException(f"Primary key field '{name}' of table '{table}' is null")
        if part.missing is not None:
            raise DataException(
                f"PK mode for table '{table}' is {self.pk_mode.upper()} with configured PK fields "
                f"{list(self.pk_fields)}, but record {what} schema does not contain field: {part.missing}"
            )

    def _key_columns(self, record: SinkRecord, table: TableId) -> tuple[tuple[Column, ...], tuple[Any, ...]]:
        """Key columns and their values for the kafka and record_key modes."""
        mode = self.pk_mode
        if mode == "none":
            return (), ()
        if mode == "kafka":
            return self._kafka_columns(table), (record.topic, record.kafka_partition, record.kafka_offset)
        if mode == "record_key":
            key = record.key
            if key is None:
                raise DataException(
                    f"PK mode for table '{table}' is RECORD_KEY, but record key is null "
                    f"(topic='{record.topic}',partition={record.kafka_partition},offset={record.kafka_offset})"
                )
            if not isinstance(key, (Struct, Mapping)):
                return self._primitive_key(record.key_schema, key), (key,)
            shape = self._shape(key, "key", table)
            part = self._value_key_part(shape)
            values = key if shape.plain else self._values_of(key, shape)
            self._check_keys(part, values, table, "key")
            return part.columns, tuple(values[n] for n in part.names)
        # record_value: the key comes out of the value (the delete path reaches here only with a value)
        shape = self._shape(record.value, "value", table)
        part = self._value_key_part(shape)
        values = record.value if shape.plain else self._values_of(record.value, shape)
        self._check_keys(part, values, table, "value")
        return part.columns, tuple(values[n] for n in part.names)

    def _kafka_columns(self, table: TableId) -> tuple[Column, ...]:
        names = self.pk_fields or KAFKA_PK_DEFAULTS
        if len(names) != 3:
            raise DataException(
                f"PK mode for table '{table}' is KAFKA so there should either be no field names defined for "
                f"defaults {list(KAFKA_PK_DEFAULTS)} to be applicable, or exactly 3, "
                f"defined fields are: {list(names)}"
            )
        if self._kafka_keys is None:
            self._kafka_keys = tuple(Column(n, s, key=True) for n, s in zip(names, _KAFKA_PK_SCHEMAS))
        return self._kafka_keys

    def _primitive_key(self, key_schema: Schema | None, key: Any) -> tuple[Column, ...]:
        if len(self.pk_fields) != 1:
            raise DataException(
                "A record key that is a single value (not a struct) fills exactly one primary-key column; "
                f"pk.fields names {list(self.pk_fields)}"
            )
        cache_key: Any = id(key_schema) if key_schema is not None else type(key)
        if key_schema is None and isinstance(key, decimal.Decimal):  # the scale is part of the schema
            cache_key = (cache_key, key.as_tuple().exponent)
        cached = self._primitive_keys.get(cache_key)
        if cached is None or (key_schema is not None and cached[0] is not key_schema):
            schema = key_schema if key_schema is not None else infer_schema(key)
            if len(self._primitive_keys) >= _MAX_SHAPES:
                self._primitive_keys.clear()
            cached = self._primitive_keys[cache_key] = (
                key_schema, (Column(self.pk_fields[0], schema.copy(optional=False), key=True),))
        return cached[1]
