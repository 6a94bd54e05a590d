"""Private database servers for the CDC tests, started once per test session.

The shared PostgreSQL runs ``wal_level=replica`` and the shared MariaDB keeps no binlog, so these
tests start their own: a PostgreSQL cluster with ``wal_level=logical`` (``ThrowawayPostgres``
from ``tests/fixtures/throwaway_pg.py``) and, for the binlog tests, a MariaDB with a row-based
binlog. A failure to start one fails the tests in CI and skips them elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import uuid
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
             max_polls: int = 10_000, tasks: list[Any] | None = None) -> list[SourceRecord]:
    """One invocation as the runtime drives it: start, poll until nothing is left, then acknowledge
    and commit the first ``ack`` records (all when None), call ``commit`` and stop. The stopped
    task is appended to ``tasks`` when given (to read what it reports after the run)."""
    task = task_class()
    if tasks is not None:
        tasks.append(task)
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


class ThrowawayMariaDB:
    """A private MariaDB with a row-based binlog (full row images and column metadata)."""

    def __init__(self) -> None:
        import shutil
        import tempfile
        from pathlib import Path

        from tests.fixtures.throwaway_pg import free_port

        self.root = Path(tempfile.mkdtemp(prefix="lc-throwaway-mariadb-"))
        shutil.chown(self.root, "mysql", "mysql")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ThrowawayMariaDB:
        import shutil
        import time

        data = self.root / "data"
        if shutil.which("mariadb-install-db") is None or shutil.which("mariadbd") is None:
            raise FileNotFoundError("mariadb-install-db / mariadbd are not installed")
        subprocess.run(["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={data}",
                        "--auth-root-authentication-method=normal", "--skip-test-db"], check=True,
                       capture_output=True, timeout=120)
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}", f"--socket={self.root}/sock",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--log-bin={data}/binlog", "--binlog-format=ROW",
             "--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--server-id=1", f"--pid-file={self.root}/pid",
             "--innodb-buffer-pool-size=32M", "--skip-name-resolve", "--innodb-flush-log-at-trx-commit=0",
             "--sync-binlog=0"],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "err.log", "wb"))  # noqa: SIM115
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.execute("SELECT 1")
                return self
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((self.root / "err.log").read_text()[-2000:]) from None
                time.sleep(0.2)

    def connect(self, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", database=database,
                               autocommit=True)

    def execute(self, *statements: str, database: str | None = None) -> list[tuple]:
        conn = self.connect(database)
        try:
            rows: list[tuple] = []
            with conn.cursor() as cur:
                for s in statements:
                    cur.execute(s)
                    rows = list(cur.fetchall())
            return rows
        finally:
            conn.close()

    def close(self) -> None:
        import shutil

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def binlog_mariadb() -> Iterator[ThrowawayMariaDB]:
    server = ThrowawayMariaDB()
    try:
        server.start()
    except (FileNotFoundError, RuntimeError, subprocess.CalledProcessError) as e:
        server.close()
        service_unavailable("Throwaway MariaDB with a binlog", "mariadbd", e)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def db(binlog_mariadb: ThrowawayMariaDB) -> Iterator[tuple[ThrowawayMariaDB, str]]:
    """A fresh database of the private binlog MariaDB for one test, and its name; dropped after."""
    name = "d" + uuid.uuid4().hex[:8]
    binlog_mariadb.execute(f"CREATE DATABASE {name}")
    yield binlog_mariadb, name
    binlog_mariadb.execute(f"DROP DATABASE {name}")
