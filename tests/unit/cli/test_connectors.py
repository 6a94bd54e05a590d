"""``lambda-connect connectors`` and ``offsets`` against the real router on a local port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.cli import main
from lambda_connect.cli._http import execute_api_region
from lambda_connect.local.server import RestServer
from lambda_connect.rest.resources import ConnectService
from lambda_connect.rest.router import Router
from lambda_connect.runtime.secrets import LocalFileSecretStore
from lambda_connect.state import open_store
from lambda_connect.state.base import StatusEntry


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    store = open_store("memory://")
    service = ConnectService(store, None, LocalFileSecretStore(tmp_path / "secrets.json"), None)
    server = RestServer(Router(service), "127.0.0.1", 0).start()
    try:
        yield server.url, store
    finally:
        server.stop()


def cli(url: str, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv[:2], *argv[2:], "--url", url] if argv[0] in ("connectors", "offsets") else list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_config(tmp_path: Path, name: str = "orders") -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"name": name, "config": {"connector.class": "FileStreamSink", "topics": "orders",
                                                         "file": "/tmp/orders.out"}}))
    return str(path)


def test_create_list_get_status_and_delete(api: tuple[str, Any], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url, store = api
    code, out, _ = cli(url, capsys, "connectors", "create", "-f", write_config(tmp_path))
    assert code == 0 and "Created connector orders" in out
    store.put_connector_status("orders", StatusEntry("RUNNING", "w1", None, 1.0))
    code, out, _ = cli(url, capsys, "connectors", "list")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "TYPE", "STATE"] and row.split()[:3] == ["orders", "sink", "RUNNING"]
    code, out, _ = cli(url, capsys, "connectors", "list", "--output", "json")
    assert json.loads(out) == ["orders"]
    code, out, _ = cli(url, capsys, "connectors", "get", "orders", "-o", "json")
    assert json.loads(out)["config"]["topics"] == "orders"
    code, out, _ = cli(url, capsys, "connectors", "status", "orders")
    assert "connector  RUNNING" in out
    code, out, _ = cli(url, capsys, "connectors", "delete", "orders")
    assert code == 0 and store.get_connector("orders") is None


def test_update_patch_pause_resume_stop_restart(api: tuple[str, Any], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    url, store = api
    path = write_config(tmp_path)
    assert cli(url, capsys, "connectors", "update", "-f", path)[1].startswith("Created connector orders")
    assert cli(url, capsys, "connectors", "update", "-f", path)[1].startswith("Updated connector orders")
    code, _, _ = cli(url, capsys, "connectors", "patch", "orders", "--set", "topics=a,b", "--unset", "file")
    config = store.get_connector("orders").config
    assert code == 0 and config["topics"] == "a,b" and "file" not in config
    assert cli(url, capsys, "connectors", "pause", "orders")[0] == 0
    assert store.get_connector("orders").target_state == "PAUSED"
    assert cli(url, capsys, "connectors", "resume", "orders")[0] == 0
    assert cli(url, capsys, "connectors", "stop", "orders")[0] == 0
    assert store.get_connector("orders").target_state == "STOPPED"
    code, out, _ = cli(url, capsys, "connectors", "restart", "orders", "--include-tasks", "-o", "json")
    assert code == 0 and json.loads(out)["connector"]["state"] == "RESTARTING"


def test_errors_print_kafka_message_and_exit_1(api: tuple[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = api
    code, _, err = cli(url, capsys, "connectors", "get", "missing")
    assert code == 1 and "HTTP 404" in err and "missing" in err
    code, _, err = cli("http://127.0.0.1:9", capsys, "connectors", "list")
    assert code == 1 and "cannot reach" in err


def test_offsets_alter_requires_stopped_then_reads_back(api: tuple[str, Any], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    url, store = api
    source = tmp_path / "src.json"
    source.write_text(json.dumps({"name": "files", "config": {"connector.class": "FileStreamSource",
                                                              "topic": "t", "file": "/tmp/in.txt"}}))
    cli(url, capsys, "connectors", "create", "-f", str(source))
    offsets = tmp_path / "offsets.json"
    offsets.write_text(json.dumps({"offsets": [{"partition": {"filename": "/tmp/in.txt"},
                                                "offset": {"position": 42}}]}))
    code, _, err = cli(url, capsys, "offsets", "alter", "files", "-f", str(offsets))
    assert code == 1 and "STOPPED" in err
    cli(url, capsys, "connectors", "stop", "files")
    code, out, _ = cli(url, capsys, "offsets", "alter", "files", "-f", str(offsets))
    assert code == 0 and "altered" in out
    code, out, _ = cli(url, capsys, "offsets", "get", "files", "-o", "json")
    assert json.loads(out)["offsets"] == [{"partition": {"filename": "/tmp/in.txt"}, "offset": {"position": 42}}]
    code, out, _ = cli(url, capsys, "offsets", "reset", "files")
    assert code == 0 and store.get_offsets("files") == []


def test_execute_api_hosts_are_signed() -> None:
    assert execute_api_region("https://abc123.execute-api.eu-west-1.amazonaws.com/") == "eu-west-1"
    assert execute_api_region("http://127.0.0.1:8083") is None


def test_signed_request_carries_sigv4_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_connect.cli._http import ConnectClient

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    client = ConnectClient("https://abc123.execute-api.eu-west-1.amazonaws.com")
    headers = client._sign("GET", client.url + "/connectors", None, {"Accept": "application/json"})
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
