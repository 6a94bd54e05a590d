"""``lambda-connect invoke``: a handler run by path with the template's environment and a context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lambda_connect.cli import main

TEMPLATE = """
Parameters:
  Mode: {Type: String, Default: template}
Globals:
  Function:
    Handler: app.lambda_handler
    Timeout: 9
    Environment:
      Variables:
        LAMBDA_CONNECT_TEST_MODE: !Ref Mode
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
"""

HANDLER = """
import os

def lambda_handler(event, context):
    if event.get("boom"):
        raise ValueError("boom requested")
    return {"event": event, "mode": os.environ.get("LAMBDA_CONNECT_TEST_MODE"),
            "arn": context.invoked_function_arn, "remaining_ms": context.get_remaining_time_in_millis()}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "functions" / "echo").mkdir(parents=True)
    (tmp_path / "functions" / "echo" / "app.py").write_text(HANDLER)
    (tmp_path / "event.json").write_text('{"hello": "world"}')
    return tmp_path


def invoke(project: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    code = main(["invoke", "echo", "--event", str(project / "event.json"), "--root", str(project), *extra])
    return code, json.loads(capsys.readouterr().out)


def test_invoke_prints_the_result(project: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBDA_CONNECT_TEST_MODE", raising=False)
    code, result = invoke(project, capsys)
    assert code == 0 and result["event"] == {"hello": "world"} and result["mode"] == "template"
    assert result["arn"].endswith(":function:EchoFunction")
    assert 8000 < result["remaining_ms"] <= 9000


def test_connector_picks_the_alias_and_env_overrides(project: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDA_CONNECT_TEST_MODE", "shell")
    code, result = invoke(project, capsys, "--connector", "orders")
    assert code == 0 and result["arn"].endswith(":function:EchoFunction:connect-orders")
    assert result["mode"] == "shell"
    code, result = invoke(project, capsys, "--env", "LAMBDA_CONNECT_TEST_MODE=flag")
    assert result["mode"] == "flag"


def test_handler_error_is_reported_like_lambda(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "event.json").write_text('{"boom": true}')
    code, result = invoke(project, capsys)
    assert code == 1 and result["errorType"] == "ValueError" and result["errorMessage"] == "boom requested"


def test_unknown_function_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", "nope", "--event", str(project / "event.json"), "--root", str(project)]) == 2
    assert "nope" in capsys.readouterr().err
