"""``lambda-connect up`` in-process, driven only through its REST API and Kafka.

A datagen source feeds a topic and a file sink writes one line per record, so every duplicate
and every loss is visible in the file.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

from tests.fixtures.broker import produce

pytestmark = [pytest.mark.broker, pytest.mark.slow]

FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(condition: Callable[[], bool], timeout: float = 40.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout}s")


def source_config(topic: str, iterations: int) -> dict[str, str]:
    return {"connector.class": "DatagenConnector", "kafka.topic": topic, "quickstart": "orders",
            "iterations": str(iterations), "max.interval": "0", "random.seed": "7", "poll.interval.ms": "500",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false"}


def sink_config(topic: str, out: Path) -> dict[str, str]:
    return {"connector.class": "FileStreamSink", "topics": topic, "file": str(out),
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "lambda.maximum.batching.window.seconds": "0"}


def order_ids(path: Path) -> list[int]:
    return [json.loads(line)["orderid"] for line in lines(path) if line.startswith("{")]


@pytest.fixture
def start_runtime(tmp_path: Path) -> Iterator[Callable[..., LocalRuntime]]:
    started: list[LocalRuntime] = []

    def start(bootstrap: str | None = None, **kw: Any) -> LocalRuntime:
        options = RuntimeOptions(state_url=f"sqlite:///{tmp_path}/state.db", port=0, bootstrap_servers=bootstrap,
                                 reconcile_interval=2.0, broker_log=tmp_path / "tansu.log",
                                 esm_consumer_overrides=FAST_GROUP if bootstrap else None, **kw)
        runtime = LocalRuntime(options).start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop(20)


def test_source_to_sink_pause_resume_delete_on_embedded_broker(start_runtime: Any, tmp_path: Path) -> None:
    runtime = start_runtime()
    url, suffix = runtime.url, uuid.uuid4().hex[:6]
    topic, out = f"orders-{suffix}", tmp_path / "orders.txt"
    r = requests.post(f"{url}/connectors", json={"name": "sink", "config": sink_config(topic, out)}, timeout=30)
    assert r.status_code == 201, r.text
    r = requests.post(f"{url}/connectors", json={"name": "source", "config": source_config(topic, 150)}, timeout=30)
    assert r.status_code == 201, r.text
    wait_for(lambda: len(lines(out)) >= 150, what="150 rows in the sink")
    assert sorted(order_ids(out)) == list(range(150))
    status = requests.get(f"{url}/connectors/sink/status", timeout=10).json()
    assert status["connector"]["state"] == "RUNNING" and status["tasks"][0]["state"] == "RUNNING"
    assert requests.get(f"{url}/connectors/source/offsets", timeout=10).json()["offsets"][0]["offset"][
        "current.iteration"] == 150

    assert requests.put(f"{url}/connectors/sink/pause", timeout=10).status_code == 202
    time.sleep(2.0)  # pause takes effect within a second or two
    produce(runtime.bootstrap_servers, topic, [(None, f"paused-{i}") for i in range(5)])
    time.sleep(2.5)
    assert len(lines(out)) == 150  # no more rows while paused

    assert requests.put(f"{url}/connectors/sink/resume", timeout=10).status_code == 202
    wait_for(lambda: len(lines(out)) == 155, what="rows after resume")

    assert requests.delete(f"{url}/connectors/sink", timeout=10).status_code == 204
    time.sleep(2.0)
    produce(runtime.bootstrap_servers, topic, [(None, "after-delete")])
    time.sleep(2.5)
    assert len(lines(out)) == 155  # the mapping is gone
    assert _group_members(runtime.bootstrap_servers, "connect-sink") == 0
    assert requests.get(f"{url}/connectors", timeout=10).json() == ["source"]


def _group_members(bootstrap: str, group: str) -> int:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    description = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=10)
    return len(description.members)


def test_restart_with_external_broker_keeps_connectors_and_offsets(start_runtime: Any, kafka_broker: str,
                                                                   tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    topic, out = f"orders-{suffix}", tmp_path / "orders.txt"
    sink, source = f"sink-{suffix}", f"source-{suffix}"
    runtime = start_runtime(kafka_broker)
    assert runtime.bootstrap_servers == kafka_broker and not runtime.embedded_broker
    requests.post(f"{runtime.url}/connectors", json={"name": sink, "config": sink_config(topic, out)}, timeout=30)
    requests.post(f"{runtime.url}/connectors", json={"name": source, "config": source_config(topic, 100)},
                  timeout=30)
    wait_for(lambda: len(lines(out)) >= 100, what="first 100 rows")
    runtime.stop(20)

    produce(kafka_broker, topic, [(None, json.dumps({"orderid": 1000 + i})) for i in range(20)])
    runtime = start_runtime(kafka_broker)
    assert set(requests.get(f"{runtime.url}/connectors", timeout=10).json()) == {sink, source}
    wait_for(lambda: len(lines(out)) >= 120, what="rows produced while the runtime was down")
    requests.patch(f"{runtime.url}/connectors/{source}/config", json={"iterations": "130"}, timeout=10)
    wait_for(lambda: len(lines(out)) >= 150, what="rows after raising iterations")
    time.sleep(2.0)
    ids = order_ids(out)
    assert len(ids) == len(set(ids)) == 150  # nothing delivered twice across the restart
    assert sorted(i for i in ids if i < 1000) == list(range(130))


def test_kafka_connect_client_library_against_the_port(start_runtime: Any, tmp_path: Path) -> None:
    import kafka_connect

    runtime = start_runtime()
    kc = kafka_connect.KafkaConnect(runtime.url)
    info = kc.get_cluster_info()
    # Kafka's three fields, and where the embedded broker keeps its topics (issue 11, defect 2).
    assert set(info) == {"version", "commit", "kafka_cluster_id", "kafka_broker", "kafka_storage"}
    assert info["kafka_broker"] == "embedded" and info["kafka_storage"].startswith("memory"), info
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    created = kc.create_connector({"name": "files", "config": sink_config(topic, tmp_path / "x.txt")})
    assert created["type"] == "sink"
    assert kc.list_connectors() == ["files"]
    wait_for(lambda: kc.get_connector_status("files")["tasks"] != [], what="task status")
    kc.pause_connector("files")
    assert kc.get_connector_status("files")["connector"]["state"] == "PAUSED"
    kc.resume_connector("files")
    kc.stop_connector("files")
    wait_for(lambda: kc.get_connector_status("files")["connector"]["state"] == "STOPPED", what="STOPPED")
    assert kc.list_connector_tasks("files") == []
    kc.delete_connector("files")
    assert kc.list_connectors() == []
