"""``lambda-connect demo`` (``make demo``): a real pipeline end to end, in well under a minute.

It starts the local runtime (embedded broker, state in a fresh temporary directory, so it can
be rerun), registers through the REST API a datagen source producing orders — a few of them
deliberately malformed — and a JDBC sink into a SQLite file with three SMTs and a dead letter
queue, shows live progress (produced, delivered, written, dead-lettered), then prints a
summary: rows in the table, the DLQ count with one example error header, connector status and
offsets. The connector configs are the files in ``examples/demo/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._config import load_connector_config
from ._http import ConnectClient, ConnectError, quote_name

if TYPE_CHECKING:
    from lambda_connect.aws.kafka_clients import KafkaSettings

__all__ = ["Progress", "process_age", "register", "run"]

SOURCE_FILE = "orders-source.json"
SINK_FILE = "orders-sink.json"
_BAR = 28
#: Seconds between two looks at the whole pipeline (offsets, group, table, DLQ) ...
_READ_INTERVAL_S = 0.25
#: ... and between two looks at the table until its first row is there.
_FIRST_ROW_INTERVAL_S = 0.05


@dataclass
class Progress:
    """What the pipeline has done so far, each number read from where it lives."""

    produced: int = 0
    delivered: int = 0
    written: int = 0
    dead_lettered: int = 0

    def done(self, total: int) -> bool:
        return self.produced >= total and self.delivered >= total and self.written + self.dead_lettered >= total


def _bar(label: str, value: int, total: int) -> str:
    filled = min(_BAR, int(_BAR * value / total)) if total else 0
    return f"  {label:<14} [{'#' * filled}{'.' * (_BAR - filled)}] {value:>6}/{total}"


class _Display:
    """Redraws four bars in place on a terminal; prints a line a second otherwise."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.tty = stream.isatty()
        self._drawn = False
        self._last_line = 0.0

    def show(self, p: Progress, *, final: bool = False) -> None:
        if self.tty:
            lines = [_bar("produced", p.produced, self.total), _bar("delivered", p.delivered, self.total),
                     _bar("written", p.written, self.total), _bar("dead-lettered", p.dead_lettered, self.total)]
            if self._drawn:
                self.stream.write(f"\x1b[{len(lines)}F")
            self.stream.write("\n".join(line + "\x1b[K" for line in lines) + "\n")
            self._drawn = True
        elif final or time.monotonic() - self._last_line >= 1.0:
            self.stream.write(f"  produced {p.produced}/{self.total}, delivered {p.delivered}, "
                              f"written {p.written}, dead-lettered {p.dead_lettered}\n")
            self._last_line = time.monotonic()
        self.stream.flush()


class _Probe:
    """Reads progress where it lives: the source's committed offsets (REST), the sink's consumer
    group, the SQLite table, and the DLQ topic (counted by reading it: a topic's end offset is
    not a record count on every broker)."""

    def __init__(self, client: ConnectClient, source: str, kafka: KafkaSettings, topic: str, dlq: str, group: str,
                 db: Path, table: str) -> None:
        from confluent_kafka import Consumer

        from lambda_connect.aws.kafka_clients import client_config

        self.client, self.source = client, source
        self.topic, self.dlq, self.db, self.table = topic, dlq, db, table
        # The runtime's client settings (e.g. its reconnect backoff on the embedded broker);
        # allow.auto.create.topics: ``create_topic`` asks for the topic as a producer would.
        self._group = Consumer(client_config(kafka, {"group.id": group, "enable.auto.commit": False,
                                                     "allow.auto.create.topics": True}))
        self._dlq = Consumer(client_config(kafka, {"group.id": f"demo-dlq-{uuid.uuid4().hex[:8]}",
                                                   "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
        self._dlq_assigned = False
        self.dead_lettered = 0
        self.first_dlq_headers: dict[str, str] = {}

    def create_topic(self) -> bool:
        """Have the broker create the topic as the source's first record would (auto-creation, the
        broker's defaults), so that the sink's mapping finds it in its first metadata: a mapping
        subscribed to a topic that does not exist yet sees it only at its next metadata refresh,
        two seconds later, then joins its group again. True if the topic exists now."""
        metadata = self._group.list_topics(self.topic, timeout=5).topics.get(self.topic)
        return metadata is not None and metadata.error is None and bool(metadata.partitions)

    def produced(self) -> int:
        offsets = self.client.request("GET", f"/connectors/{quote_name(self.source)}/offsets").get("offsets", [])
        return sum(int((o.get("offset") or {}).get("current.iteration", 0)) for o in offsets)

    def delivered(self) -> int:
        from confluent_kafka import TopicPartition

        metadata = self._group.list_topics(self.topic, timeout=5).topics.get(self.topic)
        if metadata is None or metadata.error is not None:
            return 0
        wanted = [TopicPartition(self.topic, p) for p in metadata.partitions]
        return sum(max(tp.offset, 0) for tp in self._group.committed(wanted, timeout=5))

    def _count_dlq(self) -> None:
        from confluent_kafka import TopicPartition

        if not self._dlq_assigned:
            metadata = self._dlq.list_topics(self.dlq, timeout=5).topics.get(self.dlq)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                return
            self._dlq.assign([TopicPartition(self.dlq, p, 0) for p in metadata.partitions])
            self._dlq_assigned = True
        for message in self._dlq.consume(num_messages=10_000, timeout=0):  # what has arrived; never wait
            if message.error() is not None:
                continue
            self.dead_lettered += 1
            if not self.first_dlq_headers:
                self.first_dlq_headers = {k: (v or b"").decode("utf-8", "replace")
                                          for k, v in (message.headers() or []) if k.startswith("__connect.errors.")}

    def read(self) -> Progress:
        self._count_dlq()
        return Progress(self.produced(), self.delivered(), self.rows(), self.dead_lettered)

    def rows(self) -> int:
        if not self.db.exists():
            return 0
        try:
            with sqlite3.connect(self.db) as conn:
                return int(conn.execute(f'SELECT COUNT(*) FROM "{self.table}"').fetchone()[0])
        except sqlite3.Error:  # the table does not exist until the first batch creates it
            return 0

    def sample_rows(self, limit: int = 3) -> tuple[list[str], list[tuple[Any, ...]]]:
        with sqlite3.connect(self.db) as conn:
            cursor = conn.execute(f'SELECT * FROM "{self.table}" ORDER BY 1 LIMIT {int(limit)}')
            return [d[0] for d in cursor.description], cursor.fetchall()

    def close(self) -> None:
        self._group.close()
        self._dlq.close()


def process_age() -> float:
    """Seconds since this process started (Linux: its start time in ``/proc``), 0 where unknown."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / ticks
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0
    return age if 0.0 <= age < 3600.0 else 0.0


def _configs(examples: Path, db: Path) -> tuple[dict[str, str], dict[str, str]]:
    source = load_connector_config(str(examples / SOURCE_FILE))
    sink = load_connector_config(str(examples / SINK_FILE))
    sink["connection.url"] = f"jdbc:sqlite:{db}"
    return source, sink


def _print_summary(out: TextIO, client: ConnectClient, probe: _Probe, names: list[str], progress: Progress,
                   first_row_s: float | None, elapsed_s: float, rate: float) -> None:
    from ._output import print_table

    out.write("\nSummary\n=======\n")
    columns, rows = probe.sample_rows()
    out.write(f"Rows in table '{probe.table}' ({probe.db}): {progress.written}\n")
    print_table(columns, rows, out)
    out.write(f"\nDead-lettered records in '{probe.dlq}': {progress.dead_lettered}\n")
    example = probe.first_dlq_headers
    for key in ("__connect.errors.stage", "__connect.errors.exception.class.name",
                "__connect.errors.exception.message", "__connect.errors.offset"):
        if key in example:
            out.write(f"  {key}: {example[key][:160]}\n")
    out.write("\nConnectors\n")
    status_rows = []
    for name in names:
        status = client.request("GET", f"/connectors/{quote_name(name)}/status")
        tasks = ", ".join(f"{t['id']}:{t['state']}" for t in status.get("tasks", []))
        status_rows.append((name, status.get("type", ""), status["connector"]["state"], tasks))
    print_table(("NAME", "TYPE", "STATE", "TASKS"), status_rows, out)
    out.write("\nOffsets\n")
    offset_rows = []
    for name in names:
        for item in client.request("GET", f"/connectors/{quote_name(name)}/offsets").get("offsets", []):
            offset_rows.append((name, item.get("partition"), item.get("offset")))
    print_table(("CONNECTOR", "PARTITION", "OFFSET"), offset_rows, out)
    first = f"{first_row_s:.1f} s" if first_row_s is not None else "n/a"
    out.write(f"\nTime to first row: {first}; all {progress.produced} records through in {elapsed_s:.1f} s "
              f"({rate:,.0f} records/s end to end)\n")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "pipeline", "orders") == "cdc":
        from .demo_cdc import run as run_cdc

        return run_cdc(args)
    from lambda_connect.local.functions import project_root
    from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

    from .up import configure_logging

    started = time.monotonic() - process_age()  # the wait a person sees includes Python's start and imports
    out = sys.stdout
    configure_logging("human", "WARNING" if not args.verbose else "INFO")
    if not args.verbose:
        # errors.log.enable logs every dead-lettered record; the summary shows one instead.
        logging.getLogger("lambda_connect.runtime.dlq").setLevel(logging.CRITICAL)
    root = Path(args.root) if args.root else project_root()
    examples = Path(args.examples) if args.examples else root / "examples" / "demo"
    workdir = Path(tempfile.mkdtemp(prefix="lambda-connect-demo-"))
    db = workdir / "orders.db"
    source, sink = _configs(examples, db)
    total = int(source.get("iterations", "0")) * int(source.get("tasks.max", "1"))
    if total <= 0:
        sys.stderr.write(f"Error: {examples / SOURCE_FILE} must set a positive 'iterations' for the demo\n")
        return 2
    out.write(f"Starting lambda-connect locally (state in {workdir})…\n")
    quiet = {} if args.verbose else {"LAMBDA_CONNECT_KAFKA_LOG_CONNECTION_CLOSE": "false"}
    runtime = LocalRuntime(RuntimeOptions(state_url=f"sqlite:///{workdir}/state.db", port=args.port, root=root,
                                          reconcile_interval=5.0, extra_env=quiet)).start()
    probe: _Probe | None = None
    try:
        out.write(f"  REST API {runtime.url}, Kafka {runtime.bootstrap_servers} (embedded tansu)\n")
        client = ConnectClient(runtime.url)
        from lambda_connect.runtime.platform import assign_consumer_groups

        topic = sink["topics"]
        group = assign_consumer_groups(sink["name"], [topic], {})[topic]
        probe = _Probe(client, source["name"], runtime.platform.kafka, topic,
                       sink["errors.deadletterqueue.topic.name"], group, db, sink.get("table.name.format", topic))
        if source.get("kafka.topic") == topic and not any(k.startswith("topic.creation.") for k in source):
            probe.create_topic()  # else the source creates it as its config says
        for config in (sink, source):
            client.request("POST", "/connectors", {"name": config["name"], "config": config})
            out.write(f"  registered {config['name']} ({config['connector.class'].rsplit('.', 1)[-1]})\n")
        out.write(f"\nMoving {total} orders ({source.get('malformed.rate', '0')} malformed) "
                  f"{source['kafka.topic']} → SQLite:\n")
        display = _Display(out, total)
        first_row_s: float | None = None
        first_produced: float | None = None
        progress = Progress()
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            progress = probe.read()
            now = time.monotonic()
            if first_produced is None and progress.produced:
                first_produced = now
            if first_row_s is None and progress.written:
                first_row_s = now - started
            if progress.done(total):
                display.show(progress, final=True)
                break
            display.show(progress)
            next_read = now + _READ_INTERVAL_S
            # The first row is what the person waiting looks for: until it is there, the table
            # (one COUNT) is looked at more often than the rest.
            while first_row_s is None and time.monotonic() + _FIRST_ROW_INTERVAL_S < next_read:
                time.sleep(_FIRST_ROW_INTERVAL_S)
                if probe.rows():
                    first_row_s = time.monotonic() - started
            time.sleep(max(0.0, next_read - time.monotonic()))
        else:
            display.show(progress)
            sys.stderr.write(f"Error: the pipeline did not finish within {args.timeout} s: {progress}\n")
            return 1
        elapsed = time.monotonic() - started
        rate = progress.produced / max(time.monotonic() - (first_produced or started), 1e-6)
        _print_summary(out, client, probe, [source["name"], sink["name"]], progress, first_row_s, elapsed, rate)
        return 0
    except ConnectError as e:
        sys.stderr.write(f"Error (HTTP {e.status}): {e.message}\n")
        return 1
    finally:
        if probe is not None:
            probe.close()
        runtime.stop()


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="run a datagen → Kafka → JDBC (SQLite) pipeline locally and summarise it")
    p.add_argument("pipeline", nargs="?", choices=("orders", "cdc"), default="orders",
                   help="orders (default), or cdc: PostgreSQL change data capture into SQLite")
    p.add_argument("--rows", type=int, default=20000, help="cdc: rows in the PostgreSQL table")
    p.add_argument("--port", type=int, default=0, help="REST port (default: a free one)")
    p.add_argument("--timeout", type=float, default=50.0, help="give up after this many seconds")
    p.add_argument("--examples", help="directory with orders-source.json and orders-sink.json")
    p.add_argument("--root", help="project directory with template.yaml and functions/")
    p.add_argument("--verbose", action="store_true", help="show the runtime's log")
    p.set_defaults(handler=run)
