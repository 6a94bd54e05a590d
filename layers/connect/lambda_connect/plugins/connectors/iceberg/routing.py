"""Which tables a record goes to (Iceberg's static and dynamic routing).

* static, no route field: every record goes to every table of ``iceberg.tables``;
* static with ``iceberg.tables.route-field``: a record goes to each listed table whose
  ``iceberg.table.<table>.route-regex`` matches the field's value as a whole; a record that
  matches none goes nowhere (routing doubles as a filter, as in Iceberg's connector);
* dynamic: the field's value, lower-cased, is the table name.

A record whose route field is missing or null cannot be routed dynamically: that is reported
as a bad record (DLQ or failure), never dropped silently.
"""

from __future__ import annotations

import re
from typing import Any

from lambda_connect.api import DataException, SinkRecord, Struct

from .config import IcebergSinkConfig

__all__ = ["Router", "field_value"]


def field_value(value: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a struct or map, or None when absent."""
    current = value
    for part in path.split("."):
        if isinstance(current, Struct):
            current = current.get(part) if current.schema.field(part) is not None else None
        elif isinstance(current, dict):
            current = current.get(part)
        else:
            return None
        if current is None:
            return None
    return current


class Router:
    def __init__(self, config: IcebergSinkConfig) -> None:
        self.dynamic = config.dynamic
        self.field = config.route_field
        self.tables = config.tables
        #: No route field: every record goes to every listed table.
        self.everything = not self.dynamic and self.field is None
        self.patterns = [(t, re.compile(config.options(t).route_regex or "")) for t in config.tables
                         if config.options(t).route_regex]

    def route(self, record: SinkRecord) -> tuple[str, ...]:
        """The tables of ``record``; raises DataException when it cannot be routed."""
        if not self.dynamic and self.field is None:
            return self.tables
        value = record.value
        found = field_value(value, self.field) if self.field else None
        if self.dynamic:
            if found is None:
                if value is None:
                    raise DataException("a tombstone has no route field value, so no table can be chosen for it")
                raise DataException(f"route field '{self.field}' is missing or null")
            return (str(found).lower(),)
        if found is None:
            return ()
        text = str(found)
        return tuple(t for t, pattern in self.patterns if pattern.fullmatch(text))
