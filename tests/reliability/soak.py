"""Soak: ``lambda-connect up`` moving a steady stream for a long time, with a fault every few minutes.

    python -m tests.reliability.soak --minutes 30 --fault-every 150 --out soak.json   (``make soak``)

The pipeline: a datagen source (``pageviews``: the ``viewtime`` field numbers the iterations,
so a gap in the source is visible) into a 3-partition topic, and two sinks reading it — JDBC into
SQLite (exactly once) and FileStreamSink (at least once). Both copy each record's coordinates into
the value (``InsertField$Value``), so the end state is checked by topic, partition and offset
against the topic itself. The broker is a tansu process the soak starts and keeps running across
the runtime's restarts (``--bootstrap-servers``); ``up`` is a child process, restarted after the
faults that end it.

Faults, in turn: SIGKILL of ``up`` (restart), pause + resume of the JDBC sink, the target database
locked for 20 s (an outage), a sink config update, SIGINT of ``up`` (restart), pause + resume of
the source, a task restart through the REST API. Every 10 s a sample of the ``up`` process: RSS,
open file descriptors, threads, rows written. At the end the source is paused, the sinks drain,
and the figures are printed (and written as JSON with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 3
READY_LINE = "Press Ctrl-C to stop."


@dataclass
class Sample:
    at_s: float
    pid: int
    rss_mib: float
    fds: int
    threads: int
    rows: int


@dataclass
class Figures:
    minutes: float
    faults: list[dict[str, Any]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    restarts: int = 0
    result: dict[str, Any] = field(default_factory=dict)


def _proc_status(pid: int) -> tuple[float, int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


class Up:
    """One ``lambda-connect up`` child process."""

    def __init__(self, work: Path, broker: str, files: list[Path], tag: int) -> None:
        self.out = work / f"up-{tag}.out"
        self.err = work / f"up-{tag}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lambda_connect.cli", "up", "--port", "0", "--bootstrap-servers", broker,
                 "--state", f"sqlite:///{work}/state.db", *map(str, files)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=ROOT, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + 120
        while READY_LINE not in self.out.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"up did not start:\n{self.err.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        self.url = re.search(r"REST API: (http://127\.0\.0\.1:\d+)", self.out.read_text()).group(1)  # type: ignore[union-attr]

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)

    def rest(self, method: str, path: str, body: Any = None) -> requests.Response:
        response = requests.request(method, self.url + path, json=body, timeout=30)
        if response.status_code >= 500:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response


class Soak:
    def __init__(self, minutes: float, fault_every: float, work: Path, interval_ms: int) -> None:
        self.minutes, self.fault_every, self.work = minutes, fault_every, work
        self.interval_ms = interval_ms
        self.figures = Figures(minutes)
        self.topic = "soak-pageviews"
        self.db = work / "target.db"
        self.lines = work / "target.txt"
        self.up: Up | None = None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.started = time.monotonic()

    # --- setup -----------------------------------------------------------------------------
    def connector_files(self) -> list[Path]:
        coords = {"transforms": "coords",
                  "transforms.coords.type": "org.apache.kafka.connect.transforms.InsertField$Value",
                  "transforms.coords.topic.field": "kt", "transforms.coords.partition.field": "kp",
                  "transforms.coords.offset.field": "ko"}
        json_values = {"key.converter": "org.apache.kafka.connect.storage.StringConverter",
                       "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                       "value.converter.schemas.enable": "false"}
        configs = {
            "source": {"connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector", "tasks.max": "1",
                       "kafka.topic": self.topic, "quickstart": "pageviews", "iterations": "-1",
                       "max.interval": str(self.interval_ms), "random.seed": "11", **json_values},
            "jdbc": {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": self.topic,
                     "connection.url": f"jdbc:sqlite:{self.db}", "auto.create": "true", "insert.mode": "insert",
                     "pk.mode": "none", "table.name.format": "pageviews", "lambda.batch.size": "500",
                     "lambda.maximum.batching.window.seconds": "1", **json_values, **coords},
            "file": {"connector.class": "FileStreamSinkConnector", "topics": self.topic, "file": str(self.lines),
                     "lambda.batch.size": "500", "lambda.maximum.batching.window.seconds": "1",
                     **json_values, **coords},
        }
        files = []
        for name, config in configs.items():
            path = self.work / f"soak-{name}.json"
            path.write_text(json.dumps({"name": f"soak-{name}", "config": config}))
            files.append(path)
        return files

    def start_up(self) -> None:
        with self.lock:
            self.figures.restarts += 1
            self.up = Up(self.work, self.broker, self.files, self.figures.restarts)

    # --- measures ----------------------------------------------------------------------------
    def rows(self) -> int:
        if not self.db.exists():
            return 0
        try:
            with sqlite3.connect(self.db, timeout=30) as conn:
                return int(conn.execute("SELECT count(*) FROM pageviews").fetchone()[0])
        except sqlite3.OperationalError:
            return -1

    def topic_records(self) -> dict[tuple[str, int, int], int]:
        """Every record of the topic, read back: coordinates → datagen iteration (``viewtime = 1 +
        10 * n``). Read rather than taken from the high watermarks, which tansu reports per record
        batch, not per record."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.broker, "group.id": "soak-read", "enable.auto.commit": False})
        consumer.assign([TopicPartition(self.topic, p, 0) for p in range(PARTITIONS)])
        out: dict[tuple[str, int, int], int] = {}
        idle = 0
        try:
            while idle < 3:
                batch = consumer.consume(num_messages=5000, timeout=2)
                idle = 0 if batch else idle + 1
                for m in batch:
                    if m.error() is None:
                        out[(m.topic(), m.partition(), m.offset())] = (json.loads(m.value())["viewtime"] - 1) // 10
        finally:
            consumer.close()
        return out

    def sample_loop(self) -> None:
        while not self._stop.wait(10):
            with self.lock:
                up = self.up
            if up is None or up.process.poll() is not None:
                continue
            try:
                rss, fds, threads = _proc_status(up.pid)
                sample = Sample(round(time.monotonic() - self.started, 1), up.pid, round(rss, 1), fds, threads,
                                self.rows())
            except (OSError, AttributeError):
                continue  # the process went away between the check and the read
            self.figures.samples.append(sample)
            print(f"[{sample.at_s:7.0f}s] pid {sample.pid} rss {sample.rss_mib} MiB fds {sample.fds} "
                  f"threads {sample.threads} rows {sample.rows}", flush=True)

    # --- faults ------------------------------------------------------------------------------
    def faults(self) -> list[tuple[str, Callable[[], None]]]:
        def kill() -> None:
            assert self.up is not None
            self.up.kill()
            self.start_up()

        def interrupt() -> None:
            assert self.up is not None
            code = self.up.interrupt()
            if code != 0:
                raise RuntimeError(f"up exited with {code} on SIGINT")
            self.start_up()

        def pause_resume(name: str) -> Callable[[], None]:
            def run() -> None:
                assert self.up is not None
                self.up.rest("PUT", f"/connectors/{name}/pause")
                time.sleep(15)
                self.up.rest("PUT", f"/connectors/{name}/resume")
            return run

        def lock_database() -> None:
            conn = sqlite3.connect(self.db, timeout=30, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                time.sleep(20)
                conn.execute("COMMIT")
            finally:
                conn.close()

        def update_config() -> None:
            assert self.up is not None
            config = self.up.rest("GET", "/connectors/soak-jdbc/config").json()
            config["lambda.batch.size"] = "300" if config.get("lambda.batch.size") == "500" else "500"
            self.up.rest("PUT", "/connectors/soak-jdbc/config", config)

        def restart_tasks() -> None:
            assert self.up is not None
            self.up.rest("POST", "/connectors/soak-file/restart?includeTasks=true")

        return [("SIGKILL of up, restart", kill), ("JDBC sink paused 15 s", pause_resume("soak-jdbc")),
                ("target database locked 20 s", lock_database), ("JDBC sink config updated", update_config),
                ("SIGINT of up, restart", interrupt), ("source paused 15 s", pause_resume("soak-source")),
                ("file sink restarted with its tasks", restart_tasks)]

    # --- the run -----------------------------------------------------------------------------
    def run(self) -> Figures:
        from confluent_kafka.admin import AdminClient
        from lambda_connect.aws.kafka_clients import ensure_topic
        from lambda_connect.local.broker import EmbeddedBroker

        with EmbeddedBroker(log_path=self.work / "tansu.log") as broker:
            self.broker = broker.bootstrap_servers
            ensure_topic(AdminClient({"bootstrap.servers": self.broker}), self.topic, PARTITIONS, 1)
            self.files = self.connector_files()
            self.start_up()
            sampler = threading.Thread(target=self.sample_loop, daemon=True)
            sampler.start()
            try:
                self.fault_loop()
                self.figures.result = self.finish()
            finally:
                self._stop.set()
                if self.up is not None and self.up.process.poll() is None:
                    self.up.kill()
        return self.figures

    def fault_loop(self) -> None:
        end = self.started + self.minutes * 60
        faults = self.faults()
        index = 0
        while True:
            next_at = self.started + (index + 1) * self.fault_every
            if next_at >= end - 30:
                break
            time.sleep(max(next_at - time.monotonic(), 0))
            name, fault = faults[index % len(faults)]
            at = round(time.monotonic() - self.started, 1)
            print(f"[{at:7.0f}s] fault: {name}", flush=True)
            try:
                fault()
                outcome = "survived"
            except Exception as e:  # a fault the runtime did not survive is a finding, keep soaking
                outcome = f"{type(e).__name__}: {e}"
                if self.up is None or self.up.process.poll() is not None:
                    self.start_up()
            self.figures.faults.append({"at_s": at, "fault": name, "outcome": outcome})
            index += 1
        time.sleep(max(end - time.monotonic(), 0))

    def finish(self) -> dict[str, Any]:
        assert self.up is not None
        self.up.rest("PUT", "/connectors/soak-source/pause")
        time.sleep(8)  # a source invocation in flight ends within its budget
        produced = self.topic_records()
        expected = set(produced)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if expected <= set(self.jdbc_coords()) and expected <= set(self.file_coords()):
                break
            time.sleep(2)
        drained_in = round(300 - (deadline - time.monotonic()), 1)
        code = self.up.interrupt()
        jdbc, lines = Counter(self.jdbc_coords()), Counter(self.file_coords())
        seen = Counter(produced.values())
        top = max(seen) if seen else -1
        return {
            "topic_records": len(expected), "drain_seconds": drained_in, "final_exit_code": code,
            "jdbc": {"rows": sum(jdbc.values()), "lost": len(expected - set(jdbc)),
                     "duplicated": sum(n - 1 for n in jdbc.values() if n > 1), "unknown": len(set(jdbc) - expected)},
            "file": {"lines": sum(lines.values()), "lost": len(expected - set(lines)),
                     "duplicated": sum(n - 1 for n in lines.values() if n > 1),
                     "unknown": len(set(lines) - expected)},
            "source": {"iterations": top + 1, "missing": len(set(range(top + 1)) - set(seen)),
                       "produced_twice": sum(n - 1 for n in seen.values() if n > 1)},
        }

    def jdbc_coords(self) -> list[tuple[str, int, int]]:
        if not self.db.exists():
            return []
        try:
            with sqlite3.connect(self.db, timeout=30) as conn:
                return [(t, int(p), int(o)) for t, p, o in conn.execute("SELECT kt, kp, ko FROM pageviews")]
        except sqlite3.OperationalError:
            return []

    def file_coords(self) -> list[tuple[str, int, int]]:
        if not self.lines.exists():
            return []
        pattern = re.compile(r"kt=([^,}]*), kp=(\d+), ko=(\d+)")
        return [(m.group(1), int(m.group(2)), int(m.group(3)))
                for m in map(pattern.search, self.lines.read_text().splitlines()) if m]


def summary(figures: Figures) -> str:
    samples = figures.samples
    lines = [f"soak: {figures.minutes} min, {len(figures.faults)} faults, {figures.restarts} runtime start(s)"]
    for fault in figures.faults:
        lines.append(f"  {fault['at_s']:7.0f}s  {fault['fault']}: {fault['outcome']}")
    if samples:
        lines.append(f"  rss MiB min/max/last: {min(s.rss_mib for s in samples)}/{max(s.rss_mib for s in samples)}/"
                     f"{samples[-1].rss_mib}; fds min/max/last: {min(s.fds for s in samples)}/"
                     f"{max(s.fds for s in samples)}/{samples[-1].fds}")
    lines.append("  result: " + json.dumps(figures.result, sort_keys=True))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--fault-every", type=float, default=150.0, help="seconds between faults")
    parser.add_argument("--max-interval-ms", type=int, default=5, help="datagen max.interval (sets the rate)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lc-soak-"))
    print(f"soak: work directory {work}", flush=True)
    figures = Soak(args.minutes, args.fault_every, work, args.max_interval_ms).run()
    print(summary(figures), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"minutes": figures.minutes, "restarts": figures.restarts,
                                        "faults": figures.faults, "result": figures.result,
                                        "samples": [vars(s) for s in figures.samples]}, indent=1))
    result = figures.result
    jdbc, file, source = (result.get(k, {}) for k in ("jdbc", "file", "source"))
    ok = (jdbc.get("lost") == jdbc.get("duplicated") == jdbc.get("unknown") == 0
          and file.get("lost") == file.get("unknown") == 0 and source.get("missing") == 0
          and all(f["outcome"] == "survived" for f in figures.faults))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
