"""Java primitive semantics that Cast and MaskField must reproduce bit for bit.

Kafka's SMTs lean on the JVM for narrowing (``(byte) 300L`` wraps), parsing
(``Integer.parseInt`` rejects ``" 1"`` and ``"1_0"``, which Python's ``int`` accepts) and
rendering (``Double.toString(1e7)`` is ``"1.0E7"``). Configs copied from a Kafka Connect
cluster must produce the same bytes here, so the rules live in one place.
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal

__all__ = [
    "d2i",
    "d2l",
    "double_to_string",
    "float_to_string",
    "narrow_float",
    "parse_double",
    "parse_int",
    "to_float32",
    "wrap",
]

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

_INT_RE = re.compile(r"[+-]?\d+")
_DEC_RE = re.compile(r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[fFdD]?")
# String.trim(): every code point up to U+0020, not only the common whitespace.
_JAVA_TRIM = "".join(map(chr, range(0x21)))
_HEX_RE = re.compile(r"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?")


def wrap(n: int, bits: int) -> int:
    """Two's-complement narrowing, as a Java ``(byte)``/``(short)``/``(int)``/``(long)`` cast."""
    n &= (1 << bits) - 1
    return n - (1 << bits) if n >> (bits - 1) else n


def d2l(d: float) -> int:
    """``(long) d``: truncate toward zero, NaN is 0, out-of-range saturates."""
    if math.isnan(d):
        return 0
    if d >= 9.223372036854775807e18:
        return _LONG_MAX
    if d <= -9.223372036854775808e18:
        return _LONG_MIN
    return int(d)


def d2i(d: float) -> int:
    """``(int) d``: like :func:`d2l` but saturating at the int range."""
    if math.isnan(d):
        return 0
    return max(_INT_MIN, min(_INT_MAX, int(d))) if math.isfinite(d) else (_INT_MAX if d > 0 else _INT_MIN)


def narrow_float(d: float, bits: int) -> int:
    """``Number.byteValue()``/``shortValue()``/... of a Double: saturate to int (long), then wrap."""
    return d2l(d) if bits == 64 else wrap(d2i(d), bits)


def to_float32(d: float) -> float:
    """Round to the nearest float32 (overflow becomes infinity, as Java's ``(float)``)."""
    try:
        return struct.unpack("f", struct.pack("f", d))[0]
    except OverflowError:
        return math.copysign(math.inf, d)


def parse_int(text: str, bits: int) -> int:
    """``Byte/Short/Integer/Long.parseX``: an optional sign and digits only; ValueError otherwise."""
    if not _INT_RE.fullmatch(text):
        raise ValueError(f'For input string: "{text}"')
    n = int(text)
    if not -(1 << (bits - 1)) <= n < (1 << (bits - 1)):
        raise ValueError(f'Value out of range. Value:"{text}"')
    return n


def parse_double(text: str) -> float:
    """``Double.parseDouble``: trims, accepts ``NaN``/``Infinity``, a ``d``/``f`` suffix and hex floats."""
    t = text.strip(_JAVA_TRIM)
    if _DEC_RE.fullmatch(t):
        body = t.rstrip("fFdD") if t[-1:] in "fFdD" and "Infinity" not in t else t
        return float(body.replace("Infinity", "inf"))
    m = _HEX_RE.fullmatch(t)
    if m:
        v = float.fromhex(m.group(2))
        return -v if m.group(1) == "-" else v
    raise ValueError(f'For input string: "{text}"')


def _render(value: float, shortest: str) -> str:
    """Java's ``toString`` layout for floating point: plain in [1e-3, 1e7), else ``d.dddE±n``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    t = Decimal(shortest).as_tuple()
    assert isinstance(t.exponent, int)
    exp10 = len(t.digits) + t.exponent - 1
    digits = "".join(map(str, t.digits)).rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    if 1e-3 <= abs(value) < 1e7:
        if exp10 >= 0:
            whole = digits[: exp10 + 1].ljust(exp10 + 1, "0")
            frac = digits[exp10 + 1 :] or "0"
        else:
            whole, frac = "0", "0" * (-exp10 - 1) + digits
        return f"{sign}{whole}.{frac}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exp10}"


def double_to_string(value: float) -> str:
    """``Double.toString``: the shortest digits that round-trip (JDK 19+), in Java's layout."""
    return _render(value, repr(value) if math.isfinite(value) else "0")


def float_to_string(value: float) -> str:
    """``Float.toString`` for a float32 carried as a Python float: shortest float32 digits."""
    if not math.isfinite(value) or value == 0:
        return _render(value, "0")
    f = to_float32(value)
    for precision in range(1, 10):
        text = f"{f:.{precision}g}"
        if to_float32(float(text)) == f:
            return _render(f, text)
    return _render(f, repr(f))
