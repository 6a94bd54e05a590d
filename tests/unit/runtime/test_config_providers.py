from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from lambda_connect.api.errors import ConfigException
from lambda_connect.runtime.config_providers import read_properties, resolve_config
from moto import mock_aws


def test_env_and_plain_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_TEST_USER", "alice")
    out = resolve_config({"user": "${env:LC_TEST_USER}", "url": "jdbc://${env:LC_TEST_USER}@h", "n": "1"})
    assert out == {"user": "alice", "url": "jdbc://alice@h", "n": "1"}


def test_file_provider_reads_properties_and_json(tmp_path: Path) -> None:
    props = tmp_path / "db.properties"
    props.write_text("# secrets\nuser=bob\npassword : p@ss=word\nlong=a\\\n  b\n")
    js = tmp_path / "db.json"
    js.write_text(json.dumps({"token": "t0k", "port": 5432}))
    out = resolve_config({"a": f"${{file:{props}:password}}", "b": f"${{file:{js}:token}}",
                          "c": f"${{file:{js}:port}}", "d": f"${{file:{props}:long}}"})
    assert out == {"a": "p@ss=word", "b": "t0k", "c": "5432", "d": "ab"}
    assert read_properties("k v\n!c\nx=") == {"k": "v", "x": ""}


def test_unresolvable_references_name_every_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigException) as info:
        resolve_config({"a": "${env:LC_DEFINITELY_UNSET}", "b": f"${{file:{tmp_path}/none:k}}",
                        "c": "${vault:x:y}", "ok": "fine"})
    assert set(info.value.errors) == {"a", "b", "c"}
    assert "vault" in info.value.errors["c"][0]


@mock_aws
def test_secretsmanager_and_ssm_through_moto() -> None:
    boto3.client("secretsmanager").create_secret(Name="prod/db", SecretString=json.dumps({"password": "hunter2"}))
    boto3.client("secretsmanager").create_secret(Name="plain", SecretString="raw-secret")
    boto3.client("ssm").put_parameter(Name="/lc/url", Value="postgres://h", Type="SecureString")
    out = resolve_config({"p": "${secretsmanager:prod/db:password}", "r": "${secretsmanager:plain}",
                          "u": "${ssm:/lc/url}"})
    assert out == {"p": "hunter2", "r": "raw-secret", "u": "postgres://h"}
    with pytest.raises(ConfigException) as info:
        resolve_config({"x": "${secretsmanager:prod/db:nope}", "y": "${ssm:/lc/missing}"})
    assert set(info.value.errors) == {"x", "y"}
