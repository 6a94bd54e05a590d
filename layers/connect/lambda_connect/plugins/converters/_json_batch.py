"""Connect structs to JSON trees a column at a time, for the source runtime's batch path.

Why: a source poll hands over thousands of records whose values are Structs of one schema
object (a JDBC table, a CDC envelope). Converting them one by one runs the converter's Python
per record — a type-plan lookup, a call per field that needs converting, a dict. Here the
batch is turned into columns (``zip(*rows)``, one C call) and each column is checked or
converted as a whole: an integer column by its ``min``/``max``, an aware timestamp column by
C-level ``map``s of datetime arithmetic, a column that needs nothing (text, floats, allowed
nulls) not at all, a nested struct column (Debezium's ``before``/``after``/``source``)
recursively. Only then are the rows zipped back into dicts, so a record costs about what a
hand-written ``dict(zip(names, row))`` costs.

Exactness: every column ends up holding what the per-record converter (``Codec.to_json``,
with its type plans) returns for each of its values — a shortcut is taken only where the
plans' own rules (``_json_plans.write_step``) say the value stays as it is, or computes the
same number; anything else maps the very per-field converter over the column. A column that
raises makes the whole batch raise, and the caller (the runtime) then converts record by
record, which reports the failing record as always. ``tests/unit/plugins/converters/
test_json_batch.py`` compares the two on random structs.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import attrgetter, floordiv, is_, sub
from typing import TYPE_CHECKING, Any

from lambda_connect.api.columns import StructColumn
from lambda_connect.api.data import UTC, Schema, Struct, Timestamp, Type

from ._json_plans import _LOGICAL, write_step

if TYPE_CHECKING:
    from ._json_codec import Codec

__all__ = ["StructColumns", "all_structs_of"]

Convert = Callable[[Any], Any]

_NONE = type(None)
_VALUES = attrgetter("_values")
_SCHEMA = attrgetter("schema")
_TZINFO = attrgetter("tzinfo")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = _dt.timedelta(milliseconds=1)
_INT_BOUNDS = {
    Type.INT8: (-(2**7), 2**7 - 1),
    Type.INT16: (-(2**15), 2**15 - 1),
    Type.INT32: (-(2**31), 2**31 - 1),
    Type.INT64: (-(2**63), 2**63 - 1),
}


def all_structs_of(schema: Schema, values: Sequence[Any]) -> bool:
    """Every value is exactly a ``Struct`` whose schema *is* ``schema`` (C-level checks only)."""
    return all(map(is_, map(type, values), repeat(Struct))) and all(map(is_, map(_SCHEMA, values), repeat(schema)))


class _Field:
    """One field's column rules: its schema, the per-value converters and a nested struct's columns."""

    __slots__ = ("bounds", "full", "inner", "nested", "replace", "schema", "timestamp")

    def __init__(self, codec: Codec, schema: Schema) -> None:
        self.schema = schema
        self.inner: Convert = codec._to_json_non_null(schema)
        self.full: Convert = codec._json_null(schema, self.inner)
        self.replace = codec.replace_null_with_default
        self.bounds = None if schema.name in _LOGICAL else _INT_BOUNDS.get(schema.type)
        self.timestamp = schema.name == Timestamp.LOGICAL_NAME
        self.nested = StructColumns(codec, schema) if schema.type is Type.STRUCT else None

    def column(self, col: Sequence[Any]) -> list[Any] | None:
        """The converted column, or None when every value stays as it is."""
        if type(col) is StructColumn:
            return self._struct_column(col)
        types = set(map(type, col))
        if len(types) == 1:
            return self._uniform(types.pop(), col)
        if len(types) == 2 and _NONE in types and write_step(self.schema, _NONE, self.inner, self.full,
                                                              self.replace) is None:
            # Nulls that stay null next to values of one type (a CDC "before", a nullable column):
            # convert the others as a column of their own and put them back in place.
            types.discard(_NONE)
            present = [v for v in col if v is not None]
            converted = self._uniform(types.pop(), present)
            if converted is None:
                return None
            values = iter(converted)
            return [None if v is None else next(values) for v in col]
        return list(map(self.full, col))

    def _struct_column(self, col: StructColumn) -> list[Any]:
        """A nested struct handed over by column (``api.columns``): its trees, and where a row
        holds no struct what the per-record converter writes for a null (raises if refused)."""
        if self.nested is None or col.schema is not self.schema:
            raise ValueError("a struct column of another schema")
        held = None if col.columns else (col.length if col.present is None else sum(map(bool, col.present)))
        trees = self.nested.trees_from_columns(col.columns, held)
        if col.present is None:
            return trees
        null = self.full(None)
        held = iter(trees)
        return [next(held) if p else null for p in col.present]

    def _uniform(self, t: type, col: Sequence[Any]) -> list[Any] | None:
        step = write_step(self.schema, t, self.inner, self.full, self.replace)
        if step is None:
            return None
        if t is int and self.bounds is not None:
            lo, hi = self.bounds
            if lo <= min(col) and max(col) <= hi:
                return None
        elif t is _dt.datetime and self.timestamp:
            if None not in set(map(_TZINFO, col)):  # aware: epoch milliseconds, floor, as the plan's step
                return list(map(floordiv, map(sub, col, repeat(_EPOCH)), repeat(_ONE_MS)))
        elif t is Struct and self.nested is not None and all(map(is_, map(_SCHEMA, col), repeat(self.schema))):
            return self.nested.trees(col)
        return list(map(step, col))


class StructColumns:
    """JSON trees (dicts) for batches of Structs of one schema object (module docstring)."""

    __slots__ = ("fields", "names", "schema")

    def __init__(self, codec: Codec, schema: Schema) -> None:
        self.schema = schema
        self.names = tuple(str(f.name) for f in schema.fields)
        self.fields = [_Field(codec, f.schema) for f in schema.fields]

    def trees(self, structs: Sequence[Struct]) -> list[dict[str, Any]]:
        """One dict per struct, equal (key order included) to the per-record converter's; the
        caller has checked ``all_structs_of``. Raises what a field converter raises."""
        rows: Sequence[Any] = list(map(_VALUES, structs))
        if not rows:
            return []
        width = len(self.names)
        if any(map(int.__ne__, map(len, rows), repeat(width))):
            raise ValueError("a struct holds fewer or more values than its schema has fields")
        changed = False
        if width:
            cols: list[Any] = list(zip(*rows))
            for i, field in enumerate(self.fields):
                converted = field.column(cols[i])
                if converted is not None:
                    cols[i] = converted
                    changed = True
            if changed:
                rows = list(zip(*cols))
        return list(map(dict, map(zip, repeat(self.names), rows)))

    def trees_from_columns(self, columns: Sequence[Any], length: int | None = None) -> list[dict[str, Any]]:
        """The same trees from the structs' field columns (``StructColumn.columns``: one sequence
        or nested ``StructColumn`` per field), without the structs; ``length`` is the row count
        when it cannot be read from a column. Raises what a field converter raises."""
        width = len(self.names)
        if len(columns) != width:
            raise ValueError("fewer or more columns than the schema has fields")
        if not width:
            return [{} for _ in range(length or 0)]
        cols = list(columns)
        n = len(cols[0])
        if any(map(int.__ne__, map(len, cols), repeat(n))):
            raise ValueError("columns of different lengths")
        for i, field in enumerate(self.fields):
            converted = field.column(cols[i])
            if converted is not None:
                cols[i] = converted
        return list(map(dict, map(zip, repeat(self.names), zip(*cols))))
