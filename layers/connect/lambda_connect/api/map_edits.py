"""The common schemaless edits, each as a plan source AND as an instruction for the native engine.

Why both: a plan source (``lambda_connect.api.plans``) is Python code, and on CPython a chain
of edits costs mostly interpreter dispatch, not the dict operations themselves. The same
edits as data (``ops``) can run in ``lambda_connect.api._map_edit``, a small C engine with
one call per record for the whole chain. The Python code below is the specification; the C
engine mirrors it statement by statement, calls the same Python converters for every input
off its fast paths, and raises the same exceptions. ``tests/unit/api/test_map_edits.py``
runs both on random maps and requires equal maps (key order included) and equal errors.

An SMT builds its ``schemaless_source()`` from these builders and ``join``s them; one that
needs an edit not listed here writes a ``PlanSource`` by hand (no ops), which still fuses
and batches, only without the native engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import IntEnum, IntFlag
from typing import Any

from .plans import PlanSource, join

__all__ = [
    "Fast",
    "Op",
    "convert_field",
    "drop_fields",
    "insert_constant",
    "insert_offset",
    "insert_partition",
    "insert_timestamp",
    "insert_topic",
    "join",
    "keep_fields",
    "rename_fields",
]


class Op(IntEnum):
    """Instruction codes of the native engine (the C enum has the same values)."""

    PUT_TOPIC = 1
    PUT_PARTITION = 2
    PUT_OFFSET = 3
    PUT_TIMESTAMP = 4
    PUT_CONST = 5
    DROP = 6
    KEEP = 7
    RENAME = 8
    CONVERT = 9


class Fast(IntFlag):
    """Fast paths of ``convert_field`` (bit flags, as in the C engine)."""

    INT_RANGE = 1  # an int within [low, high] stays as it is
    DIGITS = 2  # 1 to 18 ASCII digits read as an int (above high: the parse function decides)
    FLOAT = 4  # a float stays as it is
    DECIMAL_TEXT = 8  # ASCII text without '_' read by float() when finite (else the parse function)
    STR = 16  # a str stays as it is


def insert_topic(field: str) -> PlanSource:
    """``value[field] = topic``."""
    return PlanSource("value[FIELD] = topic", {"FIELD": field}, ops=((Op.PUT_TOPIC, field),))


def insert_partition(field: str) -> PlanSource:
    """The partition, when the record has one."""
    return PlanSource("if partition is not None:\n    value[FIELD] = partition", {"FIELD": field},
                      ops=((Op.PUT_PARTITION, field),))


def insert_offset(field: str, missing: type[Exception]) -> PlanSource:
    """The Kafka offset; a record without one (a source record) raises ``missing``."""
    return PlanSource("if offset is None:\n    raise MISSING\nvalue[FIELD] = offset",
                      {"FIELD": field, "MISSING": missing}, ops=((Op.PUT_OFFSET, field, missing),))


def insert_timestamp(field: str) -> PlanSource:
    """The record timestamp, when the record has one."""
    return PlanSource("if timestamp is not None:\n    value[FIELD] = timestamp", {"FIELD": field},
                      ops=((Op.PUT_TIMESTAMP, field),))


def insert_constant(field: str, constant: Any) -> PlanSource:
    """``value[field] = constant`` (the same object for every record: pass immutable values)."""
    return PlanSource("value[FIELD] = CONSTANT", {"FIELD": field, "CONSTANT": constant},
                      ops=((Op.PUT_CONST, field, constant),))


def drop_fields(names: Iterable[str]) -> PlanSource:
    """Remove each of ``names`` that is present (sorted, so the code does not depend on set order)."""
    ordered = sorted(names)
    code = "\n".join(f"if NAME_{i} in value:\n    del value[NAME_{i}]" for i in range(len(ordered)))
    return PlanSource(code, {f"NAME_{i}": name for i, name in enumerate(ordered)},
                      ops=tuple((Op.DROP, name) for name in ordered))


def keep_fields(names: Iterable[str]) -> PlanSource:
    """Remove every field whose name is not in ``names``; the kept ones keep their order."""
    keep = frozenset(names)
    return PlanSource("for name in [name for name in value if name not in KEEP]:\n    del value[name]",
                      {"KEEP": keep}, ops=((Op.KEEP, None, keep),))


def rename_fields(pairs: Sequence[tuple[str, str]]) -> PlanSource:
    """Rename ``old`` to ``new`` for each present ``old``, all at once: every old field is
    taken out first, then each new name is stored in ``pairs`` order (so ``a:b,b:c`` moves
    both, and a new name replaces a field that already had it)."""
    renames = tuple((old, new) for old, new in pairs)
    if not renames:
        return PlanSource("")
    ops = ((Op.RENAME, None, renames),)
    if len(renames) == 1:  # the common case, without the comprehension's call
        return PlanSource("if OLD in value:\n    value[NEW] = value.pop(OLD)",
                          {"OLD": renames[0][0], "NEW": renames[0][1]}, ops=ops)
    code = ("moved = [(new, value.pop(old)) for old, new in RENAMES if old in value]\n"
            "for new, field_value in moved:\n    value[new] = field_value")
    return PlanSource(code, {"RENAMES": renames}, ops=ops)


def convert_field(
    field: str,
    table: dict[type, Callable[[Any], Any]],
    unsupported: Callable[[Any], BaseException],
    *,
    fast: Fast | None = None,
    low: int | None = None,
    high: int | None = None,
    parse: Callable[[str], Any] | None = None,
    overflow: Callable[[Any], BaseException] | None = None,
) -> PlanSource:
    """Replace ``value[field]`` by ``table[type(x)](x)``.

    A missing field becomes null (both Cast and TimestampConverter do this in Kafka), null
    stays null, a type not in ``table`` raises ``unsupported(x)``, and with ``overflow`` an
    OverflowError of the converter raises ``overflow(x)``. The ``fast`` flags name inputs
    handled without a table call; they must give what the table gives. ``INT_RANGE`` and
    ``DIGITS`` need ``low``/``high``; ``DIGITS`` and ``DECIMAL_TEXT`` need ``parse``, the
    table's own text converter, which they call for text outside their range."""
    fast = fast or Fast(0)
    if fast & (Fast.INT_RANGE | Fast.DIGITS) and (low is None or high is None):
        raise ValueError("INT_RANGE and DIGITS need low and high")
    if fast & (Fast.DIGITS | Fast.DECIMAL_TEXT) and parse is None:
        raise ValueError("DIGITS and DECIMAL_TEXT need parse")
    branches = []
    if fast & Fast.INT_RANGE:
        branches.append("t is int and LOW <= x <= HIGH:\n        pass")
    if fast & Fast.DIGITS:
        branches.append("t is str and len(x) < 19 and x.isascii() and x.isdigit():\n"
                        "        n = int(x)\n        value[FIELD] = n if n <= HIGH else PARSE(x)")
    if fast & Fast.FLOAT:
        branches.append("t is float:\n        pass")
    if fast & Fast.DECIMAL_TEXT:
        branches.append("t is str and x.isascii() and '_' not in x:\n"
                        "        try:\n            n = float(x)\n        except ValueError:\n            n = INF\n"
                        "        value[FIELD] = n if n - n == 0.0 else PARSE(x)")
    if fast & Fast.STR:
        branches.append("t is str:\n        pass")
    if overflow is None:
        slow = "value[FIELD] = convert(x)"
    else:
        slow = ("try:\n            value[FIELD] = convert(x)\n        except OverflowError:\n"
                "            raise OVERFLOW(x) from None")
    lines = ["x = value.get(FIELD)", "if x is None:", "    value[FIELD] = None", "else:", "    t = type(x)"]
    lines.extend(f"    {'if' if i == 0 else 'elif'} {branch}" for i, branch in enumerate(branches))
    lines.append("    else:" if branches else "    if True:")
    lines.extend(["        convert = TABLE.get(t)", "        if convert is None:", "            raise UNSUPPORTED(x)",
                  f"        {slow}"])
    constants = {"FIELD": field, "TABLE": table, "UNSUPPORTED": unsupported, "LOW": low, "HIGH": high,
                 "PARSE": parse, "OVERFLOW": overflow, "INF": float("inf")}
    op = (Op.CONVERT, field, table, parse, unsupported, overflow, int(fast), low, high)
    return PlanSource("\n".join(lines), constants, ops=(op,))
