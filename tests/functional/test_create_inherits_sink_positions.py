"""Issue 15: a sink connector created under the name of an earlier one whose positions its target
still holds (the JDBC sink's ``__lambda_connect_sink_offsets`` table, on SQLite here) is created,
with a WARN in the log and an ``X-Lambda-Connect-Warning`` header naming the connector, the marks
found and the way to start over; an unreachable target costs only a DEBUG line."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.rest.http_api import build_handler
from lambda_connect.rest.resources import WARNING_HEADER
from lambda_connect.state import open_store

from tests.fixtures.sink_input import SinkRig, raw_record
from tests.unit.rest.api_events import ApiClient


class _NoGroups:
    """Sink offsets of a cluster where the connector's groups hold nothing (no broker needed)."""

    def get(self, connector: str, groups: Any) -> list[Any]:
        return []

    def alter(self, connector: str, groups: Any, offsets: Any) -> None:
        return None

    def reset(self, connector: str, groups: Any) -> None:
        return None


def jdbc_config(url: str, topic: str) -> dict[str, str]:
    return {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "connection.url": url,
            "topics": topic, "auto.create": "true", "insert.mode": "insert",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false"}


def header(reply: Any) -> str | None:
    return {k.lower(): v for k, v in reply.headers.items()}.get(WARNING_HEADER.lower())


@pytest.fixture
def earlier(tmp_path: Path) -> tuple[str, str, str]:
    """A target database where a connector ``name`` wrote offsets 0-4 of partition 0 and 0-2 of 1."""
    name, topic = f"orders-db-{uuid.uuid4().hex[:6]}", "orders"
    url = f"jdbc:sqlite:{tmp_path / 'target.db'}"
    sink = SinkRig(name, jdbc_config(url, topic))
    records = {f"{topic}-{p}": [raw_record(topic, p, o, f'{{"id": {p * 10 + o}}}'.encode()) for o in range(n)]
               for p, n in ((0, 5), (1, 3))}
    assert sink({"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9", "records": records}) == \
        {"batchItemFailures": []}
    return name, url, topic


def test_a_create_over_earlier_marks_warns_in_the_log_and_a_header(earlier: tuple[str, str, str],
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    name, url, topic = earlier
    api = ApiClient(build_handler(open_store("memory://"), None, _NoGroups(), {}))
    with caplog.at_level(logging.WARNING, "lambda_connect.rest.resources"):
        reply = api.post("/connectors", {"name": name, "config": jdbc_config(url, topic)})
    assert reply.status == 201, reply.text
    warning = header(reply)
    assert warning is not None, reply.headers
    for part in (f"Connector {name} was created", "table __lambda_connect_sink_offsets",
                 "orders-0 at offset 4, orders-1 at offset 2", "skipped as already written",
                 f"PUT /connectors/{name}/stop", f"DELETE /connectors/{name}/offsets",
                 f"PUT /connectors/{name}/resume", '"initial_state": "STOPPED"'):
        assert part in warning, (part, warning)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [warning]

    # The fix it offers works: once reset, a new connector of that name is created without a warning.
    assert api.put(f"/connectors/{name}/stop").status == 204
    assert api.delete(f"/connectors/{name}/offsets").status == 200
    assert api.delete(f"/connectors/{name}").status == 204
    again = api.post("/connectors", {"name": name, "config": jdbc_config(url, topic)})
    assert again.status == 201 and header(again) is None, again.headers


def test_put_config_creating_the_connector_warns_too_and_other_names_do_not(earlier: tuple[str, str, str]) -> None:
    name, url, topic = earlier
    api = ApiClient(build_handler(open_store("memory://"), None, _NoGroups(), {}))
    other = api.post("/connectors", {"name": f"{name}-new", "config": jdbc_config(url, topic)})
    assert other.status == 201 and header(other) is None
    created = api.put(f"/connectors/{name}/config", jdbc_config(url, topic))
    assert created.status == 201 and f"DELETE /connectors/{name}/offsets" in (header(created) or "")
    updated = api.put(f"/connectors/{name}/config", {**jdbc_config(url, topic), "batch.size": "100"})
    assert updated.status == 200 and header(updated) is None  # only a create says it


def test_an_unreachable_target_never_fails_the_create(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    api = ApiClient(build_handler(open_store("memory://"), None, _NoGroups(), {}))
    url = f"jdbc:sqlite:{tmp_path / 'no-such-dir' / 'target.db'}"
    with caplog.at_level(logging.DEBUG, "lambda_connect.rest.resources"):
        reply = api.post("/connectors", {"name": "far-away", "config": jdbc_config(url, "orders")})
    assert reply.status == 201 and header(reply) is None, reply.text
    assert any(r.levelno == logging.DEBUG and "cannot read the positions its target holds" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)


def test_the_cli_prints_the_warning_of_a_create(earlier: tuple[str, str, str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from lambda_connect.cli import main
    from lambda_connect.local.server import RestServer
    from lambda_connect.rest.resources import ConnectService
    from lambda_connect.rest.router import Router

    name, url, topic = earlier
    config_file = tmp_path / "connector.json"
    config_file.write_text(json.dumps({"name": name, "config": jdbc_config(url, topic)}))
    service = ConnectService(open_store("memory://"), None, None, _NoGroups())
    server = RestServer(Router(service), "127.0.0.1", 0).start()
    try:
        code = main(["connectors", "create", "-f", str(config_file), "--url", server.url, "-o", "json"])
    finally:
        server.stop()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["name"] == name  # JSON output stays JSON; the warning goes to stderr
    assert err.startswith(f"Warning: Connector {name} was created, but its target already holds sink positions")
    assert f"DELETE /connectors/{name}/offsets" in err
