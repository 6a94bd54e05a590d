"""GTID positions of MariaDB and GTID sets of MySQL: parsing, printing, and the bookkeeping of a read.

A MariaDB GTID is ``domain-server-sequence`` (``0-1-42``); a *position* lists the last GTID of
every replication domain, comma separated (``0-1-42,1-3-7``), and is what a replica sends to say
where to continue (``@slave_connect_state``). Sequence numbers only grow inside a domain, so
"already read" is a per-domain comparison (:class:`GtidPosition`).

A MySQL GTID is ``source_uuid:transaction_number`` (MySQL 8.3+ may put a tag in between:
``uuid:tag:number``), and a replica says where to continue with a *set*: per source (and tag), the
numbers it has, as ranges — ``3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9,<uuid2>:1-3``. Sets have
gaps (a transaction may arrive before an older one), so "already read" is membership
(:class:`GtidSet`). :func:`mysql_resume` decides whether a stored set can be resumed on a server:
not when the server already purged transactions the set lacks.
"""

from __future__ import annotations

from collections.abc import Mapping

from lambda_connect.api import ConnectException

__all__ = ["GtidPosition", "GtidSet", "mysql_resume", "parse_gtid", "parse_mysql_gtid"]


def parse_gtid(text: str) -> tuple[int, int, int]:
    """``"0-1-42"`` → ``(0, 1, 42)``; anything else is a ValueError naming the text."""
    parts = text.strip().split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a MariaDB GTID (domain-server-sequence): {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


class GtidPosition:
    """The last GTID per domain; ``str()`` gives the form the server accepts."""

    def __init__(self, last: Mapping[int, tuple[int, int]] | None = None) -> None:
        self.last: dict[int, tuple[int, int]] = dict(last or {})  # domain -> (server, sequence)

    @classmethod
    def parse(cls, text: str | None, key: str = "gtids") -> GtidPosition:
        """Read a stored position; a malformed one (an offset edited by hand) is a clear error naming
        the offset field ``key``."""
        position = cls()
        for part in (text or "").split(","):
            if not part.strip():
                continue
            try:
                domain, server, seq = parse_gtid(part)
            except ValueError as e:
                raise ConnectException(f"The stored offset field {key}={text!r} is not a MariaDB GTID position "
                                       f"({e}). Correct it through the offsets API, or remove it to resume by "
                                       "file and pos.") from e
            position.last[domain] = (server, seq)
        return position

    def __bool__(self) -> bool:
        return bool(self.last)

    def __str__(self) -> str:
        return ",".join(f"{d}-{s}-{n}" for d, (s, n) in sorted(self.last.items()))

    def covers(self, gtid: str) -> bool:
        """True when the transaction ``gtid`` is at or before this position (already read)."""
        domain, _server, seq = parse_gtid(gtid)
        known = self.last.get(domain)
        return known is not None and seq <= known[1]

    def advance(self, gtid: str) -> None:
        """Record that the transaction ``gtid`` was read to its end."""
        domain, server, seq = parse_gtid(gtid)
        known = self.last.get(domain)
        if known is None or seq > known[1]:
            self.last[domain] = (server, seq)

    def copy(self) -> GtidPosition:
        return GtidPosition(self.last)


# --- MySQL GTID sets -----------------------------------------------------------------------------

_HEX = frozenset("0123456789abcdef")


def _uuid(text: str) -> str | None:
    """The UUID in canonical lower-case form, or None when ``text`` is not one."""
    t = text.strip().lower()
    parts = t.split("-")
    if [len(p) for p in parts] != [8, 4, 4, 4, 12] or not all(set(p) <= _HEX for p in parts):
        return None
    return t


def _tag(text: str) -> str | None:
    """A MySQL 8.3 GTID tag (a letter or underscore, then up to 31 letters, digits, underscores),
    lower-cased as the server compares them; None when ``text`` is not one."""
    t = text.strip().lower()
    if not t or len(t) > 32 or not (t[0].isalpha() or t[0] == "_") or not all(c.isalnum() or c == "_" for c in t):
        return None
    return t if t.isascii() else None


def parse_mysql_gtid(text: str) -> tuple[str, int]:
    """``"uuid:42"`` (or ``"uuid:tag:42"``) → (``"uuid"`` or ``"uuid:tag"``, 42); anything else is a
    ValueError naming the text."""
    parts = text.strip().split(":")
    source = _uuid(parts[0]) if parts else None
    if source is None or len(parts) not in (2, 3) or not parts[-1].strip().isdigit() or int(parts[-1]) < 1:
        raise ValueError(f"not a MySQL GTID (source_uuid:number): {text!r}")
    if len(parts) == 3:
        tag = _tag(parts[1])
        if tag is None:
            raise ValueError(f"not a MySQL GTID (bad tag {parts[1]!r}): {text!r}")
        source = f"{source}:{tag}"
    return source, int(parts[-1])


class GtidSet:
    """A MySQL GTID set: per source (``uuid`` or ``uuid:tag``) sorted, disjoint, non-adjacent ranges
    of transaction numbers. ``str()`` is the form MySQL prints and accepts (sources in order, each
    range ``a-b`` or ``a``)."""

    def __init__(self, ranges: Mapping[str, list[tuple[int, int]]] | None = None) -> None:
        self.ranges: dict[str, list[tuple[int, int]]] = {}
        for source, spans in (ranges or {}).items():
            for a, b in spans:
                self._add_range(source, a, b)

    @classmethod
    def parse(cls, text: str | None, key: str = "gtids") -> GtidSet:
        """Read a GTID set as MySQL prints it (``SHOW MASTER STATUS``, ``@@gtid_executed``: line
        breaks after commas allowed); a malformed one is a clear error naming ``key``."""
        out = cls()
        current_tagless: str | None = None
        for item in (text or "").replace("\n", "").split(","):
            item = item.strip()
            if not item:
                continue
            parts = [p.strip() for p in item.split(":")]
            source = _uuid(parts[0])
            if source is None or len(parts) < 2:
                raise ConnectException(f"{key}={text!r} is not a MySQL GTID set: {item!r} does not start with a "
                                       "source UUID followed by ':' and transaction numbers.")
            current_tagless = source
            target = source
            for part in parts[1:]:
                if part and not part[0].isdigit():
                    tag = _tag(part)
                    if tag is None:
                        raise ConnectException(f"{key}={text!r} is not a MySQL GTID set: bad tag {part!r}.")
                    target = f"{current_tagless}:{tag}"
                    continue
                a, sep, b = part.partition("-")
                if not a.isdigit() or (sep and not b.isdigit()) or int(a) < 1 or (sep and int(b) < int(a)):
                    raise ConnectException(f"{key}={text!r} is not a MySQL GTID set: {part!r} is not a number "
                                           "or a range a-b with 1 <= a <= b.")
                out._add_range(target, int(a), int(b) if sep else int(a))
        return out

    def _add_range(self, source: str, a: int, b: int) -> None:
        spans = self.ranges.setdefault(source, [])
        merged: list[tuple[int, int]] = []
        for x, y in spans:
            if y + 1 < a or b + 1 < x:
                merged.append((x, y))
            else:
                a, b = min(a, x), max(b, y)
        merged.append((a, b))
        merged.sort()
        self.ranges[source] = merged

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GtidSet) and self.ranges == other.ranges

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"GtidSet({str(self)!r})"

    def __str__(self) -> str:
        out = []
        for source in sorted(self.ranges, key=lambda s: (s.partition(":")[0], s.partition(":")[2])):
            spans = ":".join(f"{a}-{b}" if b > a else str(a) for a, b in self.ranges[source])
            out.append(f"{source}:{spans}")
        return ",".join(out)

    def covers(self, gtid: str) -> bool:
        """True when the transaction ``gtid`` (``uuid:n``) is in the set (already read)."""
        source, n = parse_mysql_gtid(gtid)
        return any(a <= n <= b for a, b in self.ranges.get(source, ()))

    def advance(self, gtid: str) -> None:
        """Record that the transaction ``gtid`` was read to its end."""
        source, n = parse_mysql_gtid(gtid)
        self._add_range(source, n, n)

    def contains(self, other: GtidSet) -> bool:
        """True when every transaction of ``other`` is in this set."""
        return not other.minus(self)

    def minus(self, other: GtidSet) -> GtidSet:
        """The transactions of this set that ``other`` lacks."""
        out = GtidSet()
        for source, spans in self.ranges.items():
            holes = other.ranges.get(source, [])
            for a, b in spans:
                start = a
                for x, y in holes:
                    if y < start or x > b:
                        continue
                    if x > start:
                        out._add_range(source, start, x - 1)
                    start = max(start, y + 1)
                    if start > b:
                        break
                if start <= b:
                    out._add_range(source, start, b)
        return out

    def union(self, other: GtidSet) -> GtidSet:
        out = self.copy()
        for source, spans in other.ranges.items():
            for a, b in spans:
                out._add_range(source, a, b)
        return out

    def copy(self) -> GtidSet:
        return GtidSet(self.ranges)


def mysql_resume(stored: GtidSet, purged: GtidSet) -> GtidSet:
    """The transactions a stored set needs but the server purged (``@@gtid_purged`` minus the set):
    empty when the set can be resumed there. The server sends what is not in the set; a transaction
    it purged and the set lacks can never be sent, so those changes are lost."""
    return purged.minus(stored)
