"""Catalogs and tables: loading, creating, evolving, and committing without pyiceberg's retries.

Catalogs are cached per property set for the life of the container (a warm Lambda keeps its
SQL connection pool or REST session). pyiceberg ≥ 0.12 retries a conflicting commit on its
own by replaying the same snapshot onto the new parent; the sink must not let it, because the
replay would carry offsets computed against the old parent (see ``offsets``). ``no_retry``
gives a view of the table whose commit gives up at the first conflict, and the sink retries
itself after re-reading the marks.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lambda_connect.api import ConfigException, ConnectException, DataException

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table

__all__ = ["load_catalog", "load_table", "no_retry", "partition_spec"]

_MISSING = "The Iceberg sink needs pyiceberg and pyarrow: pip install 'lambda-connect[iceberg]'"
_catalogs: dict[tuple[str, tuple[tuple[str, str], ...]], Catalog] = {}
_lock = threading.Lock()


def load_catalog(name: str, properties: Mapping[str, str]) -> Catalog:
    key = (name, tuple(sorted(properties.items())))
    with _lock:
        found = _catalogs.get(key)
        if found is None:
            try:
                from pyiceberg.catalog import load_catalog as _load
            except ImportError as e:  # pragma: no cover - depends on installed extras
                raise ConfigException(_MISSING) from e
            try:
                found = _load(name, **properties)
            except (ValueError, NotImplementedError) as e:
                raise ConfigException(f"Cannot open Iceberg catalog '{name}': {e}") from e
            _catalogs[key] = found
        return found


def load_table(catalog: Catalog, identifier: str) -> Table | None:
    """The table, or None when it does not exist."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        return catalog.load_table(identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        return None


def create_table(catalog: Catalog, identifier: str, schema: Schema, spec: PartitionSpec,
                 properties: Mapping[str, str]) -> Table:
    """Create the table (and its namespace); a concurrent creator winning is fine."""
    from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError

    namespace = identifier.rpartition(".")[0]
    if not namespace:
        raise ConfigException(f"Table '{identifier}' needs a namespace: write it as namespace.table")
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace_if_not_exists(namespace)
    try:
        return catalog.create_table(identifier, schema, partition_spec=spec, properties=dict(properties))
    except TableAlreadyExistsError:
        return catalog.load_table(identifier)


def no_retry(table: Table) -> Table:
    """A view of ``table`` whose transactions do not retry conflicting commits themselves."""
    from pyiceberg.table import Table as _Table

    props = {**table.metadata.properties, "commit.retry.num-retries": "0"}
    metadata = table.metadata.model_copy(update={"properties": props})
    return _Table(table._identifier, metadata, table.metadata_location, table.io, table.catalog)


_TRANSFORMS = ("year", "month", "day", "hour", "bucket", "truncate", "identity", "years", "months", "days",
               "hours", "void")


def partition_spec(terms: Sequence[str], schema: Schema, table: str) -> PartitionSpec:
    """``iceberg.tables.default-partition-by`` / ``iceberg.table.<t>.partition-by`` as a spec."""
    from pyiceberg import transforms as tr
    from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec

    if not terms:
        return UNPARTITIONED_PARTITION_SPEC
    fields = []
    for n, term in enumerate(terms):
        text = term.strip()
        name, _, args_text = text.partition("(")
        name = name.strip().lower()
        args = [a.strip() for a in args_text.rstrip(")").split(",")] if args_text else []
        if not args:
            column, transform, suffix = text, tr.IdentityTransform(), ""
        elif name in _TRANSFORMS:
            column = args[0]
            if name in ("bucket", "truncate"):
                if len(args) != 2 or not args[1].isdigit():
                    raise ConfigException(f"Partition term '{text}' of table {table}: write {name}(column, n)")
                width = int(args[1])
                transform: Any = tr.BucketTransform(width) if name == "bucket" else tr.TruncateTransform(width)
                suffix = f"_{name}"
            else:
                transform = {"year": tr.YearTransform, "years": tr.YearTransform, "month": tr.MonthTransform,
                             "months": tr.MonthTransform, "day": tr.DayTransform, "days": tr.DayTransform,
                             "hour": tr.HourTransform, "hours": tr.HourTransform,
                             "identity": tr.IdentityTransform, "void": tr.VoidTransform}[name]()
                suffix = "" if name == "identity" else f"_{name.rstrip('s')}"
        else:
            raise ConfigException(f"Partition term '{text}' of table {table}: unknown transform '{name}'")
        try:
            source = schema.find_field(column)
        except ValueError:
            raise DataException(f"Partition column '{column}' of table {table} is not a field of the records") from None
        fields.append(PartitionField(source_id=source.field_id, field_id=1000 + n, transform=transform,
                                     name=f"{column}{suffix}"))
    return PartitionSpec(*fields)


def as_connect_error(error: Exception, table: str) -> ConnectException:
    return ConnectException(f"Iceberg table {table}: {type(error).__name__}: {error}")
