"""Type plans: per-struct shortcuts that skip the conversions which would change nothing.

A struct's fields usually hold the same Python types record after record (a JDBC row is
``int, str, int, float, datetime`` every time). For one such tuple of exact types it is known
in advance which fields the JSON converter would return untouched (a ``str`` for STRING, a
``float`` for FLOAT64, ``None`` for an optional field without a default ...) and which need
their converter. A *plan* lists only the latter, so a record costs one ``tuple(map(type, ...))``,
one dict lookup and the conversions that do real work. The shortcuts are exactly those whose
result is the very value the full converter would return, so output and errors are unchanged;
``tests/unit/plugins/converters/test_json_plans.py`` checks that against plan-free conversion.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import Any

from lambda_connect.api.data import UTC, Date, Decimal, Schema, Struct, Time, Timestamp, Type

__all__ = ["PLAN_LIMIT", "PlanCache", "Steps", "filled_struct", "read_step", "write_step"]

Convert = Callable[[Any], Any]
Steps = tuple[tuple[int, Convert], ...]

PLAN_LIMIT = 64
"""Distinct value-type tuples planned per struct schema; more (rare) go field by field."""

_LOGICAL = frozenset((Decimal.LOGICAL_NAME, Date.LOGICAL_NAME, Time.LOGICAL_NAME, Timestamp.LOGICAL_NAME))
_NONE = type(None)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_INT_BOUNDS = {
    Type.INT8: (-(2**7), 2**7 - 1),
    Type.INT16: (-(2**15), 2**15 - 1),
    Type.INT32: (-(2**31), 2**31 - 1),
    Type.INT64: (-(2**63), 2**63 - 1),
}
# Exact Python types a converter returns as they are, in both directions. Integers are not
# here: every int type needs its range check (orjson would happily write 2**64 - 1).
_UNCHANGED = {Type.STRING: str, Type.BOOLEAN: bool, Type.FLOAT32: float, Type.FLOAT64: float}


class PlanCache:
    """Steps per tuple of exact value types, built on first sight, at most ``limit`` of them.

    Callers look up ``plans.get(tuple(map(type, values)))`` inline (a method call per record
    is measurable) and call :meth:`build` on a miss."""

    __slots__ = ("_limit", "_step", "plans")

    def __init__(self, step: Callable[[int, type], Convert | None], limit: int) -> None:
        self._step = step
        self._limit = limit
        self.plans: dict[tuple[type, ...], Steps] = {}

    def build(self, values: Sequence[Any]) -> Steps | None:
        """The steps for these values, or None when the limit is reached (convert every field)."""
        key = tuple(map(type, values))
        steps = self.plans.get(key)
        if steps is None:
            if len(self.plans) >= self._limit:
                return None
            step = self._step
            steps = tuple((i, conv) for i, t in enumerate(key) if (conv := step(i, t)) is not None)
            self.plans[key] = steps
        return steps


def _null_unchanged(schema: Schema, replace_null_with_default: bool) -> bool:
    """A null stays null: the field is optional and no default replaces it."""
    return schema.optional and not (schema.default is not None and replace_null_with_default)


def _ranged(inner: Convert, lo: int, hi: int) -> Convert:
    """An exact ``int`` within range is its own JSON and its own Connect value; anything else
    goes to the full converter, which returns or raises exactly as it always did."""

    def check(v: int) -> Any:
        return v if lo <= v <= hi else inner(v)

    return check


def _timestamp_millis(inner: Convert) -> Convert:
    """Aware ``datetime`` → epoch milliseconds, ``Timestamp.from_logical`` without its checks and
    calls; naive values take the full converter."""

    def millis(v: _dt.datetime) -> Any:
        if v.tzinfo is None:
            return inner(v)
        d = v - _EPOCH
        return (d.days * 86_400 + d.seconds) * 1000 + d.microseconds // 1000

    return millis


def write_step(schema: Schema, t: type, inner: Convert, full: Convert, replace: bool) -> Convert | None:
    """How a field of ``schema`` holding an exact ``t`` becomes JSON: None when it stays as it is."""
    if t is _NONE:
        return None if _null_unchanged(schema, replace) else full
    if schema.name in _LOGICAL:
        return _timestamp_millis(inner) if schema.name == Timestamp.LOGICAL_NAME and t is _dt.datetime else inner
    return _common_step(schema, t, inner)


def read_step(schema: Schema, t: type, inner: Convert, full: Convert, replace: bool) -> Convert | None:
    """How a parsed JSON value of exact type ``t`` becomes a field of ``schema``: None when unchanged."""
    if t is _NONE:
        return None if _null_unchanged(schema, replace) else full
    if schema.name in _LOGICAL:
        return inner
    return _common_step(schema, t, inner)


def _common_step(schema: Schema, t: type, inner: Convert) -> Convert | None:
    if _UNCHANGED.get(schema.type) is t:
        return None
    bounds = _INT_BOUNDS.get(schema.type)
    if bounds is not None and t is int:
        return _ranged(inner, *bounds)
    return inner


def filled_struct(schema: Schema, values: list[Any]) -> Struct:
    """A Struct holding ``values`` already checked by the field converters (no ``put`` per field)."""
    struct = Struct.__new__(Struct)
    struct.schema = schema
    struct._values = values
    return struct
