"""``lambda-connect dlq list|replay`` and ``lambda-connect console`` against a real local HTTP server
(the REST router over an in-memory store and an in-memory DLQ cluster)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from lambda_connect.cli import main as cli
from lambda_connect.cli._http import ConnectClient
from lambda_connect.cli.console import ConsoleProxy
from lambda_connect.local.server import RestServer
from lambda_connect.rest import dlq as rest_dlq
from lambda_connect.rest.resources import ConnectService
from lambda_connect.rest.router import Router
from lambda_connect.state.memory import InMemoryStateStore

from tests.unit.runtime.dlq_fakes import FakeCluster, context

SINK = {"connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/lc-never-written.txt",
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq-orders"}


@pytest.fixture
def served() -> Iterator[tuple[str, FakeCluster]]:
    service = ConnectService(InMemoryStateStore(), None, None, None)
    service.put_config("orders", dict(SINK))
    cluster = FakeCluster()
    for i in range(3):
        cluster.add("dlq-orders", 0, f"k{i}".encode(), ("x" * 200 if i == 2 else f"v{i}").encode(),
                    context("orders", 1, 40 + i, stage="VALUE_CONVERTER" if i == 1 else "TASK_PUT"))
    rest_dlq.attach(service, lambda: cluster)
    server = RestServer(Router(service), "127.0.0.1", 0).start()
    try:
        yield server.url, cluster
    finally:
        server.stop()


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_list_json_has_exactly_the_documented_keys(served: tuple[str, FakeCluster]) -> None:
    url, _ = served
    code, out, _ = run("dlq", "list", "orders", "--url", url, "--output", "json")
    entries = json.loads(out)
    assert code == 0 and [e["offset"] for e in entries] == [40, 41, 42]
    assert all(list(e) == ["topic", "partition", "offset", "stage", "error_class", "message", "key", "value",
                           "dlq_partition", "dlq_offset"] for e in entries)
    code, out, _ = run("dlq", "list", "orders", "--url", url, "--output", "json", "--filter", "stage=VALUE_CONVERTER")
    assert [e["key"] for e in json.loads(out)] == ["k1"]


def test_list_table_previews_long_values(served: tuple[str, FakeCluster]) -> None:
    code, out, err = run("dlq", "list", "orders", "--url", served[0], "--limit", "2")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:5] == ["TOPIC", "PARTITION", "OFFSET", "STAGE", "ERROR_CLASS"]
    assert len(lines) == 3 and "…" in lines[2] and "x" * 60 not in lines[2]
    assert "2 of 3 record(s) in dlq-orders" in err


def test_replay_prints_counts_and_a_second_run_replays_nothing(served: tuple[str, FakeCluster]) -> None:
    url, cluster = served
    code, out, _ = run("dlq", "replay", "orders", "--url", url, "--dry-run")
    assert code == 0 and out.startswith("3 record(s) would replay") and cluster.produced == []
    code, out, _ = run("dlq", "replay", "orders", "--url", url, "--filter", "stage=TASK_PUT")
    assert code == 0 and out.startswith("2 record(s) replayed") and "1 left by the filter" in out
    code, out, _ = run("dlq", "replay", "orders", "--url", url, "--to-topic", "retry")
    assert out.startswith("1 record(s) replayed") and cluster.produced[-1].topic == "retry"
    assert run("dlq", "replay", "orders", "--url", url)[1].startswith("0 record(s) replayed")
    assert len(cluster.produced) == 3


def test_errors_name_the_problem(served: tuple[str, FakeCluster]) -> None:
    code, _, err = run("dlq", "list", "nope", "--url", served[0])
    assert code == 1 and "HTTP 404" in err and "nope" in err
    code, _, err = run("dlq", "replay", "orders", "--url", served[0], "--filter", "colour=red")
    assert code == 1 and "HTTP 400" in err and "colour=red" in err


def test_console_proxy_serves_the_files_and_forwards_the_api(served: tuple[str, FakeCluster]) -> None:
    proxy = ConsoleProxy(served[0], port=0).start()
    try:
        page = requests.get(f"{proxy.url}/ui/", timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert requests.get(f"{proxy.url}/connectors", timeout=10).json() == ["orders"]
        reply = requests.post(f"{proxy.url}/connectors/orders/dlq/replay", json={"dry_run": True}, timeout=10)
        assert reply.status_code == 200 and reply.json()["replayed"] == 3
        missing = requests.get(f"{proxy.url}/connectors/nope", timeout=10)
        assert missing.status_code == 404 and missing.json()["error_code"] == 404
        assert not proxy.client.signs
    finally:
        proxy.stop()


def test_requests_to_api_gateway_are_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    client = ConnectClient("https://abc123.execute-api.eu-west-1.amazonaws.com")
    headers: dict[str, Any] = client.signed_headers("GET", client.url + "/connectors", None, {"Accept": "x"})
    assert client.signs and headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
