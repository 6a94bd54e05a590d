"""Source records handed over column by column: the optional ``SourceTask.poll_columns`` hook.

Why: a source that reads rows in bulk (a JDBC result set, a batch of CDC changes) already holds
its data as columns of one schema. Building a ``Struct`` and a ``SourceRecord`` per row only for
the converter to take them apart again costs about a microsecond a record. A task that overrides
``poll_columns`` may instead return :class:`ColumnarRecords`: consecutive records of one topic,
one source partition and one value schema, whose values are given a field at a time
(:class:`StructColumn`). The runtime converts such a run with the converters' column writers and
produces it in one loop; wherever something needs record objects (transforms and predicates, a
converter without a column writer, a value a writer refuses, ``commit_record``) it calls
:meth:`ColumnarRecords.records`, which builds exactly the records the run stands for.

The contract for a task that overrides ``poll_columns``:

* ``poll_columns()`` returns what ``poll()`` would return at that point, as a list whose items are
  ``SourceRecord`` objects or ``ColumnarRecords`` runs (in the order the records would come),
  or None / ``[]`` for nothing. The runtime calls one of the two per poll, never both.
* ``ColumnarRecords(...).records()`` must equal the records ``poll()`` would have returned:
  same topic, partitions, offsets, keys, values, no headers.
* Values are Connect values, as in a record (a Timestamp column holds UTC ``datetime`` objects,
  a nested struct field a :class:`StructColumn` or ``Struct``/None values).

A CDC source can hand over Debezium envelopes this way: the envelope schema's ``before`` and
``after`` fields as ``StructColumn`` objects with a ``present`` mask (an insert has no
``before``), ``source`` as a ``StructColumn`` or a column of ``Struct`` values, ``op`` and
``ts_ms`` as plain columns; the record key as a ``StructColumn`` of the key schema. Tombstones
and records with headers are handed over as ``SourceRecord`` objects between runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .data import Schema, Struct, Type
from .errors import ConnectException
from .records import EMPTY_HEADERS, SourceRecord

__all__ = ["ColumnarRecords", "StructColumn"]

_new_record = SourceRecord.__new__
_from_values = Struct.from_values


class StructColumn:
    """Values of one STRUCT schema, a field at a time.

    ``columns[i]`` holds field ``i``'s values of the rows that hold a struct, in row order: a
    sequence of Connect values, or a nested ``StructColumn`` for a STRUCT field. ``present`` says
    which rows hold a struct (the others hold None); None means every row does. ``length`` is
    needed only for a schema without fields and no ``present`` mask.
    """

    __slots__ = ("columns", "length", "present", "schema")

    def __init__(self, schema: Schema, columns: Sequence[Any], present: Sequence[bool] | None = None,
                 length: int | None = None) -> None:
        if schema.type is not Type.STRUCT:
            raise ConnectException(f"StructColumn needs a STRUCT schema, not {schema.type.name}")
        if len(columns) != len(schema.fields):
            raise ConnectException(f"StructColumn of {schema.name or 'an unnamed struct'}: {len(columns)} column(s) "
                                   f"for {len(schema.fields)} field(s)")
        held = (len(columns[0]) if columns else length) if present is None else sum(map(bool, present))
        if held is None:
            raise ConnectException("StructColumn of a schema without fields needs its length")
        for field, column in zip(schema.fields, columns):
            if len(column) != held:
                raise ConnectException(f"StructColumn of {schema.name or 'an unnamed struct'}: field {field.name} "
                                       f"holds {len(column)} value(s), expected {held}")
        self.schema = schema
        self.columns = columns
        self.present = present
        self.length = len(present) if present is not None else held

    def __len__(self) -> int:
        return self.length

    def values(self) -> list[Struct | None]:
        """One ``Struct`` (or None where not present) per row: what the records hold."""
        schema = self.schema
        columns = [c.values() if type(c) is StructColumn else c for c in self.columns]
        if columns:
            structs: list[Struct | None] = [_from_values(schema, list(row)) for row in zip(*columns)]
        else:
            structs = [_from_values(schema, []) for _ in range(sum(map(bool, self.present))
                                                                if self.present is not None else self.length)]
        if self.present is None:
            return structs
        held = iter(structs)
        return [next(held) if p else None for p in self.present]


class ColumnarRecords:
    """Consecutive source records of one topic and source partition, by column (module docstring).

    ``values`` is a :class:`StructColumn` (of ``value_schema``, a STRUCT) or a sequence of values
    of ``value_schema``; ``keys`` likewise for ``key_schema``, or None for records without keys.
    ``source_offsets`` has one entry (a map or None) per record. ``kafka_partition`` applies to
    every record; ``timestamps`` is None or one entry (epoch ms or None) per record.
    """

    __slots__ = ("kafka_partition", "key_schema", "keys", "source_offsets", "source_partition", "timestamps",
                 "topic", "value_schema", "values")

    def __init__(self, topic: str, source_partition: Mapping[str, Any] | None,
                 source_offsets: Sequence[Mapping[str, Any] | None], value_schema: Schema | None, values: Any, *,
                 key_schema: Schema | None = None, keys: Any = None, kafka_partition: int | None = None,
                 timestamps: Sequence[int | None] | None = None) -> None:
        n = len(source_offsets)
        for label, column in (("values", values), ("keys", keys), ("timestamps", timestamps)):
            if column is not None and len(column) != n:
                raise ConnectException(f"ColumnarRecords for topic {topic}: {len(column)} {label} for {n} "
                                       "source offsets")
        for label, column, schema in (("values", values, value_schema), ("keys", keys, key_schema)):
            if type(column) is StructColumn and column.schema is not schema:
                raise ConnectException(f"ColumnarRecords for topic {topic}: the {label} column is not of the "
                                       f"{label[:-1]} schema")
        self.topic = topic
        self.source_partition = source_partition
        self.source_offsets = source_offsets
        self.value_schema = value_schema
        self.values = values
        self.key_schema = key_schema
        self.keys = keys
        self.kafka_partition = kafka_partition
        self.timestamps = timestamps

    def __len__(self) -> int:
        return len(self.source_offsets)

    def records(self) -> list[SourceRecord]:
        """The records this run stands for (what ``poll()`` returns for them). All of them share
        the partition map, as records of one poll usually do: records are values."""
        n = len(self.source_offsets)
        values = self.values.values() if type(self.values) is StructColumn else self.values
        keys = self.keys.values() if type(self.keys) is StructColumn else self.keys
        if keys is None:
            keys = [None] * n
        timestamps = self.timestamps if self.timestamps is not None else [None] * n
        topic, kafka_partition = self.topic, self.kafka_partition
        partition = dict(self.source_partition) if self.source_partition is not None else None
        key_schema, value_schema = self.key_schema, self.value_schema
        out: list[SourceRecord] = []
        append = out.append
        for offset, key, value, timestamp in zip(self.source_offsets, keys, values, timestamps):
            record = _new_record(SourceRecord)
            record.topic = topic
            record.kafka_partition = kafka_partition
            record.key_schema = key_schema
            record.key = key
            record.value_schema = value_schema
            record.value = value
            record.timestamp = timestamp
            record.headers = EMPTY_HEADERS
            record.source_partition = partition
            record.source_offset = offset if offset is None or type(offset) is dict else dict(offset)
            append(record)
        return out
