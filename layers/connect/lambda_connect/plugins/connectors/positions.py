"""Positions a sink keeps outside Kafka (high-water marks), tied to the topic's incarnation.

A sink that skips records at or below its stored mark would skip every record of a topic
that was deleted and created again, or of a new broker, because offsets start at 0 again.
So each mark is stored with the topic identity it counts in (``SinkTaskContext
.topic_identity``) and checked here before the mark filters anything:

* the identity is taken from the runtime's per-container cache; it is asked afresh only when
  the batch looks like a redelivery (some partition's lowest offset is at or below its mark)
  or a stored identity differs from the cached one (another container may have seen the new
  incarnation first, or this one cached a stale answer);
* a mark without an identity (written by an older version, or before the identity was
  known) is claimed: it keeps its offset and gets the current identity;
* a mark under a different identity belongs to an earlier incarnation: it counts as -1 (every
  record of the batch is new), is re-keyed to the new identity, and a WARN names the topic,
  the partition and both identities;
* when the identity cannot be known (None), marks are used as they are.

Shared by the JDBC, S3 and Iceberg sinks; depends on nothing but the standard library.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["IdentityCheck", "Reset", "current_identities", "reconcile", "warn_resets"]

log = logging.getLogger(__name__)

Partition = tuple[str, int]
#: ``(topic, refresh) -> identity``: ``SinkTaskContext.topic_identity`` without keywords.
IdentityLookup = Callable[[str, bool], "str | None"]


@dataclass(frozen=True)
class Reset:
    """A mark found under another incarnation's identity."""

    partition: Partition
    old_identity: str
    new_identity: str
    old_offset: int


@dataclass
class IdentityCheck:
    """What the stored marks mean for this batch."""

    #: Marks to filter by: stored offsets, with those of an earlier incarnation at -1.
    offsets: dict[Partition, int]
    #: Partitions whose stored (offset, identity) must be rewritten before the marks advance.
    rekey: dict[Partition, tuple[int, str]]
    resets: list[Reset]


def current_identities(
    lowest: Mapping[Partition, int],
    offsets: Mapping[Partition, int],
    identities: Mapping[Partition, str | None],
    lookup: IdentityLookup,
) -> dict[str, str | None]:
    """The identity of each topic of the batch: cached, or asked again when something looks off."""
    out: dict[str, str | None] = {}
    suspicious: set[str] = set()
    for p, low in lowest.items():
        topic = p[0]
        if topic not in out:
            out[topic] = lookup(topic, False)
        stored = identities.get(p)
        if low <= offsets.get(p, -1) or (stored is not None and stored != out[topic]):
            suspicious.add(topic)
    for topic in suspicious:
        out[topic] = lookup(topic, True)
    return out


def reconcile(
    offsets: Mapping[Partition, int],
    identities: Mapping[Partition, str | None],
    current: Mapping[str, str | None],
) -> IdentityCheck:
    """Apply the rules of the module docstring to stored marks; pure, so it can run under a lock."""
    effective = dict(offsets)
    rekey: dict[Partition, tuple[int, str]] = {}
    resets: list[Reset] = []
    for p, stored in identities.items():
        now = current.get(p[0])
        if now is None or stored == now:
            continue
        if stored is None:
            rekey[p] = (effective.get(p, -1), now)
        else:
            resets.append(Reset(p, stored, now, effective.get(p, -1)))
            effective[p] = -1
            rekey[p] = (-1, now)
    return IdentityCheck(effective, rekey, resets)


def warn_resets(connector: str, resets: list[Reset], where: str) -> None:
    """One WARN per reset partition: a user must learn that a topic's history started over."""
    for r in resets:
        topic, partition = r.partition
        log.warning(
            "Topic %s was reset: connector %s found the mark of partition %d (offset %d) in %s under topic "
            "identity %s, but the topic is now %s. The mark is re-keyed to the new identity and every record "
            "of the new topic is delivered.",
            topic, connector, partition, r.old_offset, where, r.old_identity, r.new_identity,
            extra={"connector": connector, "topic": topic, "partition": partition,
                   "old_identity": r.old_identity, "new_identity": r.new_identity},
        )
