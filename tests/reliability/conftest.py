"""Fixtures of the reliability suite: a target per sink kind, a sink container, throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.fixtures.throwaway_pg import throwaway_pg  # noqa: F401  (fixture)

from .harness import Target, load_app, make_target


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> Iterator[Target]:
    """The sink under test, by kind (``indirect`` parametrisation); S3 runs inside moto."""
    kind = request.param
    if kind == "s3":
        from lambda_connect.plugins.connectors.s3 import sink as s3_sink
        from moto import mock_aws

        with mock_aws():
            s3_sink._clients.clear()
            yield make_target(kind, request, tmp_path, unique_name)
            s3_sink._clients.clear()
        return
    made = make_target(kind, request, tmp_path, unique_name)
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def sink_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A cold ``functions/sink_task`` container with its state in SQLite."""
    return load_app("sink_task", {"LAMBDA_CONNECT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
                                  "LAMBDA_CONNECT_CONNECTOR": None, "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": None},
                    monkeypatch)


class RestApi:
    """The REST API as ``lambda-connect up`` serves it: router, service and state store, on a free
    loopback port; ``changes`` records every connector the API reported as changed."""

    def __init__(self, state_url: str, tmp_path: Path, bootstrap: str) -> None:
        from lambda_connect.aws.kafka_clients import KafkaSettings
        from lambda_connect.aws.sink_offsets import KafkaSinkOffsets
        from lambda_connect.local.server import RestServer
        from lambda_connect.rest.resources import ConnectService
        from lambda_connect.rest.router import Router
        from lambda_connect.runtime.registry import Registry
        from lambda_connect.runtime.secrets import LocalFileSecretStore
        from lambda_connect.state.base import open_store

        self.store = open_store(state_url)
        self.changes: list[str] = []
        self.service = ConnectService(
            self.store, Registry.default(), LocalFileSecretStore(tmp_path / "secrets.json"),
            KafkaSinkOffsets.from_settings(KafkaSettings(bootstrap_servers=bootstrap)),
            on_change=self.changes.append, worker_id="reliability", kafka_cluster_id="reliability-cluster",
        )
        self.router = Router(self.service)
        self.server = RestServer(self.router, "127.0.0.1", 0).start()
        self.url = self.server.url

    def close(self) -> None:
        self.server.stop()
        self.store.close()


@pytest.fixture
def rest_api(tmp_path: Path, kafka_broker: str) -> Iterator[RestApi]:
    api = RestApi(f"sqlite:///{tmp_path / 'state.db'}", tmp_path, kafka_broker)
    try:
        yield api
    finally:
        api.close()
