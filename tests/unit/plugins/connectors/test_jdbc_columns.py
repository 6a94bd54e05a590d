"""``convert_column`` (the JDBC source's column-at-a-time conversion) against the per-value
converters it short-cuts: the same values, tzinfo objects and errors, on random columns."""

from __future__ import annotations

import datetime as dt
import decimal
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lambda_connect.plugins.connectors.jdbc.columns import _aware_timestamp, _float_value, convert_column

UTC = dt.UTC
ZONES: list[Any] = [UTC, ZoneInfo("Etc/UTC"), ZoneInfo("UTC"), ZoneInfo("Europe/Paris"),
                    dt.timezone(dt.timedelta(hours=-5)), None]


def _same(a: list[Any], b: list[Any]) -> bool:
    return [(type(x), x, getattr(x, "tzinfo", None), getattr(x, "fold", None)) for x in a] == \
        [(type(x), x, getattr(x, "tzinfo", None), getattr(x, "fold", None)) for x in b]


@pytest.mark.parametrize("seed", range(30))
def test_timestamp_columns(seed: int) -> None:
    rng = random.Random(seed)
    zones = rng.sample(ZONES, rng.randrange(1, 3))
    col = []
    nulls = rng.random() < 0.5
    for _ in range(rng.randrange(0, 40)):
        if nulls and rng.random() < 0.1:
            col.append(None)
            continue
        tz = rng.choice(zones)
        base = dt.datetime(2024, 3, 31, 0, 30) + dt.timedelta(minutes=rng.randrange(0, 200_000))
        col.append(base.replace(tzinfo=tz, microsecond=rng.randrange(10**6)))
    expected = [_aware_timestamp(v) for v in col]
    got = convert_column(_aware_timestamp, tuple(col))
    assert _same(col if got is None else got, expected)


@pytest.mark.parametrize("seed", range(20))
def test_float_columns(seed: int) -> None:
    rng = random.Random(seed)
    kinds = rng.sample([lambda: rng.random(), lambda: None, lambda: rng.randrange(9),
                        lambda: decimal.Decimal("1.25")], rng.randrange(1, 4))
    col = tuple(rng.choice(kinds)() for _ in range(rng.randrange(0, 30)))
    expected = [_float_value(v) for v in col]
    got = convert_column(_float_value, col)
    assert _same(list(col) if got is None else got, expected)


@pytest.mark.parametrize("tz", ZONES[:-1], ids=str)
def test_one_zone_without_nulls(tz: Any) -> None:
    """One zone per column (Paris in winter and summer too): the same instants and tzinfo as per value."""
    col = (dt.datetime(2024, 1, 15, 12, tzinfo=tz), dt.datetime(2024, 7, 15, 12, 0, 1, 5, tzinfo=tz))
    got = convert_column(_aware_timestamp, col)
    assert _same(list(col) if got is None else got, [_aware_timestamp(v) for v in col])


def test_a_value_the_converter_refuses_still_raises() -> None:
    with pytest.raises(AttributeError):
        convert_column(_aware_timestamp, (dt.datetime(2024, 1, 1, tzinfo=UTC), "not a datetime"))
    with pytest.raises(ValueError):
        convert_column(_float_value, (1.0, "x"))


def test_the_shortcuts_are_taken() -> None:
    utc = (dt.datetime(2024, 1, 1, tzinfo=UTC), None)
    assert convert_column(_aware_timestamp, utc) is None
    etc = (dt.datetime(2024, 1, 1, tzinfo=ZoneInfo("Etc/UTC")),)
    assert convert_column(_aware_timestamp, etc) == [dt.datetime(2024, 1, 1, tzinfo=UTC)]
    assert convert_column(_float_value, (1.5, None)) is None
