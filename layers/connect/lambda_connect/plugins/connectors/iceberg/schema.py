"""Record values → Iceberg schemas and Arrow tables.

Types come from the Connect schema when a record has one, else they are inferred from the
value (JSON maps with ``schemas.enable=false``):

    INT8/16/32 → int    INT64 → long    FLOAT32 → float    FLOAT64 → double   BOOLEAN → boolean
    STRING → string     BYTES → binary  Decimal → decimal(p, s)   Date → date   Time → time
    Timestamp → timestamptz    ARRAY → list    MAP → map    STRUCT → struct
    schemaless: bool → boolean, int → long, float → double, str → string, bytes → binary,
    dict → struct, list → list of its first non-null element's type

Hot path: a batch is usually thousands of records of a handful of shapes. The shape of a value
(its Connect schema, or for a map its keys and the Python types of its values) is worked out
once and cached, with the verdict "fits the table" / "needs evolution" / "cannot be written";
the rows themselves become Arrow columns in one C++ conversion per table.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from lambda_connect.api import DataException, Schema, Struct, Type
from lambda_connect.api.data import Date, Decimal, Time, Timestamp

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.schema import Schema as IcebergSchema
    from pyiceberg.types import IcebergType, NestedField, StructType

__all__ = ["FITS", "EVOLVE", "RowShapes", "connect_struct", "infer_struct", "rows_to_arrow", "to_iceberg_schema"]

FITS = "fits"
EVOLVE = "evolve"


def _ids() -> Iterator[int]:
    return itertools.count(1)


def connect_type(schema: Schema, ids: Iterator[int], force_optional: bool = False) -> IcebergType:
    """The Iceberg type of a Connect schema (field ids from ``ids``; tables renumber them)."""
    from pyiceberg import types as t

    name = schema.name
    if name == Decimal.LOGICAL_NAME:
        params = schema.parameters or {}
        precision = int(params.get("connect.decimal.precision") or 38)
        return t.DecimalType(min(max(precision, 1), 38), Decimal.scale_of(schema))
    if name == Date.LOGICAL_NAME:
        return t.DateType()
    if name == Time.LOGICAL_NAME:
        return t.TimeType()
    if name == Timestamp.LOGICAL_NAME:
        return t.TimestamptzType()
    kind = schema.type
    if kind in (Type.INT8, Type.INT16, Type.INT32):
        return t.IntegerType()
    simple = {Type.INT64: t.LongType, Type.FLOAT32: t.FloatType, Type.FLOAT64: t.DoubleType,
              Type.BOOLEAN: t.BooleanType, Type.STRING: t.StringType, Type.BYTES: t.BinaryType}
    if kind in simple:
        return simple[kind]()
    if kind is Type.ARRAY:
        element = connect_type(schema.value_schema, ids, force_optional)
        return t.ListType(next(ids), element, element_required=not (force_optional or schema.value_schema.optional))
    if kind is Type.MAP:
        key = connect_type(schema.key_schema, ids, force_optional)
        value = connect_type(schema.value_schema, ids, force_optional)
        return t.MapType(next(ids), key, next(ids), value,
                         value_required=not (force_optional or schema.value_schema.optional))
    return connect_struct(schema, ids, force_optional)


def connect_struct(schema: Schema, ids: Iterator[int] | None = None, force_optional: bool = False) -> StructType:
    from pyiceberg.types import NestedField, StructType

    ids = ids or _ids()
    fields = []
    for f in schema.fields:
        field_id = next(ids)
        fields.append(NestedField(field_id, f.name, connect_type(f.schema, ids, force_optional),
                                  required=not (force_optional or f.schema.optional)))
    return StructType(*fields)


def infer_type(value: Any, ids: Iterator[int]) -> IcebergType | None:
    """The Iceberg type of a schemaless value; None when it cannot be known (null, empty list)."""
    from pyiceberg import types as t

    if isinstance(value, bool):
        return t.BooleanType()
    if isinstance(value, int):
        return t.LongType()
    if isinstance(value, float):
        return t.DoubleType()
    if isinstance(value, str):
        return t.StringType()
    if isinstance(value, bytes | bytearray):
        return t.BinaryType()
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        return t.DecimalType(38, max(-exponent, 0) if isinstance(exponent, int) else 0)
    if isinstance(value, dt.datetime):
        return t.TimestamptzType() if value.tzinfo is not None else t.TimestampType()
    if isinstance(value, dt.date):
        return t.DateType()
    if isinstance(value, dt.time):
        return t.TimeType()
    if isinstance(value, Struct):
        return connect_struct(value.schema, ids)
    if isinstance(value, dict):
        return infer_struct(value, ids)
    if isinstance(value, list | tuple):
        for item in value:
            element = infer_type(item, ids)
            if element is not None:
                return t.ListType(next(ids), element, element_required=False)
        return None
    return None


def infer_struct(value: dict[str, Any], ids: Iterator[int] | None = None) -> StructType:
    from pyiceberg.types import NestedField, StructType

    ids = ids or _ids()
    fields = []
    for name, item in value.items():
        field_id = next(ids)
        kind = infer_type(item, ids)
        if kind is not None:
            fields.append(NestedField(field_id, str(name), kind, required=False))
    return StructType(*fields)


def to_iceberg_schema(struct: StructType, id_columns: Sequence[str] = ()) -> IcebergSchema:
    """A table schema for ``struct``; id columns become required identifier fields."""
    from pyiceberg.schema import Schema as IcebergSchema

    fields = []
    ids = []
    for f in struct.fields:
        if f.name in id_columns:
            f = f.model_copy(update={"required": True})
            ids.append(f.field_id)
        fields.append(f)
    missing = [c for c in id_columns if c not in {f.name for f in fields}]
    if missing:
        raise DataException(f"Id column(s) {', '.join(missing)} are not fields of the records")
    return IcebergSchema(*fields, identifier_field_ids=ids)


# --- fitting a record's type to a table's ------------------------------------------------------

def _fits(record: IcebergType, table: IcebergType, path: str) -> str:
    """FITS, EVOLVE (a field to add or a type to widen) or raise DataException."""
    from pyiceberg import types as t

    if record == table:
        return FITS
    if isinstance(record, t.StructType) and isinstance(table, t.StructType):
        verdict = FITS
        for f in record.fields:
            try:
                other = table.field_by_name(f.name)
            except ValueError:
                other = None
            if other is None or _fits(f.field_type, other.field_type, f"{path}{f.name}.") == EVOLVE:
                verdict = EVOLVE
        return verdict
    if isinstance(record, t.ListType) and isinstance(table, t.ListType):
        return _fits(record.element_type, table.element_type, path)
    if isinstance(record, t.MapType) and isinstance(table, t.MapType):
        key = _fits(record.key_type, table.key_type, path)
        value = _fits(record.value_type, table.value_type, path)
        return EVOLVE if EVOLVE in (key, value) else FITS
    # Values of a narrower type are written as they are; a wider one needs the column widened.
    if isinstance(record, t.IntegerType) and isinstance(table, t.LongType):
        return FITS
    if isinstance(record, t.FloatType) and isinstance(table, t.DoubleType):
        return FITS
    if isinstance(record, t.LongType) and isinstance(table, t.IntegerType):
        return EVOLVE
    if isinstance(record, t.DoubleType) and isinstance(table, t.FloatType):
        return EVOLVE
    if isinstance(record, t.LongType | t.IntegerType) and isinstance(table, t.FloatType | t.DoubleType):
        return FITS  # JSON numbers: 3 in a double column is 3.0
    if isinstance(record, t.DecimalType) and isinstance(table, t.DecimalType) and record.scale == table.scale:
        return FITS if record.precision <= table.precision else EVOLVE
    if isinstance(record, t.TimestampType) and isinstance(table, t.TimestamptzType | t.TimestampType):
        return FITS
    if isinstance(record, t.TimestamptzType) and isinstance(table, t.TimestampType):
        return FITS
    raise DataException(f"field '{path.rstrip('.') or '<value>'}' is {record} but the table column is {table}")


class RowShapes:
    """For one table: shape of a record value → its struct type, and per schema version the
    verdict (fits / needs evolution / cannot be written)."""

    def __init__(self) -> None:
        self._types: dict[Any, StructType] = {}
        self._cached: set[int] = set()
        self._verdicts: dict[tuple[int, int], str | DataException] = {}
        self._fast: dict[int, dict[tuple[tuple[str, ...], tuple[type, ...]], bool]] = {}
        #: The table the verdicts are about (schema ids are only unique within one table).
        self.table_uuid: Any = None

    def struct_of(self, value: Any) -> StructType:
        if isinstance(value, Struct):
            key: Any = value.schema
        else:
            types = tuple(map(type, value.values()))
            if dict in types or list in types:
                return infer_struct(value)  # nested shapes are not captured by the key
            key = (tuple(value), types)
        found = self._types.get(key)
        if found is None:
            found = connect_struct(value.schema) if isinstance(value, Struct) else infer_struct(value)
            self._types[key] = found
            self._cached.add(id(found))
        return found

    def verdict(self, struct: StructType, table_schema: IcebergSchema) -> str:
        """FITS or EVOLVE; raises the DataException of a value the table cannot hold."""
        key = (id(struct), table_schema.schema_id)
        found = self._verdicts.get(key)
        if found is None:
            try:
                found = _fits(struct, table_schema.as_struct(), "")
            except DataException as e:
                found = e
            if id(struct) in self._cached:  # only cached types keep their id
                self._verdicts[key] = found
        if isinstance(found, DataException):
            raise found
        return found

    def fast(self, schema_id: int) -> dict[tuple[tuple[str, ...], tuple[type, ...]], bool]:
        """Map shapes (keys, value types) known to fit schema ``schema_id`` → True."""
        found = self._fast.get(schema_id)
        if found is None:
            found = self._fast[schema_id] = {}
        return found

    def remember_fit(self, schema_id: int, value: dict[str, Any]) -> None:
        """Note that maps shaped like ``value`` (flat: no nested maps or lists) fit the schema."""
        types = tuple(map(type, value.values()))
        if dict not in types and list not in types:
            self.fast(schema_id)[(tuple(value), types)] = True

    def reset_verdicts(self) -> None:
        """Forget verdicts (the table was replaced, so schema ids may mean something else)."""
        self._verdicts.clear()
        self._fast.clear()


class FlatCheck:
    """The fast test that a JSON map fits a table of primitive columns, without its shape.

    Arrow's conversion already refuses most values that do not fit (text in a number column,
    a number in a text column, an int too large for ``int``). It accepts silently only a float
    in an integer column (truncated) and a number in a date/time column (read in the column's
    unit), so those are the only per-record checks; plus, when evolution is on, that the map has
    no key the table lacks. Tables with nested columns, or ``int`` columns that schemaless
    longs would widen under evolution, get no FlatCheck (``of`` returns None).
    """

    __slots__ = ("integers", "names", "temporal")

    def __init__(self, names: frozenset[str] | None, integers: tuple[str, ...], temporal: tuple[str, ...]) -> None:
        self.names = names
        self.integers = integers
        self.temporal = temporal

    @classmethod
    def of(cls, schema: IcebergSchema, evolve: bool) -> FlatCheck | None:
        from pyiceberg import types as t

        integers, temporal = [], []
        for f in schema.fields:
            kind = f.field_type
            if not isinstance(kind, t.PrimitiveType) or (evolve and isinstance(kind, t.IntegerType | t.FloatType)):
                return None
            if isinstance(kind, t.IntegerType | t.LongType):
                integers.append(f.name)
            elif isinstance(kind, t.DateType | t.TimeType | t.TimestampType | t.TimestamptzType):
                temporal.append(f.name)
        names = frozenset(f.name for f in schema.fields) if evolve else None
        return cls(names, tuple(integers), tuple(temporal))

    def fits(self, value: Any) -> bool:
        """True when ``value`` is a map Arrow will convert exactly (see the class docstring)."""
        if type(value) is not dict:
            return False
        if self.names is not None and not value.keys() <= self.names:
            return False
        get = value.get
        for name in self.integers:
            if type(get(name)) is float:
                return False
        return not self.temporal or all(get(name) is None for name in self.temporal)

    def compiled(self) -> Callable[[Any], bool]:
        """``fits`` as one expression with the column names built in: about three times faster
        per record, which matters since it runs once per record (the names are ``repr`` literals)."""
        terms = ["type(v) is dict"]
        if self.names is not None:
            terms.append("v.keys() <= names")
        terms += [f"type(v.get({name!r})) is not float" for name in self.integers]
        terms += [f"v.get({name!r}) is None" for name in self.temporal]
        return eval("lambda v: " + " and ".join(terms), {"names": self.names, "float": float, "dict": dict,
                                                          "type": type})


def plain(value: Any) -> dict[str, Any]:
    """The record value as a map of plain Python values (structs as maps)."""
    if isinstance(value, Struct):
        return value.to_dict()
    return value


def rows_to_arrow(rows: list[dict[str, Any]], schema: IcebergSchema) -> pa.Table:
    """One Arrow table for the rows, in the table's schema (field ids attached).

    Raises ``pyarrow.ArrowException`` (or TypeError/ValueError) when some value does not fit;
    the caller then isolates the offending records one by one.
    """
    import pyarrow as pa
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    arrow_schema = schema_to_pyarrow(schema)
    struct = pa.array(rows, type=pa.struct(list(arrow_schema)))
    columns = struct.flatten()
    for i, f in enumerate(arrow_schema):
        if not f.nullable and columns[i].null_count:
            raise ValueError(f"required column '{f.name}' is null")
    return pa.Table.from_arrays(columns, schema=arrow_schema)


def field_names(schema: IcebergSchema) -> list[NestedField]:
    return list(schema.fields)
