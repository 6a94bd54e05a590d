"""Cast's fast string parsing (``float()``/``int()`` behind a cheap guard) must accept,
reject and round exactly like the exact Java parsers in ``_java`` (Double.parseDouble,
Byte/Short/Integer/Long.parseX), on hand-picked edge cases and on random strings."""

from __future__ import annotations

import random
from typing import Any

import pytest
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import SinkRecord
from lambda_connect.plugins.transforms._java import parse_double, parse_int, to_float32
from lambda_connect.plugins.transforms.cast import Cast

EDGE_CASES = [
    "0", "-0", "+0", "12", "-12", "+12", "007", "1.5", " 1.5 ", "\t2\n", "\x001\x00", "\x1c3\x1f", "\x013", "1.",
    ".5", ".", "", " ", "1e3", "1E-3", "1e+3", "1e", "e3", "1e400", "-1e400", "1e-400", "4.9e-324",
    "1.7976931348623157e308",
    "NaN", "-NaN", "nan", "Infinity", "-Infinity", "+Infinity", "inf", "infinity", "1d", "1f", "1.5D", "0x1p3",
    "0X1.8P1", "0x10", "1_000", "\u0661\u0662", "\u20031", "1\u00a0", "12345678901234567890", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "2147483647", "2147483648", "127", "128", "-129", "32767",
    "0.1", "3.4028235e38", "3.4028236e38", "1.4e-45", "0.30000000000000004", "1" * 40, "1" * 5000,
]
_ALPHABET = "0123456789+-.eE_ xXpPfFdDinftyNaI\t\n\x00\x1c\u2003\u0661"


def _random_strings(n: int) -> list[str]:
    rng = random.Random(20241125)
    return ["".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(9))) for _ in range(n)]


def _cast(target: str, text: str) -> Any:
    transform = Cast.Value(Cast.config_def.parse({"spec": f"x:{target}"}))
    try:
        return transform.apply(SinkRecord("t", 0, None, None, None, {"x": text}, 0)).value["x"]
    except DataException as e:
        return ("error", str(e))


def _reference(target: str, text: str) -> Any:
    try:
        if target == "float64":
            return parse_double(text)
        if target == "float32":
            return to_float32(parse_double(text))
        return parse_int(text, {"int8": 8, "int16": 16, "int32": 32, "int64": 64}[target])
    except ValueError:
        return ("error", f"Value ({text}) was out of range for requested data type")


@pytest.mark.parametrize("target", ["float64", "float32", "int8", "int16", "int32", "int64"])
def test_fast_parsing_matches_the_exact_java_parsers(target: str) -> None:
    mismatches = []
    for text in EDGE_CASES + _random_strings(4000):
        got, want = _cast(target, text), _reference(target, text)
        if repr(got) != repr(want) or type(got) is not type(want):
            mismatches.append((text, got, want))
    assert not mismatches, mismatches[:10]


@pytest.mark.parametrize(("text", "expected"), [
    ("1.5", 1.5), (" 2.25\t", 2.25), ("1d", 1.0), ("-Infinity", float("-inf")), ("0x1p3", 8.0), ("1e400", float("inf")),
])
def test_java_double_syntax_is_accepted(text: str, expected: float) -> None:
    assert _cast("float64", text) == expected


@pytest.mark.parametrize("text", ["1_000", "inf", "nan", "\u0661\u0662", "\u20031", "1,5"])
def test_what_java_rejects_is_rejected(text: str) -> None:
    assert _cast("float64", text) == ("error", f"Value ({text}) was out of range for requested data type")


def test_trim_strips_every_control_character_like_java() -> None:
    assert parse_double("\x01\x08 3.5\x1f") == 3.5
