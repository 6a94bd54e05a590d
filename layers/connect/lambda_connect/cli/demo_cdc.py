"""``lambda-connect demo cdc``: PostgreSQL change data capture end to end on this machine.

It starts a private PostgreSQL cluster with ``wal_level=logical`` (the server binaries must be
installed; the demo says what is missing otherwise), fills a table, then runs the local runtime
with the PostgreSQL CDC source (Debezium's events into Kafka) and a JDBC sink into SQLite that
unwraps them (ExtractNewRecordState, upsert, deletes). While the snapshot is read, a writer
updates, deletes and inserts rows. The demo ends when the SQLite table equals the PostgreSQL
table row for row, and prints what it took.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["run"]

TABLE = "customers"


def _pg_bin() -> Path | None:
    env = os.environ.get("LAMBDA_CONNECT_PG_BIN")
    candidates = [env] if env else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


class _Cluster:
    """A throwaway cluster in ``root``; run as the ``postgres`` OS user when we are root."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin, self.root, self.data = bin_dir, root, root / "pgdata"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.as_root = os.geteuid() == 0
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, cwd=self.root, timeout=120)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "--no-instructions")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.root}'\n"
                       "wal_level = logical\nmax_replication_slots = 4\nfsync = off\n")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # already down
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True)


def _writer(cluster: _Cluster, rows: int, stop: threading.Event, counts: dict[str, int]) -> None:
    with cluster.connect() as conn:
        n = 0
        while not stop.is_set() and n < 500:
            n += 1
            conn.execute(f"UPDATE {TABLE} SET name = %s, visits = visits + 1 WHERE id = %s", (f"changed-{n}", n * 37))
            conn.execute(f"DELETE FROM {TABLE} WHERE id = %s", (n * 41 + 1,))
            conn.execute(f"INSERT INTO {TABLE} VALUES (%s, 'new', 0, 9.99) ON CONFLICT DO NOTHING", (rows + n,))
            counts["changes"] += 3
            time.sleep(0.005)


def _tables_equal(cluster: _Cluster, db: Path) -> tuple[bool, int]:
    with cluster.connect() as conn:
        expected = [tuple(r) for r in conn.execute(f"SELECT id, name, visits, balance::text FROM {TABLE} ORDER BY id")]
    if not db.exists():
        return False, 0
    try:
        with sqlite3.connect(db) as lite:
            got = [(r[0], r[1], r[2], f"{r[3]:.2f}" if r[3] is not None else None) for r in lite.execute(
                f'SELECT id, name, visits, CAST(balance AS REAL) FROM "{TABLE}" ORDER BY id')]
    except sqlite3.Error:  # the sink has not created the table yet
        return False, 0
    return got == expected, len(got)


def run(args: argparse.Namespace) -> int:
    bin_dir = _pg_bin()
    if bin_dir is None:
        sys.stderr.write("The CDC demo needs the PostgreSQL server binaries (initdb, pg_ctl), for example "
                         "'apt-get install postgresql-15', or LAMBDA_CONNECT_PG_BIN pointing at their directory.\n")
        return 2
    try:
        import psycopg  # noqa: F401
    except ImportError:
        sys.stderr.write("The CDC demo needs psycopg: pip install 'lambda-connect[cdc]'\n")
        return 2
    from lambda_connect.local.functions import project_root
    from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

    from ._http import ConnectClient, ConnectError, quote_name
    from .up import configure_logging

    configure_logging("human", "INFO" if args.verbose else "WARNING")
    out = sys.stdout
    rows = int(args.rows)
    workdir = Path(tempfile.mkdtemp(prefix="lambda-connect-cdc-demo-"))
    cluster = _Cluster(bin_dir, workdir)
    runtime = None
    started = time.monotonic()
    try:
        out.write(f"Starting a private PostgreSQL ({bin_dir}) with wal_level=logical…\n")
        cluster.start()
        with cluster.connect() as conn:
            conn.execute(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, name text NOT NULL, visits int NOT NULL, "
                         "balance numeric(12,2))")
            conn.execute(f"INSERT INTO {TABLE} SELECT g, 'customer-' || g, g % 50, g * 0.5 "
                         f"FROM generate_series(1, {rows}) g")
        out.write(f"  {rows} rows in {TABLE}\n")
        db = workdir / "replica.db"
        quiet = {} if args.verbose else {"LAMBDA_CONNECT_KAFKA_LOG_CONNECTION_CLOSE": "false"}
        runtime = LocalRuntime(RuntimeOptions(state_url=f"sqlite:///{workdir}/state.db", port=args.port,
                                              root=project_root(), reconcile_interval=2.0,
                                              extra_env=quiet)).start()
        client = ConnectClient(runtime.url)
        conv = {"key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter"}
        source = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector",
                  "database.hostname": "127.0.0.1", "database.port": str(cluster.port), "database.user": "postgres",
                  "database.dbname": "postgres", "topic.prefix": "demo", "table.include.list": f"public\\.{TABLE}",
                  "publication.autocreate.mode": "filtered", "snapshot.fetch.size": "5000", "poll.interval.ms": "1000",
                  "topic.creation.default.partitions": "1", "topic.creation.default.replication.factor": "1", **conv}
        sink = {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": f"demo.public.{TABLE}",
                "connection.url": f"jdbc:sqlite:{db}", "table.name.format": TABLE, "auto.create": "true",
                "insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": "true",
                "transforms": "unwrap", "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
                "lambda.batch.size": "2000", "lambda.maximum.batching.window.seconds": "1", **conv}
        for name, config in (("demo-replica", sink), ("demo-cdc", source)):
            client.request("POST", "/connectors", {"name": name, "config": config})
            out.write(f"  registered {name} ({config['connector.class'].rsplit('.', 1)[-1]})\n")
        counts = {"changes": 0}
        stop = threading.Event()
        writer = threading.Thread(target=_writer, args=(cluster, rows, stop, counts), daemon=True)
        writer.start()
        out.write("Snapshot + streaming (updates, deletes and inserts run meanwhile)…\n")
        deadline = time.monotonic() + args.timeout
        last = -1
        equal, copied = False, 0
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if writer.is_alive() and time.monotonic() - started > 8:
                stop.set()
            equal, copied = _tables_equal(cluster, db)
            if copied != last:
                out.write(f"  replica rows: {copied}\n")
                last = copied
            if equal and not writer.is_alive():
                break
        stop.set()
        if not equal:
            sys.stderr.write(f"Error: the replica did not match within {args.timeout} s ({copied} rows copied)\n")
            return 1
        with cluster.connect() as conn:
            lag = conn.execute("SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                               "WHERE slot_name = 'debezium'").fetchone()[0]
        status = client.request("GET", f"/connectors/{quote_name('demo-cdc')}/status")
        state = status["tasks"][0]["state"] if status.get("tasks") else "?"
        out.write(f"\nThe SQLite replica equals the PostgreSQL table: {copied} rows, after {counts['changes']} "
                  f"concurrent changes, {time.monotonic() - started:.1f} s in all.\n"
                  f"Slot 'debezium' lag: {int(lag)} bytes; source task {state}.\n")
        return 0
    except ConnectError as e:
        sys.stderr.write(f"Error (HTTP {e.status}): {e.message}\n")
        return 1
    except subprocess.CalledProcessError as e:
        sys.stderr.write(f"Error: starting PostgreSQL failed: {e.stderr or e}\n")
        return 1
    finally:
        if runtime is not None:
            runtime.stop()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
