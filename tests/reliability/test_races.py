"""Scenario 4 — zombies and races. EventBridge may start a source task's tick while the previous one
still runs, and Lambda may retry an invocation it believes lost; a user may pause, reconfigure or
delete a connector while its task polls, and several clients may write one connector at once.

* 2 to 8 concurrent invocations of one source task: one holds the lease at a time, every record
  is produced exactly once across them all (the file source, with leases, never overlaps),
  the committed position is the end of the file;
* pause / config update / delete through the REST API while the task polls: the run ends early
  with that outcome, commits exactly what Kafka acknowledged (nothing for a delete), and the next
  run continues with no gap;
* concurrent REST writes to one connector: no 5xx, the final config is one of the written
  ones whole (never a mix), and every accepted write moved the version.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from .harness import Context, load_app, read_topic

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The state table the racing containers share."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    elif request.param == "postgres":
        yield request.getfixturevalue("postgres_url")
    else:
        import boto3
        from lambda_connect.state.dynamodb import create_table
        from moto import mock_aws

        with mock_aws(), atomic_moto_writes():
            table = f"state-{uuid.uuid4().hex[:8]}"
            create_table(boto3.client("dynamodb", region_name="us-east-1"), table)
            yield f"dynamodb://{table}?region=us-east-1"


@contextlib.contextmanager
def atomic_moto_writes() -> Iterator[None]:
    """Make moto's DynamoDB writes atomic across threads, as DynamoDB's are per item.

    moto evaluates a condition and then writes, with no lock between: two threads racing for one
    lease item can both pass ``epoch = :seen`` and both win, a duplicate real DynamoDB never lets
    happen. The race under test is ours, not moto's, so its writes are serialised here.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    originals = {name: getattr(DynamoDBBackend, name)
                 for name in ("put_item", "update_item", "delete_item", "transact_write_items")}

    def locked(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)
        return write

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, locked(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


def containers(count: int, state_url: str, bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> list[ModuleType]:
    return [load_app("source_task", {"LAMBDA_CONNECT_STATE_URL": state_url,
                                     "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": bootstrap,
                                     "LAMBDA_CONNECT_DEADLINE_MARGIN_MS": "1000"}, monkeypatch)
            for _ in range(count)]


def append_lines(path: Path, start: int, count: int) -> None:
    with path.open("a") as f:
        f.writelines(f"line-{i:07d}\n" for i in range(start, start + count))


@pytest.mark.parametrize(("state_url", "concurrency"),
                         [("sqlite", 2), ("sqlite", 4), ("sqlite", 8), ("postgres", 8), ("dynamodb", 8)],
                         indirect=["state_url"])
def test_concurrent_invocations_of_one_source_task(state_url: str, concurrency: int, tmp_path: Path,
                                                   kafka_broker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    apps = containers(concurrency, state_url, kafka_broker, monkeypatch)
    name, topic = f"race-{uuid.uuid4().hex[:8]}", f"race-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "in.txt"
    source.write_text("")
    apps[0].handler.store.create_connector(name, {
        "name": name, "connector.class": "FileStreamSource", "file": str(source), "topic": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter", "batch.size": "100",
    })
    outcomes: Counter[str] = Counter()
    errors: list[BaseException] = []
    total = 0
    for _ in range(4):  # four ticks; before each, new lines
        append_lines(source, total, 1500)
        total += 1500
        barrier = threading.Barrier(concurrency)

        def tick(app: ModuleType, barrier: threading.Barrier) -> None:
            try:
                barrier.wait(30)
                reply = app.lambda_handler({"connector": name, "task": 0}, Context(remaining_ms=10_000))
                outcomes[reply["outcome"]] += 1
            except BaseException as e:  # collected and reported below
                errors.append(e)

        threads = [threading.Thread(target=tick, args=(app, barrier)) for app in apps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(t.is_alive() for t in threads), "an invocation did not return within 60 s"
    # The ticks above may all have lost the race at some point; a last one alone finishes the file.
    apps[0].lambda_handler({"connector": name, "task": 0}, Context(remaining_ms=10_000))
    assert not errors, errors
    assert outcomes["completed"] >= 1 and sum(outcomes.values()) == 4 * concurrency, outcomes
    values = Counter(m.value().decode() for m in read_topic(kafka_broker, topic, total, timeout=60))
    expected = {f"line-{i:07d}" for i in range(total)}
    missing = expected - set(values)
    doubled = {v: n for v, n in values.items() if n > 1}
    from .ledger import Verdict, record_figure

    record_figure(f"race/source-x{concurrency}/{state_url.split(':')[0]}",
                  Verdict(total, total, 0, lost=[("", 0, 0)] * len(missing),
                          duplicated={("", 0, i): n for i, (_, n) in enumerate(doubled.items())}),
                  faults=outcomes["lease_held"])
    assert not missing, f"{len(missing)} line(s) never produced"
    assert not doubled, f"{len(doubled)} line(s) produced more than once by racing invocations ({outcomes})"
    assert apps[0].handler.store.get_offsets(name)[0][1]["position"] == source.stat().st_size


# --- control changes while a task polls ------------------------------------------------------
def datagen(api: Any, name: str, topic: str) -> dict[str, str]:
    config = {"connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector", "kafka.topic": topic,
              "quickstart": "pageviews", "iterations": "-1", "max.interval": "1", "random.seed": "5",
              "key.converter": "org.apache.kafka.connect.storage.StringConverter",
              "value.converter": "org.apache.kafka.connect.json.JsonConverter",
              "value.converter.schemas.enable": "false"}
    reply = requests.put(f"{api.url}/connectors/{name}/config", json=config, timeout=30)
    assert reply.status_code == 201, reply.text
    return config


def iterations(bootstrap: str, topic: str) -> Counter[int]:
    return Counter((json.loads(m.value())["viewtime"] - 1) // 10 for m in read_topic(bootstrap, topic, 1))


@pytest.mark.parametrize("change", ["pause", "config-update", "delete"])
def test_control_change_while_the_task_polls(change: str, rest_api: Any, tmp_path: Path, kafka_broker: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (app,) = containers(1, f"sqlite:///{tmp_path / 'state.db'}", kafka_broker, monkeypatch)
    name, topic = f"ctl-{uuid.uuid4().hex[:8]}", f"ctl-{uuid.uuid4().hex[:8]}"
    config = datagen(rest_api, name, topic)
    result: dict[str, Any] = {}
    run = threading.Thread(target=lambda: result.update(
        app.lambda_handler({"connector": name, "task": 0}, Context(remaining_ms=30_000))))
    run.start()
    deadline = time.monotonic() + 30
    while not read_topic(kafka_broker, topic, 0, timeout=1, idle=0.2) and time.monotonic() < deadline:
        time.sleep(0.2)  # the task is producing
    if change == "pause":
        reply = requests.put(f"{rest_api.url}/connectors/{name}/pause", timeout=30)
    elif change == "config-update":
        reply = requests.put(f"{rest_api.url}/connectors/{name}/config", json={**config, "max.interval": "2"},
                             timeout=30)
    else:
        reply = requests.delete(f"{rest_api.url}/connectors/{name}", timeout=30)
    assert reply.status_code < 300, reply.text
    run.join(25)  # a 29 s budget: ending within 25 s means the change was noticed
    assert not run.is_alive(), f"the running task did not notice the {change} within 25 s"
    expected_outcome = {"pause": "paused", "config-update": "reconfigured", "delete": "deleted"}[change]
    assert result["outcome"] == expected_outcome, result
    produced = iterations(kafka_broker, topic)
    assert produced and set(produced) == set(range(max(produced) + 1)), "a gap in what the task produced"
    offsets = app.handler.store.get_offsets(name)
    if change == "delete":
        assert offsets == [], offsets
        return
    committed = offsets[0][1]["current.iteration"]
    assert committed == len(produced), f"committed iteration {committed}, {len(produced)} acknowledged"
    if change == "pause":
        assert requests.put(f"{rest_api.url}/connectors/{name}/resume", timeout=30).status_code == 202
    after = app.lambda_handler({"connector": name, "task": 0}, Context(remaining_ms=3_000))
    assert after["outcome"] == "completed", after
    produced = iterations(kafka_broker, topic)
    assert set(produced) == set(range(max(produced) + 1)), "a gap after the task resumed"
    assert not [n for n, c in produced.items() if c > 1], "records produced twice across the change"


# --- concurrent REST writes ------------------------------------------------------------------
def test_concurrent_rest_writes_to_one_connector(rest_api: Any, tmp_path: Path) -> None:
    name = f"rest-{uuid.uuid4().hex[:8]}"
    base = {"connector.class": "FileStreamSink", "topics": "orders", "file": str(tmp_path / "out.txt")}
    assert requests.put(f"{rest_api.url}/connectors/{name}/config", json=base, timeout=30).status_code == 201
    start_version = rest_api.store.get_connector(name).version
    writers, writes_each = 8, 5
    statuses: Counter[int] = Counter()
    written: list[dict[str, str]] = []
    barrier = threading.Barrier(writers)

    def write(writer: int) -> None:
        barrier.wait(30)
        for n in range(writes_each):
            config = {**base, "tasks.max": str(writer + 1), "file": str(tmp_path / f"out-{writer}-{n}.txt")}
            if (writer + n) % 3 == 0:  # some writers pause/resume in between
                statuses[requests.put(f"{rest_api.url}/connectors/{name}/pause", timeout=30).status_code] += 1
            reply = requests.put(f"{rest_api.url}/connectors/{name}/config", json=config, timeout=30)
            statuses[reply.status_code] += 1
            if reply.status_code == 200:
                written.append(config)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 202, 409}, statuses
    final = requests.get(f"{rest_api.url}/connectors/{name}/config", timeout=30).json()
    final = {k: v for k, v in final.items() if k != "name"}
    assert final in written, f"the final config is no write that was accepted: {final}"
    entry = rest_api.store.get_connector(name)
    assert entry.version >= start_version + len(written), (entry.version, start_version, len(written))
    assert entry.target_state == "PAUSED"
