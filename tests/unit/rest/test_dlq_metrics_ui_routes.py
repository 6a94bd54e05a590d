"""The REST extensions of issue 16 through the router: DLQ list/replay (statuses, JSON, lease), the
console's static files, ``GET /metrics`` and the status JSON's ``lambda_connect`` key."""

from __future__ import annotations

import json
import re

import pytest
from lambda_connect.rest import dlq as rest_dlq
from lambda_connect.rest import metrics as rest_metrics
from lambda_connect.rest.dlq import REPLAY_LEASE_TASK
from lambda_connect.rest.openapi import openapi_document
from lambda_connect.rest.resources import ConnectService
from lambda_connect.rest.router import Request, Router
from lambda_connect.runtime.task_metrics import TaskMetrics
from lambda_connect.state.memory import InMemoryStateStore

from tests.unit.runtime.dlq_fakes import FakeCluster, context

SINK = {"connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/lc-never-written.txt",
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq-orders",
        "errors.deadletterqueue.context.headers.enable": "true"}


@pytest.fixture
def api() -> tuple[Router, FakeCluster, ConnectService]:
    store = InMemoryStateStore()
    service = ConnectService(store, None, None, None)
    service.put_config("orders", dict(SINK))
    service.put_config("plain", {k: v for k, v in SINK.items() if not k.startswith("errors.")})
    cluster = FakeCluster()
    for i in range(3):
        cluster.add("dlq-orders", 0, f"k{i}".encode(), f"v{i}".encode(), context("orders", 0, 10 + i), 100 + i)
    rest_dlq.attach(service, lambda: cluster)
    return Router(service), cluster, service


def call(router: Router, method: str, target: str, body: object = None) -> tuple[int, object]:
    raw = b"" if body is None else json.dumps(body).encode()
    response = router.handle(Request.from_target(method, target, raw))
    return response.status, response.json() if response.headers.get("Content-Type") == "application/json" else None


def test_list_answers_entries_with_the_documented_keys(api: tuple) -> None:
    router, _, _ = api
    status, body = call(router, "GET", "/connectors/orders/dlq?limit=2")
    assert status == 200
    assert body["dlq_topic"] == "dlq-orders" and body["total"] == 3 and body["replay_positions"] == {}
    assert [e["offset"] for e in body["entries"]] == [11, 12]
    assert set(body["entries"][0]) == {"topic", "partition", "offset", "stage", "error_class", "message", "key",
                                       "value", "dlq_partition", "dlq_offset"}
    status, body = call(router, "GET", "/connectors/orders/dlq?filter=key%3Dk0")
    assert status == 200 and [e["key"] for e in body["entries"]] == ["k0"]


@pytest.mark.parametrize(("target", "status", "fragment"), [
    ("/connectors/nope/dlq", 404, "Connector nope not found"),
    ("/connectors/plain/dlq", 400, "errors.deadletterqueue.topic.name"),
    ("/connectors/orders/dlq?limit=0", 400, "limit must be"),
    ("/connectors/orders/dlq?limit=x", 400, "limit must be"),
    ("/connectors/orders/dlq?filter=colour%3Dred", 400, "colour=red"),
])
def test_list_refusals_are_json_errors(api: tuple, target: str, status: int, fragment: str) -> None:
    got, body = call(api[0], "GET", target)
    assert got == status and body["error_code"] == status and fragment in body["message"]


def test_replay_then_nothing_left(api: tuple) -> None:
    router, cluster, _ = api
    status, body = call(router, "POST", "/connectors/orders/dlq/replay", {"dry_run": True})
    assert status == 200 and body["replayed"] == 3 and len(body["entries"]) == 3 and cluster.produced == []
    status, body = call(router, "POST", "/connectors/orders/dlq/replay", {})
    assert status == 200 and body["replayed"] == 3 and body["group"] == "connect-orders-dlq-replay"
    assert [r.value for r in cluster.produced] == [b"v0", b"v1", b"v2"]
    assert call(router, "POST", "/connectors/orders/dlq/replay", {})[1]["replayed"] == 0
    assert call(router, "GET", "/connectors/orders/dlq")[1]["replay_positions"] == {"0": 3}


@pytest.mark.parametrize(("body", "fragment"), [
    ({"colour": 1}, 'Unknown field "colour"'), ({"dry_run": "yes"}, "dry_run"), ({"to_topic": ""}, "to_topic"),
    ({"filter": 3}, "filter"), ([1], "JSON object"), ({"filter": "nope"}, "nope"),
])
def test_replay_refuses_bad_requests_and_produces_nothing(api: tuple, body: object, fragment: str) -> None:
    router, cluster, _ = api
    status, reply = call(router, "POST", "/connectors/orders/dlq/replay", body)
    assert status == 400 and fragment in reply["message"] and cluster.produced == []


def test_a_running_replay_makes_another_409(api: tuple) -> None:
    router, cluster, service = api
    assert service.store.acquire_lease("orders", REPLAY_LEASE_TASK, "someone-else", 60) is not None
    status, body = call(router, "POST", "/connectors/orders/dlq/replay", {})
    assert status == 409 and "already running" in body["message"] and cluster.produced == []


def test_without_a_cluster_the_dlq_routes_answer_500(api: tuple) -> None:
    router, _, service = api
    rest_dlq.attach(service, None)
    status, body = call(router, "GET", "/connectors/orders/dlq")
    assert status == 500 and "no Kafka cluster" in body["message"]


def test_openapi_marks_the_dlq_routes_as_extensions_with_their_statuses() -> None:
    paths = openapi_document()["paths"]
    listing = paths["/connectors/{connector}/dlq"]["get"]
    replaying = paths["/connectors/{connector}/dlq/replay"]["post"]
    assert listing["x-lambda-connect-extension"] is True and replaying["x-lambda-connect-extension"] is True
    assert {"200", "400", "404", "500"} <= set(listing["responses"])
    assert {"200", "400", "404", "409", "413", "415", "500"} <= set(replaying["responses"])
    assert "/metrics" not in paths and "/ui/" not in paths


def test_console_files_types_caching_and_refusals(api: tuple) -> None:
    router = api[0]
    index = router.handle(Request.from_target("GET", "/ui/"))
    assert index.status == 200 and index.headers["Content-Type"].startswith("text/html")
    assert b"app.js" in index.body and index.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in index.headers["Content-Security-Policy"]
    script = router.handle(Request.from_target("GET", "/ui/app.js"))
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert router.handle(Request.from_target("GET", "/ui/app.css")).headers["Content-Type"].startswith("text/css")
    again = router.handle(Request.from_target("GET", "/ui/app.js", headers={"If-None-Match": script.headers["ETag"]}))
    assert again.status == 304 and again.body == b""
    assert router.handle(Request.from_target("GET", "/ui")).headers["Location"] == "/ui/index.html"
    for bad in ("/ui/../resources.py", "/ui/%2e%2e/router.py", "/ui/missing.js", "/ui/static.py"):
        reply = router.handle(Request.from_target("GET", bad))
        assert reply.status == 404 and reply.json()["error_code"] == 404, bad
    assert router.handle(Request.from_target("POST", "/ui/", b"{}")).status == 405
    assert not re.search(rb"(src|href)=\"(https?:)?//", index.body)  # nothing is loaded from another origin


def test_metrics_text_and_status_extension(api: tuple) -> None:
    router, _, service = api
    assert router.handle(Request.from_target("GET", "/metrics")).status == 404  # only where a runtime keeps figures
    collector = TaskMetrics()
    collector.record("orders", 0, {"RecordsIn": (5, "Count"), "RecordsDeadLettered": (2, "Count"),
                                   "PutLatency": (12.5, "Milliseconds")})
    collector.record("orders", 0, {"RecordsIn": (3, "Count"), "PutLatency": (7.5, "Milliseconds")})
    rest_metrics.attach(service, rest_metrics.MetricsView(
        collector, service.store, lambda name: [("orders", 0, 4, 10, 6)] if name == "orders" else []))
    reply = router.handle(Request.from_target("GET", "/metrics"))
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = reply.body.decode()
    assert '# TYPE lambda_connect_records_in_total counter' in text
    assert 'lambda_connect_records_in_total{connector="orders",task="0"} 8' in text
    assert 'lambda_connect_records_dead_lettered_total{connector="orders",task="0"} 2' in text
    assert 'lambda_connect_put_latency_milliseconds_sum{connector="orders",task="0"} 20' in text
    assert 'lambda_connect_put_latency_milliseconds_count{connector="orders",task="0"} 2' in text
    assert 'lambda_connect_consumer_lag{connector="orders",topic="orders",partition="0"} 6' in text
    status = call(router, "GET", "/connectors/orders/status")[1]
    ext = status["lambda_connect"]
    assert ext["metrics"]["RecordsIn"] == 8 and ext["metrics"]["PutLatency"] == {"sum": 20.0, "count": 2, "last": 7.5}
    assert ext["task_metrics"]["0"]["RecordsDeadLettered"] == 2
    assert ext["consumer_lag"] == [{"topic": "orders", "partition": 0, "committed_offset": 4, "end_offset": 10,
                                    "lag": 6}]


def test_every_console_file_is_package_data() -> None:
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    from lambda_connect.rest.static import UI_DIR

    root = Path(__file__).parents[3]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["lambda_connect"]
    files = [p.relative_to(UI_DIR.parent.parent).as_posix() for p in UI_DIR.iterdir() if p.is_file()]
    assert files and all(any(fnmatch(f, g) for g in globs) for f in files), files
    assert sum(p.stat().st_size for p in UI_DIR.iterdir()) < 100_000  # small enough for the layer


def test_api_function_wires_the_dlq_routes_to_its_cluster() -> None:
    from lambda_connect.rest.http_api import build_handler
    from lambda_connect.rest.router import Request

    store = InMemoryStateStore()
    cluster = FakeCluster()
    handler = build_handler(store, None, None, {}, dlq_access=lambda: cluster)
    handler.router.service.put_config("orders", dict(SINK))
    reply = handler.router.handle(Request.from_target("GET", "/connectors/orders/dlq"))
    assert reply.status == 200 and reply.json()["total"] == 0
    assert handler.router.handle(Request.from_target("GET", "/ui/")).status == 200
