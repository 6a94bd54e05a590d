"""Issue 15: what ``GET /local/environment`` shares with ``invoke --url``, and what it refuses to."""

from __future__ import annotations

from pathlib import Path

import pytest
from lambda_connect.cli.invoke import running_up_environment
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions, absolute_state_url


def shared(state_url: str, **env: str) -> dict:
    runtime = LocalRuntime(RuntimeOptions(state_url=state_url))
    runtime.env = {"LAMBDA_CONNECT_STATE_URL": state_url, "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
                   "LAMBDA_CONNECT_KAFKA_AUTH": "none", "POWERTOOLS_SERVICE_NAME": "x", **env}
    return runtime.invoke_environment()


def test_a_relative_sqlite_path_becomes_absolute() -> None:
    assert absolute_state_url("sqlite:///.lambda-connect/state.db") == \
        f"sqlite:///{Path.cwd()}/.lambda-connect/state.db"
    assert absolute_state_url("sqlite:////abs/state.db?timeout=5") == "sqlite:////abs/state.db?timeout=5"
    assert absolute_state_url("dynamodb://table") == "dynamodb://table"
    answer = shared("sqlite:///s/state.db", LAMBDA_CONNECT_SECRETS="file:s/secrets.json")
    assert answer["environment"]["LAMBDA_CONNECT_SECRETS"] == f"file:{Path.cwd()}/s/secrets.json"
    assert "POWERTOOLS_SERVICE_NAME" not in answer["environment"]


def test_a_password_in_the_state_url_is_masked_and_said_so() -> None:
    answer = shared("postgresql://connect:s3cret@127.0.0.1:5432/state")
    assert answer["environment"]["LAMBDA_CONNECT_STATE_URL"] == "postgresql://connect:***@127.0.0.1:5432/state"
    assert "s3cret" not in str(answer)
    assert any("--state" in note for note in answer["notes"])


def test_invoke_refuses_a_memory_state_and_a_masked_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_connect.cli import _http

    answers = iter([{"environment": {"LAMBDA_CONNECT_STATE_URL": "memory://"}, "notes": []},
                    {"environment": {"LAMBDA_CONNECT_STATE_URL": "postgresql://u:***@h/db"}, "notes": []}])
    monkeypatch.setattr(_http.ConnectClient, "request", lambda self, method, path: next(answers))
    with pytest.raises(ValueError, match=r"in memory.*--state sqlite:///PATH"):
        running_up_environment("http://127.0.0.1:8083")
    with pytest.raises(ValueError, match="pass the full URL with --state"):
        running_up_environment("http://127.0.0.1:8083")
