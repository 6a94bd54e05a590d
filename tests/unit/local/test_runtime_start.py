"""How ``LocalRuntime`` starts: the embedded broker starts while the rest is prepared, and an error
on either side leaves nothing running."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from lambda_connect.local.broker import BrokerError
from lambda_connect.local.functions import FunctionNotFound, find_function, project_root
from lambda_connect.local.runtime import (
    EMBEDDED_BROKER_CLIENT_ENV,
    SINK_FUNCTION,
    LocalRuntime,
    RuntimeOptions,
    _store_reads_environment,
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.broker
def test_a_failed_preparation_stops_the_broker_that_started_meanwhile(tmp_path: Path) -> None:
    empty = tmp_path / "project"  # neither template.yaml nor functions/: no handler to find
    empty.mkdir()
    runtime = LocalRuntime(RuntimeOptions(state_url=f"sqlite:///{tmp_path}/state.db", port=0, root=empty))
    with pytest.raises(FunctionNotFound):
        runtime.start()
    broker = runtime.broker
    assert broker is not None and broker.startup_seconds is not None  # it did start, in the background
    assert not broker.running
    assert runtime.server is None and runtime.platform is None


@pytest.mark.broker
def test_a_broker_that_cannot_start_fails_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: tansu cannot have the port
        port = taken.getsockname()[1]
        runtime = LocalRuntime(RuntimeOptions(state_url=f"sqlite:///{tmp_path}/state.db", port=0, broker_port=port,
                                              broker_log=tmp_path / "tansu.log"))
        with pytest.raises(BrokerError):
            runtime.start()
    assert runtime.store is not None  # opened while the broker was starting
    assert runtime.server is None and runtime.platform is None and not runtime.broker.running
    pid = runtime.broker.pid
    assert pid is None or not _alive(pid)


def test_the_state_store_opens_early_unless_it_reads_the_environment() -> None:
    assert not _store_reads_environment("sqlite:///x/state.db")
    assert not _store_reads_environment("postgresql+psycopg://u@h/db")
    assert not _store_reads_environment("memory://")
    assert _store_reads_environment("dynamodb://table?region=eu-west-1")
    assert _store_reads_environment("DynamoDB://table")


class _Broker:
    """Stands in for a started embedded broker where only its presence matters."""


@pytest.fixture
def sink_spec() -> object:
    return find_function(SINK_FUNCTION, project_root(Path(__file__)))


def test_clients_of_the_embedded_broker_reconnect_quickly(sink_spec: object, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in EMBEDDED_BROKER_CLIENT_ENV:
        monkeypatch.delenv(key, raising=False)
    runtime = LocalRuntime(RuntimeOptions())
    runtime.broker = _Broker()
    runtime.bootstrap_servers = "127.0.0.1:1"
    env = runtime._environment(sink_spec)  # type: ignore[arg-type]
    assert {k: env[k] for k in EMBEDDED_BROKER_CLIENT_ENV} == EMBEDDED_BROKER_CLIENT_ENV
    from lambda_connect.aws.kafka_clients import kafka_settings_from_env

    assert kafka_settings_from_env(env).properties["reconnect.backoff.ms"] == "10"

    monkeypatch.setenv("LAMBDA_CONNECT_KAFKA_RECONNECT_BACKOFF_MS", "250")  # the user's own setting wins
    assert runtime._environment(sink_spec)["LAMBDA_CONNECT_KAFKA_RECONNECT_BACKOFF_MS"] == "250"  # type: ignore[arg-type]


def test_clients_of_another_cluster_keep_their_settings(sink_spec: object, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in EMBEDDED_BROKER_CLIENT_ENV:
        monkeypatch.delenv(key, raising=False)
    runtime = LocalRuntime(RuntimeOptions(bootstrap_servers="kafka.example:9092"))
    env = runtime._environment(sink_spec)  # type: ignore[arg-type]
    assert not set(EMBEDDED_BROKER_CLIENT_ENV) & set(env)
