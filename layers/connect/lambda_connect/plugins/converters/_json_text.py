"""JSON text in and out, fast with orjson and lenient where Kafka's Jackson is.

orjson handles almost every message. Two cases need the standard library instead:
Jackson (as Kafka configures it) accepts numbers with leading zeros such as ``0012``,
and decimal payloads must keep every digit (``1.5600``), which a float cannot. Both are
rare, so they cost nothing until they happen.
"""

from __future__ import annotations

import decimal
import json
import re
from typing import Any

import orjson

__all__ = ["dump_default", "dumps", "loads", "loads_exact"]

# A string literal (kept as is) or a run of leading zeros before another digit outside one.
_LEADING_ZEROS = re.compile(r'("(?:[^"\\]|\\.)*")|(?<![\w.])(-?)0+(\d)')


def _strip_leading_zeros(text: str) -> str:
    return _LEADING_ZEROS.sub(lambda m: m.group(1) or (m.group(2) + m.group(3)), text)


def _stdlib_loads(data: bytes, exact: bool) -> Any:
    text = data.decode("utf-8")
    kwargs: dict[str, Any] = {"parse_float": decimal.Decimal} if exact else {}
    try:
        return json.loads(text, **kwargs)
    except ValueError:
        return json.loads(_strip_leading_zeros(text), **kwargs)


def loads(data: bytes) -> Any:
    """Parse a message; raises ``ValueError`` when even the lenient reading fails."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _stdlib_loads(data, exact=False)


def loads_exact(data: bytes) -> Any:
    """Parse keeping non-integral numbers as ``decimal.Decimal`` (for Decimal payloads)."""
    return _stdlib_loads(data, exact=True)


def dump_default(obj: Any) -> Any:
    """orjson ``default`` for converter trees: decimals (``decimal.format=NUMERIC``) as exact number text."""
    if isinstance(obj, decimal.Decimal):
        return orjson.Fragment(format(obj, "f").encode())
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


def dumps(tree: Any) -> bytes:
    """Serialise a JSON tree built by the converter. Integers beyond 64 bits (which orjson
    refuses) are written as exact number text, and trees deeper than orjson's limit of 255
    levels go through the standard library."""
    try:
        return orjson.dumps(tree, default=dump_default)
    except TypeError:
        pass
    try:
        return orjson.dumps(_big_ints_as_text(tree), default=dump_default)
    except TypeError:
        return _stdlib_dumps(tree)


_INT64 = (-(2**63), 2**63 - 1)


def _big_ints_as_text(tree: Any) -> Any:
    if isinstance(tree, int) and not isinstance(tree, bool) and not _INT64[0] <= tree <= _INT64[1]:
        return orjson.Fragment(str(tree).encode())
    if isinstance(tree, dict):
        return {k: _big_ints_as_text(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_big_ints_as_text(v) for v in tree]
    return tree


def _stdlib_dumps(tree: Any) -> bytes:
    """The deep-tree path: decimals are swapped for marker strings, then spliced back as number text."""
    numbers: list[str] = []

    def default(obj: Any) -> Any:
        if isinstance(obj, decimal.Decimal):
            numbers.append(format(obj, "f"))
            return f"\x00{len(numbers) - 1}\x00"
        raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")

    text = json.dumps(tree, separators=(",", ":"), ensure_ascii=False, default=default)
    for i, number in enumerate(numbers):
        text = text.replace(f'"\\u0000{i}\\u0000"', number, 1)
    return text.encode()
