"""Java ``SimpleDateFormat`` patterns, always in UTC, over epoch milliseconds.

TimestampConverter's ``format`` and TimestampRouter's ``timestamp.format`` are Java patterns
that users copy from their Kafka Connect configs, so they are interpreted here rather than
mapped loosely onto ``strftime`` (whose ``%Y``, ``%f`` and locale rules differ). Supported
letters: G y Y M L w W D d F E u a H k K h m s S z Z X, plus ``'quoted'`` literals and ``''``.

Parsing follows ``SimpleDateFormat``'s default lenient mode: field widths are ignored except
between abutting numeric fields, out-of-range values roll over (month 13 is January of the
next year), unparsed trailing text is ignored, and a two-digit ``yy`` year is placed within
80 years before and 20 years after now.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

__all__ = ["SimpleDateFormat"]

_EPOCH = dt.datetime(1970, 1, 1)
_MS = dt.timedelta(milliseconds=1)
_JAVA_LETTERS = frozenset("GyYMLwWDdFEuaHkKhmsSzZX")
_NUMERIC = frozenset("yYMLwWDdFuHkKhmsS")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_MONTH_NUMBERS = {name.lower()[:size]: i + 1 for i, name in enumerate(_MONTHS) for size in (3, len(name))}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Fixed offsets (minutes) for the zone abbreviations Java's parser knows without ambiguity.
_ZONES = {"UTC": 0, "GMT": 0, "UT": 0, "Z": 0, "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420,
          "MDT": -360, "PST": -480, "PDT": -420, "CET": 60, "CEST": 120, "EET": 120, "EEST": 180, "JST": 540}
_ZONE_RE = r"(?:(?:GMT|UTC|UT)?[+-]\d{1,2}(?::?\d{2})?|[A-Za-z]{1,5})"

Token = tuple[str, int] | str  # (letter, count) for a field, plain str for literal text


def _tokenize(pattern: str) -> list[Token]:
    tokens: list[Token] = []
    literal: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if pattern.startswith("''", i):
                literal.append("'")
                i += 2
                continue
            j = i + 1
            while True:
                end = pattern.find("'", j)
                if end < 0:
                    raise ValueError("Unterminated quote")
                literal.append(pattern[j:end])
                if pattern.startswith("''", end):
                    literal.append("'")
                    j = end + 2
                    continue
                i = end + 1
                break
            continue
        if ("a" <= c <= "z") or ("A" <= c <= "Z"):
            if c not in _JAVA_LETTERS:
                raise ValueError(f"Illegal pattern character '{c}'")
            j = i
            while j < n and pattern[j] == c:
                j += 1
            if c == "X" and j - i > 3:
                raise ValueError("invalid ISO 8601 format: length=" + str(j - i))
            if literal:
                tokens.append("".join(literal))
                literal = []
            tokens.append((c, j - i))
            i = j
            continue
        literal.append(c)
        i += 1
    if literal:
        tokens.append("".join(literal))
    return tokens


def _week_fields(d: dt.datetime) -> tuple[int, int, int]:
    """(week-year, week-of-year, week-of-month) for Java's US defaults: weeks start on Sunday and
    week 1 is the one containing January 1st."""
    def sunday_start(day: dt.date) -> dt.date:
        return day - dt.timedelta(days=(day.weekday() + 1) % 7)

    day = d.date()
    start = sunday_start(day)
    next_jan1 = dt.date(day.year + 1, 1, 1)
    if start + dt.timedelta(days=6) >= next_jan1:
        week_year, week = day.year + 1, 1
    else:
        week_year, week = day.year, (day - sunday_start(dt.date(day.year, 1, 1))).days // 7 + 1
    week_of_month = (day - sunday_start(day.replace(day=1))).days // 7 + 1
    return week_year, week, week_of_month


def _num(get: Callable[[dt.datetime], int], count: int) -> Callable[[dt.datetime], str]:
    return lambda d: str(get(d)).zfill(count)


def _formatter(letter: str, count: int) -> Callable[[dt.datetime], str]:
    if letter == "y":
        return (lambda d: f"{d.year % 100:02d}") if count == 2 else _num(lambda d: d.year, count)
    if letter == "Y":
        if count == 2:
            return lambda d: f"{_week_fields(d)[0] % 100:02d}"
        return _num(lambda d: _week_fields(d)[0], count)
    if letter in "ML":
        if count >= 4:
            return lambda d: _MONTHS[d.month - 1]
        if count == 3:
            return lambda d: _MONTHS[d.month - 1][:3]
        return _num(lambda d: d.month, count)
    if letter == "E":
        return (lambda d: _DAYS[d.weekday()]) if count >= 4 else (lambda d: _DAYS[d.weekday()][:3])
    simple: dict[str, Callable[[dt.datetime], Any]] = {
        "G": lambda d: "AD",
        "a": lambda d: "AM" if d.hour < 12 else "PM",
        "z": lambda d: "Coordinated Universal Time" if count >= 4 else "UTC",
        "Z": lambda d: "+0000",
        "X": lambda d: "Z",
    }
    if letter in simple:
        return simple[letter]
    getters: dict[str, Callable[[dt.datetime], int]] = {
        "w": lambda d: _week_fields(d)[1],
        "W": lambda d: _week_fields(d)[2],
        "D": lambda d: d.timetuple().tm_yday,
        "d": lambda d: d.day,
        "F": lambda d: (d.day - 1) // 7 + 1,
        "u": lambda d: d.isoweekday(),
        "H": lambda d: d.hour,
        "k": lambda d: d.hour or 24,
        "K": lambda d: d.hour % 12,
        "h": lambda d: d.hour % 12 or 12,
        "m": lambda d: d.minute,
        "s": lambda d: d.second,
        "S": lambda d: d.microsecond // 1000,
    }
    return _num(getters[letter], count)


# Fields rendered straight from datetime attributes, so common patterns format with one str.format call.
_TEMPLATE_FIELDS = {"y": "0.year", "M": "0.month", "d": "0.day", "H": "0.hour", "m": "0.minute", "s": "0.second",
                    "S": "1"}
_CONSTANT_FIELDS = {"G": "AD", "Z": "+0000", "X": "Z"}


def _template(tokens: list[Token]) -> str | None:
    """A ``str.format`` template over ``(datetime, millis)``, or None when a token needs code."""
    parts: list[str] = []
    for tok in tokens:
        if isinstance(tok, str):
            parts.append(tok.replace("{", "{{").replace("}", "}}"))
            continue
        letter, count = tok
        if letter in _TEMPLATE_FIELDS and not (letter == "y" and count == 2) and not (letter == "M" and count > 2):
            parts.append(f"{{{_TEMPLATE_FIELDS[letter]}:0{count}d}}")
        elif letter in _CONSTANT_FIELDS:
            parts.append(_CONSTANT_FIELDS[letter])
        elif letter == "z":
            parts.append("Coordinated Universal Time" if count >= 4 else "UTC")
        else:
            return None
    return "".join(parts)


def _text_alternatives(names: tuple[str, ...]) -> str:
    options = sorted({*names, *(n[:3] for n in names)}, key=len, reverse=True)
    return "(?i:" + "|".join(options) + ")"


def _zone_offset(text: str) -> int | None:
    """Minutes east of UTC for a parsed zone, or None when the zone is unknown."""
    upper = text.upper()
    if upper in _ZONES:
        return _ZONES[upper]
    m = re.fullmatch(r"(?:GMT|UTC|UT)?([+-])(\d{1,2})(?::?(\d{2}))?", upper)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    return -minutes if m.group(1) == "-" else minutes


class SimpleDateFormat:
    """A compiled pattern; ``format``/``parse`` convert between text and epoch milliseconds (UTC).

    The constructor raises ``ValueError`` with Java's message for patterns Java rejects.
    """

    def __init__(self, pattern: str, *, now: dt.datetime | None = None) -> None:
        self.pattern = pattern
        self._tokens = _tokenize(pattern)
        self._format_parts: list[Callable[[dt.datetime], str] | str] = [
            t if isinstance(t, str) else _formatter(*t) for t in self._tokens
        ]
        self._template = _template(self._tokens)
        self._fields: list[tuple[str, int]] = []
        regex: list[str] = []
        for i, tok in enumerate(self._tokens):
            if isinstance(tok, str):
                regex.append(re.escape(tok))
                continue
            letter, count = tok
            nxt = self._tokens[i + 1] if i + 1 < len(self._tokens) else None
            abutting = isinstance(nxt, tuple) and nxt[0] in _NUMERIC
            if letter in "ML" and count >= 3:
                part = _text_alternatives(_MONTHS)
            elif letter in _NUMERIC:
                part = rf"\d{{{count}}}" if abutting else r"\d+"
            elif letter == "E":
                part = _text_alternatives(_DAYS)
            elif letter == "a":
                part = "(?i:AM|PM)"
            elif letter == "G":
                part = "(?i:AD|BC)"
            elif letter == "X":
                part = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
            else:
                part = _ZONE_RE
            regex.append(f"({part})")
            self._fields.append(tok)
        self._regex = re.compile("".join(regex))
        current = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self._century_start = current.year - 80

    def __repr__(self) -> str:
        return f"SimpleDateFormat({self.pattern!r})"

    def format(self, epoch_ms: int) -> str:
        """Render ``epoch_ms`` in UTC; ``OverflowError`` beyond years 1..9999."""
        d = _EPOCH + dt.timedelta(milliseconds=epoch_ms)
        if self._template is not None:
            return self._template.format(d, d.microsecond // 1000)
        return "".join(p if isinstance(p, str) else p(d) for p in self._format_parts)

    def parse(self, text: str) -> int:
        """Epoch milliseconds for ``text``; ``ValueError`` when it does not match the pattern."""
        m = self._regex.match(text)
        if m is None:
            raise ValueError(f"Unparseable date: \"{text}\"")
        year, month, day, hour, minute, second, millis = 1970, 1, 1, 0, 0, 0, 0
        day_of_year: int | None = None
        pm: bool | None = None
        hour12: int | None = None
        offset = 0
        for (letter, count), raw in zip(self._fields, m.groups()):
            if letter in "yY":
                year = int(raw)
                if count <= 2 and len(raw) == 2:
                    year += self._century_start // 100 * 100
                    if year < self._century_start:
                        year += 100
            elif letter in "ML":
                month = int(raw) if count < 3 else _MONTH_NUMBERS[raw.lower()]
            elif letter == "d":
                day = int(raw)
            elif letter == "D":
                day_of_year = int(raw)
            elif letter in "Hk":
                hour = int(raw) % 24 if letter == "k" else int(raw)
            elif letter in "hK":
                hour12 = int(raw) % 12 if letter == "h" else int(raw)
            elif letter == "a":
                pm = raw.upper() == "PM"
            elif letter == "m":
                minute = int(raw)
            elif letter == "s":
                second = int(raw)
            elif letter == "S":
                millis = int(raw)
            elif letter in "zZX":
                zone = _zone_offset(raw)
                if zone is None:
                    raise ValueError(f"Unparseable date: \"{text}\"")
                offset = zone
        if hour12 is not None:
            hour = hour12 + (12 if pm else 0)
        try:
            year += (month - 1) // 12
            month = (month - 1) % 12 + 1
            if day_of_year is not None:
                base = dt.datetime(year, 1, 1) + dt.timedelta(days=day_of_year - 1)
            else:
                base = dt.datetime(year, month, 1) + dt.timedelta(days=day - 1)
            instant = base + dt.timedelta(
                hours=hour, minutes=minute - offset, seconds=second, milliseconds=millis
            )
        except (OverflowError, ValueError):
            raise ValueError(f"Unparseable date: \"{text}\"") from None
        return (instant - _EPOCH) // _MS
