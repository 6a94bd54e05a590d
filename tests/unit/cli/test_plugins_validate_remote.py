"""``plugins`` and ``validate`` with ``--url``: the real REST router, served by the local
runtime's ``http.server`` on 127.0.0.1:0, answers, and the CLI prints exactly what it prints offline."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.cli import main
from lambda_connect.local.server import RestServer
from lambda_connect.plugins import BUILTINS
from lambda_connect.rest.resources import ConnectService
from lambda_connect.rest.router import Request, Response, Router
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.secrets import LocalFileSecretStore
from lambda_connect.state import open_store

Run = Callable[[list[str]], tuple[int, str, str]]
_SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
_FILTER = "org.apache.kafka.connect.transforms.Filter"


class RecordingRouter(Router):
    """The real router, noting each request (method, path, query) the CLI sent."""

    def __init__(self, service: ConnectService) -> None:
        super().__init__(service)
        self.seen: list[tuple[str, str, dict[str, list[str]]]] = []

    def handle(self, request: Request) -> Response:
        self.seen.append((request.method, request.path, dict(request.query)))
        return super().handle(request)


@dataclass
class Endpoint:
    url: str
    router: RecordingRouter

    @property
    def seen(self) -> list[tuple[str, str, dict[str, list[str]]]]:
        return self.router.seen


def _endpoint(tmp_path: Path, registry: Registry | None) -> Iterator[Endpoint]:
    service = ConnectService(open_store("memory://"), registry, LocalFileSecretStore(tmp_path / "secrets.json"), None)
    router = RecordingRouter(service)
    server = RestServer(router, "127.0.0.1", 0).start()
    try:
        yield Endpoint(server.url, router)
    finally:
        server.stop()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    """An endpoint with this installation's plugins, so both modes must agree."""
    yield from _endpoint(tmp_path, None)


@pytest.fixture
def small_endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    """An endpoint with only two plugins: what it prints can only have come from it."""
    builtins = dict(BUILTINS)
    yield from _endpoint(tmp_path, Registry([(_SINK, builtins[_SINK]), (_FILTER, builtins[_FILTER])]))


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(argv: list[str]) -> tuple[int, str, str]:
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return go


def _write(tmp_path: Path, name: str, config: dict[str, Any] | str) -> str:
    path = tmp_path / name
    path.write_text(config if isinstance(config, str) else json.dumps(config), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("extra", [[], ["--type", "connector"], ["--type", "converter"],
                                   ["--type", "transformation"], ["--type", "predicate"],
                                   ["--output", "json"], ["--type", "predicate", "--output", "json"]])
def test_plugins_remote_prints_what_offline_prints(endpoint: Endpoint, run: Run, extra: list[str]) -> None:
    offline = run(["plugins", *extra])
    remote = run(["plugins", "--url", endpoint.url, *extra])
    assert remote == offline
    assert offline[0] == 0 and offline[1].strip()
    assert endpoint.seen == [("GET", "/connector-plugins", {"connectorsOnly": ["false"]})]


def test_plugins_remote_lists_the_endpoints_catalogue_with_its_aliases(small_endpoint: Endpoint, run: Run) -> None:
    code, out, _ = run(["plugins", "--url", small_endpoint.url])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["CLASS", "TYPE", "VERSION", "ALIASES"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {_SINK, _FILTER}
    assert rows[_SINK].split()[1] == "sink" and rows[_SINK].endswith("FileStreamSinkConnector, FileStreamSink")
    assert rows[_FILTER].split()[1] == "transformation" and rows[_FILTER].endswith("Filter")
    code, out, _ = run(["plugins", "--url", small_endpoint.url, "--type", "connector", "-o", "json"])
    assert code == 0 and [i["class"] for i in json.loads(out)] == [_SINK]


def test_validate_remote_valid_config_matches_offline(endpoint: Endpoint, run: Run, tmp_path: Path) -> None:
    good = _write(tmp_path, "good.json", {"name": "f", "connector.class": "FileStreamSink", "topics": "t"})
    offline = run(["validate", "--config", good])
    assert offline == (0, "Configuration is valid (FileStreamSink)\n", "")
    assert run(["validate", "--config", good, "--url", endpoint.url]) == offline
    assert endpoint.seen == [("PUT", "/connector-plugins/FileStreamSink/config/validate", {})]
    props = _write(tmp_path, "c.properties", "name=f\nconnector.class=FileStreamSink\ntopics=t\n")
    assert run(["validate", "--config", props, "--url", endpoint.url]) == offline


def test_validate_remote_invalid_config_prints_errors_per_key_and_exits_2(
    endpoint: Endpoint, run: Run, tmp_path: Path
) -> None:
    bad = _write(tmp_path, "bad.json", {"name": "f", "connector.class": "FileStreamSink", "topics": "t",
                                        "topics.regex": "t.*", "tasks.max": 0})
    offline = run(["validate", "--config", bad])
    remote = run(["validate", "--config", bad, "--url", endpoint.url])
    assert remote == offline
    code, out, _ = remote
    assert code == 2
    assert "topics: topics and topics.regex are mutually exclusive options, but both are set.\n" in out
    assert "tasks.max: Invalid value 0 for configuration tasks.max: Value must be at least 1\n" in out
    assert out.endswith("3 error(s)\n")
    offline_json = run(["validate", "--config", bad, "--output", "json"])
    remote_json = run(["validate", "--config", bad, "--output", "json", "--url", endpoint.url])
    assert remote_json == offline_json
    assert remote_json[0] == 2 and json.loads(remote_json[1])["error_count"] == 3


@pytest.mark.parametrize("config", [
    {"name": "f", "connector.class": "NoSuchConnector", "topics": "t"},
    {"name": "f", "topics": "t"},
])
def test_validate_remote_bad_connector_class_is_a_config_error(
    endpoint: Endpoint, run: Run, tmp_path: Path, config: dict[str, str]
) -> None:
    path = _write(tmp_path, "c.json", config)
    offline = run(["validate", "--config", path])
    remote = run(["validate", "--config", path, "--url", endpoint.url])
    assert remote == offline
    assert remote[0] == 2 and remote[1].startswith("connector.class: ") and remote[1].endswith("1 error(s)\n")
    code, out, err = run(["validate", "--config", path, "--url", endpoint.url, "--output", "json"])
    assert (code, out) == (2, "") and err.startswith("connector.class: ")


def test_validate_remote_uses_the_endpoints_plugins(small_endpoint: Endpoint, run: Run, tmp_path: Path) -> None:
    source = _write(tmp_path, "src.json", {"name": "s", "connector.class": "FileStreamSource", "topic": "t"})
    assert run(["validate", "--config", source])[0] == 0  # installed here...
    code, out, _ = run(["validate", "--config", source, "--url", small_endpoint.url])
    assert code == 2  # ...but not there
    assert out.startswith("connector.class: Invalid value FileStreamSource for configuration connector.class: "
                          "Failed to find any class that implements Connector")


def test_remote_failures_exit_1_with_the_endpoints_message(endpoint: Endpoint, run: Run, tmp_path: Path) -> None:
    good = _write(tmp_path, "good.json", {"name": "f", "connector.class": "FileStreamSink", "topics": "t"})
    code, out, err = run(["plugins", "--url", endpoint.url + "/not-connect"])
    assert (code, out) == (1, "") and err.startswith("Error (HTTP 404): ")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    for argv in (["plugins", "--url", closed], ["validate", "--config", good, "--url", closed]):
        code, out, err = run(argv)
        assert (code, out) == (1, "") and err.startswith(f"Error: cannot reach {closed}")


def test_unreadable_config_is_reported_before_any_request(endpoint: Endpoint, run: Run, tmp_path: Path) -> None:
    code, out, err = run(["validate", "--config", str(tmp_path / "missing.json"), "--url", endpoint.url])
    assert (code, out) == (2, "") and err.startswith("<config>: Cannot read ")
    assert endpoint.seen == []
