"""``lambda-connect up`` as a user runs it: a separate process, stopped with Ctrl-C.

The process is started in its own session and interrupted through its process group, the
way a terminal delivers Ctrl-C to everything in the foreground job. A datagen source (a JSON
file, the REST create body) feeds a topic and a file sink (a ``.properties`` file, as
``connect-standalone`` takes it) writes one line per record, so a loss or a duplicate is
visible in the file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from lambda_connect.cli.up import EXIT_NOW

pytestmark = [pytest.mark.broker, pytest.mark.slow]

STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
ABORT_TIMEOUT = 10.0
READY_LINE = "Press Ctrl-C to stop."
HUMAN_LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S+: ")


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout}s")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def order_ids(path: Path) -> list[int]:
    return [json.loads(line)["orderid"] for line in lines(path)]


def port_open(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the embedded broker lives in its own process group)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class UpProcess:
    """One ``lambda-connect up`` subprocess; its output goes to files the test reads."""

    def __init__(self, tmp: Path, args: list[str], tag: str) -> None:
        self.stdout_path = tmp / f"up-{tag}.out"
        self.stderr_path = tmp / f"up-{tag}.err"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lambda_connect.cli", "up", "--port", "0", *args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True,
                cwd=Path(__file__).resolve().parents[2],
            )
        self.rest_url = ""
        self.kafka = ""
        self.children: list[int] = []

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_ready(self) -> UpProcess:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while READY_LINE not in self.stdout:
            if self.process.poll() is not None:
                raise AssertionError(f"up exited with {self.process.returncode}:\n{self.stderr[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"up printed no '{READY_LINE}' within {STARTUP_TIMEOUT}s:\n{self.stderr[-3000:]}")
            time.sleep(0.1)
        rest = re.search(r"REST API: (http://127\.0\.0\.1:\d+)", self.stdout)
        kafka = re.search(r"Kafka: +(127\.0\.0\.1:\d+)", self.stdout)
        assert rest and kafka, self.stdout
        self.rest_url, self.kafka = rest.group(1), kafka.group(1)
        self.children = _children(self.process.pid)  # known now, even if the process dies first
        return self

    def ctrl_c(self) -> None:
        """SIGINT to the whole foreground group, as a terminal sends it."""
        os.killpg(self.process.pid, signal.SIGINT)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"up did not exit within {timeout}s:\n{self.stderr[-3000:]}") from None

    def kill(self) -> None:
        """Last resort in ``finally``: the process and its children (the broker), by PID."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for child in self.children:
            try:
                if "tansu" in Path(f"/proc/{child}/cmdline").read_text(errors="replace"):
                    os.kill(child, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue

    def connectors(self) -> list[str]:
        r = requests.get(f"{self.rest_url}/connectors", timeout=10)
        assert r.status_code == 200, r.text
        return sorted(r.json())

    def config(self, name: str) -> dict[str, str]:
        r = requests.get(f"{self.rest_url}/connectors/{name}/config", timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[Callable[..., UpProcess]]:
    started: list[UpProcess] = []

    def start(*args: str, tag: str = "1") -> UpProcess:
        up = UpProcess(tmp_path, list(args), tag)
        started.append(up)
        return up.wait_ready()

    try:
        yield start
    finally:
        for up in started:
            up.kill()


class Pipeline:
    """The two connector files of one test: names, topic and output unique to it."""

    def __init__(self, tmp: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.topic = f"up-orders-{suffix}"
        self.source, self.sink = f"orders-source-{suffix}", f"orders-sink-{suffix}"
        self.out = tmp / "orders.txt"
        self.source_file = tmp / "source.json"
        self.sink_file = tmp / "sink.properties"
        self.write_source()
        self.write_sink(batch_size=100)

    def write_source(self) -> None:
        # max.interval=4: about 500 records/s, so a batch is always in flight when Ctrl-C comes.
        self.source_file.write_text(json.dumps({"name": self.source, "config": {
            "connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector", "tasks.max": 1,
            "kafka.topic": self.topic, "quickstart": "orders", "iterations": -1, "max.interval": 4,
            "random.seed": 7, "poll.interval.ms": 500,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": False,
        }}))

    def write_sink(self, batch_size: int) -> None:
        self.sink_file.write_text(
            "# as connect-standalone reads it\n"
            f"name={self.sink}\n"
            "connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector\n"
            "tasks.max=1\n"
            f"topics={self.topic}\n"
            f"file={self.out}\n"
            "key.converter=org.apache.kafka.connect.storage.StringConverter\n"
            "value.converter=org.apache.kafka.connect.storage.StringConverter\n"
            f"lambda.batch.size={batch_size}\n"
            "lambda.maximum.batching.window.seconds=0\n"
        )

    @property
    def files(self) -> list[str]:
        return [str(self.source_file), str(self.sink_file)]

    def wait_growing(self, at_least: int, timeout: float = 150.0) -> int:
        wait_for(lambda: len(lines(self.out)) >= at_least, timeout, f"{at_least} lines in the sink's file")
        return len(lines(self.out))


def committed_offsets(bootstrap: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets over the topic's partitions (what Kafka Connect
    would resume from)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])
    result = admin.list_consumer_group_offsets([request], request_timeout=10)[group].result(timeout=15)
    return sum(max(tp.offset, 0) for tp in result.topic_partitions)


def connector_version(state_url: str, name: str) -> int:
    from lambda_connect.state.base import open_store

    store = open_store(state_url)
    try:
        entry = store.get_connector(name)
        assert entry is not None, f"{name} is not in the state table"
        return entry.version
    finally:
        store.close()


def test_up_registers_files_prints_addresses_and_stops_cleanly_on_ctrl_c(
    start_up: Callable[..., UpProcess], tmp_path: Path
) -> None:
    pipeline = Pipeline(tmp_path)
    up = start_up(*pipeline.files, "--state", f"sqlite:///{tmp_path}/state.db")

    assert "embedded" in up.stdout, up.stdout
    assert up.connectors() == sorted([pipeline.source, pipeline.sink])
    assert up.config(pipeline.sink)["file"] == str(pipeline.out)
    assert up.config(pipeline.source)["kafka.topic"] == pipeline.topic

    # The printed broker address serves any Kafka client.
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": up.kafka})
    wait_for(lambda: pipeline.topic in admin.list_topics(timeout=5).topics, 60, "the source's topic on the broker")

    first = pipeline.wait_growing(1)
    pipeline.wait_growing(first + 200)

    up.ctrl_c()
    assert up.wait_exit(STOP_TIMEOUT) == 0, up.stderr[-3000:]
    err = up.stderr
    assert "Stopping: finishing the batches in flight" in err
    assert "Traceback" not in err and "Commit failed" not in err, err[-3000:]
    # The broker went with the runtime, after the last commit.
    assert not port_open(up.kafka), f"the embedded broker on {up.kafka} outlived the runtime"
    # Human-readable log lines, not JSON.
    logged = [line for line in err.splitlines() if HUMAN_LOG_LINE.match(line)]
    batch_line = f"Sink batch of connector {pipeline.sink} task 0:"
    assert any(batch_line in line and "written" in line for line in logged), err[-2000:]
    assert not any(line.startswith("{") for line in err.splitlines())
    # Each line is a whole record: the file sink writes JSON objects, one per line.
    ids = order_ids(pipeline.out)
    assert len(ids) == len(set(ids))


@pytest.fixture
def external_broker() -> Iterator[str]:
    """A broker started outside the runtime, fresh for this test: the long-lived per-worker tansu
    broker, after serving many earlier tests, was seen to never hand this test's new consumer
    group its partitions (tansu group-coordinator behaviour), which real Kafka does not do."""
    from lambda_connect.local.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


def test_ctrl_c_commits_what_was_written_and_a_rerun_updates_the_connector(
    start_up: Callable[..., UpProcess], tmp_path: Path, external_broker: str
) -> None:
    kafka_broker = external_broker
    pipeline = Pipeline(tmp_path)
    state = f"sqlite:///{tmp_path}/state.db"
    group = f"connect-{pipeline.sink}"
    common = ["--state", state, "--bootstrap-servers", kafka_broker, "--log-format", "json"]

    up = start_up(*pipeline.files, *common, tag="1")
    assert f"Kafka:    {kafka_broker} (external)" in up.stdout, up.stdout
    assert up.connectors() == sorted([pipeline.source, pipeline.sink])
    try:
        pipeline.wait_growing(300)
    except AssertionError as e:
        raise AssertionError(f"{e}\nup's output:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}") from None
    up.ctrl_c()
    assert up.wait_exit(STOP_TIMEOUT) == 0, up.stderr[-3000:]
    written = len(lines(pipeline.out))
    assert committed_offsets(kafka_broker, group, pipeline.topic) == written

    # --log-format json: apart from the banner, stdout is JSON lines (Powertools log records and
    # EMF metrics, as in a Lambda log stream); no human log line anywhere.
    banner = {"lambda-connect is up", READY_LINE, "REST API:", "Kafka:", "State:"}
    logged = [json.loads(line) for line in up.stdout.splitlines()
              if line.strip() and not line.strip().startswith(tuple(banner))]
    records = [r for r in logged if "_aws" not in r]
    assert len(records) >= 3
    assert all({"level", "message", "timestamp", "service"} <= set(r) for r in records)
    assert any(r["message"].startswith(f"Sink batch of connector {pipeline.sink} ")
               and r.get("connector") == pipeline.sink for r in records)
    assert any(r["message"] == f"connector {pipeline.sink} created" for r in records)
    assert any("CloudWatchMetrics" in r["_aws"] for r in logged if "_aws" in r)
    assert not any(HUMAN_LOG_LINE.match(line) for line in (up.stdout + up.stderr).splitlines())

    version = connector_version(state, pipeline.sink)
    source_version = connector_version(state, pipeline.source)
    pipeline.write_sink(batch_size=50)
    up = start_up(*pipeline.files, *common, tag="2")
    assert up.config(pipeline.sink)["lambda.batch.size"] == "50"
    assert connector_version(state, pipeline.sink) == version + 1
    assert connector_version(state, pipeline.source) >= source_version
    pipeline.wait_growing(written + 300)
    up.ctrl_c()
    assert up.wait_exit(STOP_TIMEOUT) == 0, up.stderr[-3000:]

    ids = order_ids(pipeline.out)
    assert committed_offsets(kafka_broker, group, pipeline.topic) == len(ids)
    assert len(ids) == len(set(ids)), "records written twice across the restart"


def test_a_second_ctrl_c_exits_at_once(start_up: Callable[..., UpProcess], tmp_path: Path) -> None:
    pipeline = Pipeline(tmp_path)
    up = start_up(*pipeline.files, "--state", f"sqlite:///{tmp_path}/state.db")
    pipeline.wait_growing(100)

    up.ctrl_c()
    time.sleep(0.05)
    up.ctrl_c()
    assert up.wait_exit(ABORT_TIMEOUT) == EXIT_NOW, up.stderr[-3000:]
    assert "Exiting now." in up.stderr
    # Exiting now still takes the embedded broker along.
    wait_for(lambda: not port_open(up.kafka), 5, f"the embedded broker on {up.kafka} to be gone")
