"""Private database servers for the CDC tests, started once per test session.

The shared PostgreSQL runs ``wal_level=replica`` and the shared MariaDB keeps no binlog, so these
tests start their own: a PostgreSQL cluster with ``wal_level=logical`` (``ThrowawayPostgres``
from ``tests/fixtures/throwaway_pg.py``) and, for the binlog tests, a MariaDB with a row-based
binlog. A failure to start one fails the tests in CI and skips them elsewhere.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from lambda_connect.api import OffsetStorageReader, SourceRecord, SourceTaskContext

from tests.fixtures.services import service_unavailable
from tests.fixtures.throwaway_pg import PG_BIN, ThrowawayPostgres


@pytest.fixture(scope="session")
def logical_pg() -> Iterator[ThrowawayPostgres]:
    cluster = ThrowawayPostgres({"wal_level": "logical", "max_replication_slots": "16", "max_wal_senders": "16"})
    try:
        cluster.start()
    except (FileNotFoundError, subprocess.CalledProcessError) as e:
        cluster.close()
        service_unavailable("Throwaway PostgreSQL with wal_level=logical", str(PG_BIN),
                            RuntimeError(getattr(e, "stderr", "") or str(e)))
    try:
        yield cluster
    finally:
        cluster.close()


class Offsets(OffsetStorageReader):
    """The runtime's offset store in miniature: the last committed offset per partition."""

    def __init__(self) -> None:
        self.committed: dict[str, dict[str, Any]] = {}

    @staticmethod
    def key(partition: Mapping[str, Any]) -> str:
        return json.dumps(partition, sort_keys=True)

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> dict[Any, dict[str, Any] | None]:
        return {self.key(p): self.committed.get(self.key(p)) for p in partitions}

    def commit(self, records: Sequence[SourceRecord]) -> None:
        for r in records:
            if r.source_offset is not None:
                self.committed[self.key(r.source_partition or {})] = dict(r.source_offset)


def run_tick(task_class: type, props: Mapping[str, str], offsets: Offsets, *, ack: int | None = None,
             max_polls: int = 10_000) -> list[SourceRecord]:
    """One invocation as the runtime drives it: start, poll until nothing is left, then acknowledge
    and commit the first ``ack`` records (all when None), call ``commit`` and stop."""
    task = task_class()
    task.initialize(SourceTaskContext("cdc-test", 0, dict(props), offsets))
    task.start(dict(props))
    out: list[SourceRecord] = []
    try:
        for _ in range(max_polls):
            batch = task.poll()
            if not batch:
                break
            out.extend(batch)
        acked = out if ack is None else out[:ack]
        for r in acked:
            task.commit_record(r, None)
        offsets.commit(acked)
        if acked:
            task.commit()
    finally:
        task.stop()
    return out
