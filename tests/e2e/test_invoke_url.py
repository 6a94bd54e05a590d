"""Issue 15: ``lambda-connect invoke SinkTaskFunction --connector NAME --url URL`` against a running ``up``.

The runtime runs in this process (as ``up`` would); ``invoke`` is a separate process started from
another directory with no ``LAMBDA_CONNECT_*`` variable set, so everything it knows about the
runtime comes from ``GET /local/environment``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "invoke-url-orders"


def event_of(count: int) -> dict[str, Any]:
    """An MSK event of ``count`` records of one partition, values ``order-0`` …"""
    records = [{"topic": TOPIC, "partition": 0, "offset": i, "timestamp": 1764028800000 + i,
                "timestampType": "CREATE_TIME", "key": base64.b64encode(f"k{i}".encode()).decode(),
                "value": base64.b64encode(f"order-{i}".encode()).decode(), "headers": []}
               for i in range(count)]
    return {"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9", "records": {f"{TOPIC}-0": records}}


@pytest.fixture
def runtime(tmp_path: Path, kafka_broker: str) -> Iterator[LocalRuntime]:
    # A relative state path, as up's default is: invoke runs elsewhere and must get it absolute.
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        rt = LocalRuntime(RuntimeOptions(state_url="sqlite:///up-state/state.db", port=0,
                                         bootstrap_servers=kafka_broker, reconcile_interval=30.0)).start()
    finally:
        os.chdir(cwd)
    try:
        yield rt
    finally:
        rt.stop(20)


def invoke(tmp_path: Path, url: str, connector: str, event: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBDA_CONNECT_")}
    return subprocess.run(
        [sys.executable, "-m", "lambda_connect.cli", "invoke", "SinkTaskFunction", "--root", str(ROOT),
         "--event", str(event_file), "--connector", connector, "--url", url],
        capture_output=True, text=True, timeout=120, cwd=elsewhere, env=env,
    )


def test_local_environment_names_the_state_table_cluster_and_secrets(runtime: LocalRuntime, tmp_path: Path,
                                                                      kafka_broker: str) -> None:
    reply = requests.get(f"{runtime.url}/local/environment", timeout=10)
    assert reply.status_code == 200, reply.text
    env = reply.json()["environment"]
    assert env["LAMBDA_CONNECT_STATE_URL"] == f"sqlite:///{tmp_path}/up-state/state.db"
    assert env["LAMBDA_CONNECT_BOOTSTRAP_SERVERS"] == kafka_broker
    assert env["LAMBDA_CONNECT_SECRETS"] == f"file:{tmp_path}/up-state/secrets.json"
    assert reply.json()["notes"] == []
    operation = requests.get(f"{runtime.url}/openapi.json", timeout=10).json()["paths"]["/local/environment"]["get"]
    assert operation["x-lambda-connect-extension"] is True


def test_invoke_url_finds_the_connector_of_a_running_up_and_writes_the_batch(runtime: LocalRuntime,
                                                                              tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    config = {"connector.class": "FileStreamSink", "topics": TOPIC, "file": str(out),
              "key.converter": "org.apache.kafka.connect.storage.StringConverter",
              "value.converter": "org.apache.kafka.connect.storage.StringConverter"}
    r = requests.post(f"{runtime.url}/connectors", json={"name": "orders-file", "config": config}, timeout=30)
    assert r.status_code == 201, r.text

    done = invoke(tmp_path, runtime.url, "orders-file", event_of(8))
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout[done.stdout.index("{\n"):]) == {"batchItemFailures": []}
    assert out.read_text().splitlines() == [f"order-{i}" for i in range(8)]


def test_an_unknown_connector_names_the_records_the_event_holds(runtime: LocalRuntime, tmp_path: Path) -> None:
    done = invoke(tmp_path, runtime.url, "no-such-connector", event_of(8))
    assert done.returncode == 1, done.stdout + done.stderr
    error = json.loads(done.stdout[done.stdout.index("{\n"):])
    assert "Unknown connector no-such-connector" in error["errorMessage"], error
    assert "batch of 8 record(s)" in error["errorMessage"], error
    assert "batch of 0 record(s)" not in done.stdout + done.stderr


def test_invoke_url_at_something_that_is_not_up_says_what_to_pass_instead(tmp_path: Path) -> None:
    from lambda_connect.local.server import RestServer
    from lambda_connect.rest.resources import ConnectService
    from lambda_connect.rest.router import Router
    from lambda_connect.state.memory import InMemoryStateStore

    # A plain Connect API (as deployed): no local runtime behind it.
    server = RestServer(Router(ConnectService(InMemoryStateStore(), None, None, None)), "127.0.0.1", 0).start()
    try:
        done = invoke(tmp_path, server.url, "orders-file", event_of(1))
    finally:
        server.stop()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is not a lambda-connect up" in done.stderr and "--state" in done.stderr, done.stderr
