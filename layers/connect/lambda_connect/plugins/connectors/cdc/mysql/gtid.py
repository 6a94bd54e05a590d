"""MariaDB GTID positions: parsing, printing, and the bookkeeping of a read.

A MariaDB GTID is ``domain-server-sequence`` (``0-1-42``); a *position* lists the last GTID of
every replication domain, comma separated (``0-1-42,1-3-7``), and is what a replica sends to say
where to continue (``@slave_connect_state``). Sequence numbers only grow inside a domain, so
"already read" is a per-domain comparison. (MySQL's GTIDs are ``uuid:number`` sets with gaps;
they are not handled here: MySQL resumes by file and position.)
"""

from __future__ import annotations

from collections.abc import Mapping

from lambda_connect.api import ConnectException

__all__ = ["GtidPosition", "parse_gtid"]


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
