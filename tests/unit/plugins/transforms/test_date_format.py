"""The SimpleDateFormat subset behind TimestampConverter and TimestampRouter (always UTC)."""

from __future__ import annotations

import datetime as dt

import pytest
from lambda_connect.plugins.transforms._date_format import SimpleDateFormat

MS = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z, a Tuesday


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyyMMdd", "20231114"),
        ("yy-M-d", "23-11-14"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2023-11-14T22:13:20.123Z"),
        ("EEE, d MMM yyyy hh:mm a", "Tue, 14 Nov 2023 10:13 PM"),
        ("EEEE MMMM", "Tuesday November"),
        ("z zzzz Z X", "UTC Coordinated Universal Time +0000 Z"),
        ("'o''clock' ''", "o'clock '"),
        ("D w W F u k K G S", "318 46 3 2 2 22 10 AD 123"),
    ],
)
def test_format(pattern: str, expected: str) -> None:
    assert SimpleDateFormat(pattern).format(MS) == expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2023-11-14T22:13:20.123Z", MS),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2023-11-14T23:13:20.123+01:00", MS),
        ("yyyy-MM-dd HH:mm:ss.SSS Z", "2023-11-14 17:13:20.123 -0500", MS),
        ("yyyy-MM-dd HH:mm:ss.SSS z", "2023-11-14 14:13:20.123 PST", MS),
        ("dd/MMM/yyyy:hh:mm:ss.SSS a", "14/nov/2023:10:13:20.123 PM", MS),
        ("yyyyMMddHHmmssSSS", "20231114221320123", MS),
        ("yyyy-M-d", "2023-13-1", 1_704_067_200_000),
        ("yyyy-MM-dd", "2023-11-14 trailing text is ignored", 1_699_920_000_000),
    ],
)
def test_parse(pattern: str, text: str, expected: int) -> None:
    assert SimpleDateFormat(pattern).parse(text) == expected


def test_two_digit_year_is_placed_near_now() -> None:
    fmt = SimpleDateFormat("yy-MM-dd", now=dt.datetime(2024, 6, 1))
    assert fmt.format(fmt.parse("23-11-14")) == "23-11-14"
    assert SimpleDateFormat("yyyy", now=dt.datetime(2024, 6, 1)).parse("1950") == -631152000000
    assert fmt.parse("50-01-01") == -631152000000  # 1950, not 2050: 80 years back, 20 ahead


@pytest.mark.parametrize("text", ["2023/11/14", "", "x2023-11-14", "2023-11-14 12:00 Mars/Olympus"])
def test_parse_rejects_mismatches(text: str) -> None:
    with pytest.raises(ValueError, match="Unparseable date"):
        SimpleDateFormat("yyyy-MM-dd HH:mm z" if "Mars" in text else "yyyy-MM-dd").parse(text)


@pytest.mark.parametrize(("pattern", "message"), [("yyyy-qq", "Illegal pattern character 'q'"),
                                                  ("'open", "Unterminated quote"), ("XXXX", "invalid ISO 8601")])
def test_rejects_invalid_patterns(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimpleDateFormat(pattern)
