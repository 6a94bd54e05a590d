"""pgoutput tuple decoding: the C loop (``_pgoutput.row_values``) is its Python specification
(``pgoutput.row_values``), and the specification is the plain decoder followed by the converters.

Every type family ``types.column_type`` maps, in every handling mode, with the texts PostgreSQL
prints and odd ones (other offsets, BC dates, infinities, big integers, non-ASCII), nulls, TOAST
markers, binary values, skipped columns, converters that fail, and broken messages cut at every
byte.
"""

from __future__ import annotations

import os
import random
import struct
from typing import Any

import pytest
from lambda_connect.plugins.connectors.cdc.postgres import pgoutput
from lambda_connect.plugins.connectors.cdc.postgres.types import Modes, column_type, row_ops

try:
    from lambda_connect.plugins.connectors.cdc.postgres import _pgoutput
except ImportError:  # pragma: no cover - depends on the install
    _pgoutput = None

TOAST = pgoutput.UNCHANGED_TOAST
MODES = [Modes(d, t, b) for d in ("precise", "double", "string") for t in ("adaptive", "adaptive_time_microseconds",
                                                                           "connect")
         for b in ("bytes", "base64", "base64-url-safe", "hex")]

# type oid, typmod, texts PostgreSQL prints for it (and a few it does not)
FAMILIES: list[tuple[int, int, list[str]]] = [
    (16, -1, ["t", "f", "true", "false", "yes", ""]),
    (21, -1, ["0", "-32768", "32767", "007", "-0"]),
    (23, -1, ["2147483647", "-2147483648", "12", "1_000", " 5", "+3", "-", "", "x1"]),
    (20, -1, ["9223372036854775807", "-9223372036854775808", "999999999999999999", "1000000000000000000",
              "-999999999999999999", "123456789012345678901234567890"]),
    (26, -1, ["4294967295", "1"]),
    (700, -1, ["1.5", "NaN", "Infinity", "-Infinity", "-0", "3.4028235e+38", "1e-45", "bad"]),
    (701, -1, ["0.1", "1.7976931348623157e+308", "NaN", "-Infinity", "5e-324", "nan", "1e999"]),
    (25, -1, ["", "plain", "ünïcödé ✓", "a\tb\nc", "x" * 3000]),
    (1043, 14, ["varchar"]), (1042, 9, ["padded   "]), (19, -1, ["name"]), (18, -1, ["c"]),
    (2950, -1, ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]),
    (114, -1, ['{"a": [1, 2]}']), (3802, -1, ['{"b": null}']), (142, -1, ["<x>1</x>"]),
    (1700, (10 << 16 | 2) + 4, ["513.50", "-0.01", "0.00", "12345678.99", "NaN", "1.5", "Infinity"]),
    (1700, (38 << 16 | 0) + 4, ["12345678901234567890123456789012345678", "-1"]),
    (1700, -1, ["3.14159", "-12", "0", "1e5", "0.000001", "NaN"]),
    (790, -1, ["$1,234.56", "-$0.99", "($5.00)"]),
    (17, -1, ["\\x", "\\xdeadbeef", "\\x00ff", "plain"]),
    (1082, -1, ["2024-02-29", "1970-01-01", "0001-01-01", "bad"]),
    (1083, -1, ["12:34:56", "00:00:00", "23:59:59.999999", "24:00:00"]),
    (1083, 3, ["12:34:56.789", "01:02:03"]),
    (1266, -1, ["12:34:56+02", "00:00:00-05:30", "23:59:59.5+00"]),
    (1114, -1, ["2024-01-01 12:00:00", "2024-01-01 12:00:00.123456", "1999-12-31 23:59:59.5"]),
    (1114, 3, ["2024-01-01 12:00:00.123", "2024-01-01 00:00:00"]),
    (1184, -1, ["2025-01-01 00:34:12+00", "2025-01-01 00:34:12.5+00", "2025-01-01 00:34:12.123456+00",
                "2025-01-01 00:34:12+05:30", "2025-01-01 00:34:12-08", "0044-03-15 12:00:00+00 BC",
                "infinity", "2025-01-01 00:34:12+00:00", "25-01-01 00:34:12+00", "2025-01-01 00:34:12+0"]),
    (1186, -1, ["1 year 2 mons 3 days 04:05:06.5", "-00:00:01", "00:00:00", "3 days"]),
    (3904, -1, ["[1,5)"]),  # a type without a mapping: its text
]


def column(kind: bytes, payload: bytes = b"") -> bytes:
    if kind in (b"t", b"b"):
        return kind + struct.pack(">i", len(payload)) + payload
    return kind


def tuple_data(columns: list[bytes]) -> bytes:
    return struct.pack(">h", len(columns)) + b"".join(columns)


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        values, end, toasted = fn(*args)
    except Exception as e:  # the exception itself is compared: type and message
        return "error", (type(e), str(e))
    return "ok", ([(type(v), v if v == v else "nan") for v in values], end, toasted)


def plain_then_convert(data: bytes, pos: int, converters: tuple) -> tuple[list, int, bool]:
    """What the general path does: ``_tuple``, then each converter on what is not null or TOAST."""
    raw, end = pgoutput._tuple(data, pos)
    out = []
    for v, conv in zip(raw, converters, strict=True):
        if conv is pgoutput.SKIP:
            out.append(None)
        elif v is None or v is TOAST or conv is None:
            out.append(v)
        else:
            out.append(conv(v))
    return out, end, any(v is TOAST for v, c in zip(raw, converters) if c is not pgoutput.SKIP)


@pytest.fixture
def native() -> Any:
    if _pgoutput is None:
        message = "lambda_connect.plugins.connectors.cdc.postgres._pgoutput is not built (no C compiler at install?)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the build is required)")
        pytest.skip(message)
    return _pgoutput.row_values


def test_connector_uses_the_c_loop_when_built():
    assert pgoutput.NATIVE is (_pgoutput is not None)
    assert (pgoutput.fast_row_values is _pgoutput.row_values) if _pgoutput else True


@pytest.mark.parametrize("modes", MODES, ids=lambda m: f"{m.decimal}-{m.time}-{m.binary}")
def test_every_type_family_decodes_alike(native, modes):
    prefix = b"I\x00\x00\x40\x01N"  # an Insert header before the tuple: decoding starts at 6
    for oid, typmod, texts in FAMILIES:
        _schema, conv = column_type(oid, typmod, True, modes)
        converters = (conv,)
        ops = row_ops(converters, pgoutput.SKIP)
        for text in texts:
            data = prefix + tuple_data([column(b"t", text.encode())]) + b"trailing"
            spec = outcome(pgoutput.row_values, data, 6, converters, TOAST)
            assert outcome(native, data, 6, converters, ops, TOAST) == spec, (oid, typmod, text, modes)
            if spec[0] == "ok":
                assert outcome(plain_then_convert, data, 6, converters) == spec, (oid, text)


def test_random_rows_of_mixed_columns_decode_alike(native):
    rng = random.Random(12)
    modes = Modes()
    for _ in range(1500):
        width = rng.randint(0, 12)
        converters, columns = [], []
        for _ in range(width):
            oid, typmod, texts = rng.choice(FAMILIES)
            conv = column_type(oid, typmod, True, modes)[1]
            converters.append(pgoutput.SKIP if rng.random() < 0.1 else conv)
            roll = rng.random()
            if roll < 0.1:
                columns.append(column(b"n"))
            elif roll < 0.18:
                columns.append(column(b"u"))
            elif roll < 0.22:
                columns.append(column(b"b", rng.randbytes(rng.randint(0, 6))))
            else:
                columns.append(column(b"t", rng.choice(texts).encode()))
        data = tuple_data(columns)
        conv_t = tuple(converters)
        ops = row_ops(conv_t, pgoutput.SKIP)
        spec = outcome(pgoutput.row_values, data, 0, conv_t, TOAST)
        assert outcome(native, data, 0, conv_t, ops, TOAST) == spec, (data, conv_t)
        if spec[0] == "ok":
            assert outcome(plain_then_convert, data, 0, conv_t) == spec


def test_broken_messages_fail_alike_and_clearly(native):
    modes = Modes()
    converters = tuple(column_type(oid, -1, True, modes)[1] for oid in (20, 25, 1184, 1700))
    ops = row_ops(converters, pgoutput.SKIP)
    whole = tuple_data([column(b"t", b"42"), column(b"t", b"text"), column(b"t", b"2025-01-01 00:00:00+00"),
                        column(b"t", b"1.25")])
    assert outcome(native, whole, 0, converters, ops, TOAST)[0] == "ok"
    for cut in range(len(whole)):
        data = whole[:cut]
        spec = outcome(pgoutput.row_values, data, 0, converters, TOAST)
        assert spec[0] == "error" and spec[1][0] is ValueError and "pgoutput" in spec[1][1], (cut, spec)
        assert outcome(native, data, 0, converters, ops, TOAST) == spec, cut
    cases = [
        tuple_data([column(b"t", b"1")]),  # one column for a relation of four
        whole[:2] + b"x" + whole[3:],  # an unknown column kind
        whole[:3] + struct.pack(">i", -1) + whole[7:],  # a negative length
    ]
    for data in cases:
        spec = outcome(pgoutput.row_values, data, 0, converters, TOAST)
        assert spec[0] == "error" and spec[1][0] is ValueError, spec
        assert outcome(native, data, 0, converters, ops, TOAST) == spec


def test_a_failing_converter_fails_alike(native):
    def bad(text: str) -> Any:
        raise KeyError(f"refused {text}")

    converters = (int, bad)
    data = tuple_data([column(b"t", b"1"), column(b"t", b"v")])
    ops = row_ops(converters, pgoutput.SKIP)
    spec = outcome(pgoutput.row_values, data, 0, converters, TOAST)
    assert spec == ("error", (KeyError, "'refused v'"))
    assert outcome(native, data, 0, converters, ops, TOAST) == spec
    bad_utf8 = tuple_data([column(b"t", b"1"), column(b"t", b"\xff\xfe")])
    for conv in (None, int, float, bad):
        pair = (int, conv)
        spec = outcome(pgoutput.row_values, bad_utf8, 0, pair, TOAST)
        assert spec[0] == "error" and spec[1][0] is UnicodeDecodeError
        assert outcome(native, bad_utf8, 0, pair, row_ops(pair, pgoutput.SKIP), TOAST) == spec


def test_toast_markers_and_skipped_columns(native):
    converters = (int, pgoutput.SKIP, None, pgoutput.SKIP)
    data = tuple_data([column(b"t", b"7"), column(b"u"), column(b"u"), column(b"t", b"dropped")])
    ops = row_ops(converters, pgoutput.SKIP)
    assert ops == bytes([2, 0, 1, 0])
    expected = ([7, None, TOAST, None], len(data), True)
    assert pgoutput.row_values(data, 0, converters, TOAST) == expected
    assert native(data, 0, converters, ops, TOAST) == expected
    only_skipped = tuple_data([column(b"t", b"7"), column(b"u"), column(b"n"), column(b"t", b"x")])
    assert native(only_skipped, 0, converters, ops, TOAST) == ([7, None, None, None], len(only_skipped), False)
