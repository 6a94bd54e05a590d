"""A Kafka Connect REST client library (``kafka-connect-py``, module ``kafka_connect``) pointed
at the router, served by a tiny ``http.server`` on 127.0.0.1:0, works unchanged."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kafka_connect  # dev dependency: kafka-connect-py, a Kafka Connect REST client
import pytest
from lambda_connect.rest.resources import ConnectService
from lambda_connect.rest.router import Request, Router
from lambda_connect.runtime.secrets import LocalFileSecretStore
from lambda_connect.state import StatusEntry, open_store


def serve(router: Router) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            response = router.handle(Request.from_target(self.command, self.path, body, dict(self.headers)))
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    store = open_store("memory://")
    service = ConnectService(store, None, LocalFileSecretStore(tmp_path / "secrets.json"), None)
    server = serve(Router(service))
    try:
        yield kafka_connect.KafkaConnect(f"http://127.0.0.1:{server.server_port}"), store
    finally:
        server.shutdown()
        server.server_close()


def test_client_library_lifecycle(client: tuple[Any, Any]) -> None:
    kc, store = client
    assert set(kc.get_cluster_info()) == {"version", "commit", "kafka_cluster_id"}
    config = {"name": "orders", "config": {"connector.class": "FileStreamSink", "topics": "orders",
                                           "file": "/tmp/orders.out"}}
    created = kc.create_connector(config)
    assert created["name"] == "orders" and created["type"] == "sink"
    assert kc.list_connectors() == ["orders"]
    assert kc.get_connector("orders")["config"]["topics"] == "orders"
    assert kc.get_connector_config("orders")["file"] == "/tmp/orders.out"
    store.put_connector_status("orders", StatusEntry("RUNNING", "reconciler", None, 1.0))
    assert kc.get_connector_status("orders")["connector"]["state"] == "RUNNING"
    assert kc.list_connectors(expand="status")["orders"]["status"]["connector"]["state"] == "RUNNING"
    assert [t["id"]["task"] for t in kc.list_connector_tasks("orders")] == [0]
    assert kc.get_connector_task_status("orders", 0)["state"] == "RUNNING"
    updated = kc.update_connector("orders", {"connector.class": "FileStreamSink", "topics": "orders,returns",
                                             "file": "/tmp/orders.out"})
    assert updated["config"]["topics"] == "orders,returns"
    kc.pause_connector("orders")
    assert kc.get_connector_status("orders")["connector"]["state"] == "PAUSED"
    kc.resume_connector("orders")
    kc.restart_connector("orders")
    assert kc.get_connector_status("orders")["connector"]["state"] == "RESTARTING"
    kc.stop_connector("orders")
    assert kc.get_connector_status("orders")["connector"]["state"] == "STOPPED"
    assert kc.list_connector_topics("orders") == {"orders": {"topics": []}}
    kc.reset_connector_topics("orders")
    plugins = kc.list_connector_plugins()
    assert any(p["class"] == "org.apache.kafka.connect.file.FileStreamSinkConnector" for p in plugins)
    validation = kc.validate_connector_config("FileStreamSink", {"connector.class": "FileStreamSink"})
    assert validation["error_count"] == 3  # name missing; neither topics nor topics.regex
    assert {c["value"]["name"] for c in validation["configs"] if c["value"]["errors"]} == {
        "name", "topics", "topics.regex"}
    kc.delete_connector("orders")
    assert kc.list_connectors() == []
