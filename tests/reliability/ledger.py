"""The record ledger: what went in, by ``(topic, partition, offset)``, against what came out.

Every reliability scenario keeps one. It is told each record that entered the pipeline and
whether that record is meant to be good (target) or bad (dead letter queue); afterwards it is
shown the coordinates found in the target and in the DLQ and names every discrepancy:

* *lost*: a good record that is in neither place, or a bad one missing from the DLQ;
* *duplicated*: a coordinate present more than once (only a fault where exactly once is
  promised);
* *misrouted*: a good record in the DLQ, or a bad one in the target;
* *unknown*: a coordinate nobody sent (a phantom, or a record written under a wrong identity).

The figures of ``docs/RELIABILITY.md`` come from these counts.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Coord", "Ledger", "Verdict", "record_figure"]

Coord = tuple[str, int, int]


@dataclass
class Verdict:
    """The comparison of one scenario; ``ok`` when nothing it checked is wrong."""

    sent: int
    good: int
    bad: int
    lost: list[Coord] = field(default_factory=list)
    duplicated: dict[Coord, int] = field(default_factory=dict)
    misrouted: list[Coord] = field(default_factory=list)
    unknown: list[Coord] = field(default_factory=list)
    exactly_once: bool = True

    @property
    def ok(self) -> bool:
        return not (self.lost or self.misrouted or self.unknown or (self.exactly_once and self.duplicated))

    def summary(self) -> str:
        def head(items: Iterable[object]) -> str:
            items = list(items)
            return f"{len(items)} {items[:8]}{'...' if len(items) > 8 else ''}"

        return (f"sent {self.sent} (good {self.good}, bad {self.bad}); lost {head(self.lost)}; "
                f"duplicated {head(sorted(self.duplicated.items()))}; misrouted {head(self.misrouted)}; "
                f"unknown {head(self.unknown)}")


class Ledger:
    """Records that went into a pipeline, each marked good or bad."""

    def __init__(self) -> None:
        self.good: set[Coord] = set()
        self.bad: set[Coord] = set()

    def add(self, topic: str, partition: int, offset: int, *, bad: bool = False) -> Coord:
        coord = (topic, partition, offset)
        (self.bad if bad else self.good).add(coord)
        (self.good if bad else self.bad).discard(coord)
        return coord

    def add_range(self, topic: str, partition: int, offsets: Iterable[int], *, bad: Iterable[int] = ()) -> None:
        poison = set(bad)
        for offset in offsets:
            self.add(topic, partition, offset, bad=offset in poison)

    @property
    def sent(self) -> set[Coord]:
        return self.good | self.bad

    def check(self, target: Iterable[Coord], dlq: Iterable[Coord] = (), *, exactly_once: bool = True,
              expected_good: Iterable[Coord] | None = None) -> Verdict:
        """Compare; ``expected_good`` narrows the good records that must have arrived (a prefix
        when the pipeline stopped on purpose); the others must then be absent."""
        in_target, in_dlq = Counter(target), Counter(dlq)
        must = set(self.good if expected_good is None else expected_good)
        verdict = Verdict(len(self.sent), len(self.good), len(self.bad), exactly_once=exactly_once)
        verdict.lost = sorted(c for c in must if c not in in_target)
        verdict.lost += sorted(c for c in self.bad if c not in in_dlq and expected_good is None)
        verdict.duplicated = {c: n for c, n in (in_target + in_dlq).items() if n > 1}
        verdict.misrouted = sorted([c for c in in_dlq if c in self.good] + [c for c in in_target if c in self.bad])
        verdict.unknown = sorted(c for c in (in_target | in_dlq) if c not in self.sent)
        if expected_good is not None:  # records past the stop point must not be anywhere
            verdict.unknown += sorted(c for c in in_target if c in self.good and c not in must)
        return verdict

    def assert_delivered(self, target: Iterable[Coord], dlq: Iterable[Coord] = (), *, exactly_once: bool = True,
                         expected_good: Iterable[Coord] | None = None, scenario: str = "",
                         faults: int = 0) -> Verdict:
        """``check``, then fail with the discrepancies; ``scenario`` and ``faults`` (how many
        faults the scenario injected) go into the figures file."""
        verdict = self.check(target, dlq, exactly_once=exactly_once, expected_good=expected_good)
        if scenario:
            record_figure(scenario, verdict, faults=faults)
        assert verdict.ok, verdict.summary()
        return verdict


def record_figure(scenario: str, verdict: Verdict, **extra: object) -> None:
    """Append one scenario's counts to ``$LAMBDA_CONNECT_RELIABILITY_FIGURES`` (JSON lines), when
    set: how the tables of docs/RELIABILITY.md are filled from a run."""
    target = os.environ.get("LAMBDA_CONNECT_RELIABILITY_FIGURES")
    if not target:
        return
    row: Mapping[str, object] = {
        "scenario": scenario, "records": verdict.sent, "good": verdict.good, "bad": verdict.bad,
        "lost": len(verdict.lost), "duplicated": sum(n - 1 for n in verdict.duplicated.values()),
        "misrouted": len(verdict.misrouted), "unknown": len(verdict.unknown), **extra,
    }
    with Path(target).open("a") as out:
        out.write(json.dumps(row, sort_keys=True) + "\n")
