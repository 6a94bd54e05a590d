"""PASSWORD values never reach the state table: locally they go to a 0600 secrets file, in AWS
to Secrets Manager; the stored config holds a reference that tasks resolve at run time."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import sys
import uuid
from pathlib import Path

import pytest
from lambda_connect.rest.http_api import build_handler
from lambda_connect.runtime.config_providers import resolve_config
from lambda_connect.runtime.secrets import LocalFileSecretStore
from lambda_connect.state import open_store

from tests.unit.rest.api_events import ApiClient, LambdaContext

APP = Path(__file__).parents[2] / "functions" / "connector_api" / "app.py"


def jdbc_config(password: str) -> dict[str, str]:
    return {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "topics": "orders",
        "connection.url": "jdbc:postgresql://127.0.0.1:5432/test",
        "connection.user": "app",
        "connection.password": password,
    }


def test_sqlite_state_file_never_holds_the_password(tmp_path: Path) -> None:
    password = "pw-" + uuid.uuid4().hex
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    secrets = LocalFileSecretStore(tmp_path / "secrets.json")
    api = ApiClient(build_handler(store, secrets, None, {}))
    assert api.post("/connectors", {"name": "jdbc", "config": jdbc_config(password)}).status == 201
    stored = api.get("/connectors/jdbc/config").json
    reference = stored["connection.password"]
    assert reference == f"${{file:{tmp_path / 'secrets.json'}:jdbc.connection.password}}"
    # GET-then-PUT round-trips: the reference is stored as given, not re-wrapped.
    assert api.put("/connectors/jdbc/config", stored).status == 200
    assert api.get("/connectors/jdbc/config").json["connection.password"] == reference
    # Changing the password through PATCH replaces the secret, not the reference.
    assert api.patch("/connectors/jdbc/config", {"connection.password": password + "-2"}).status == 200
    store.close()
    for path in tmp_path.iterdir():
        if path.name.startswith("state.db"):
            assert password.encode() not in path.read_bytes(), path
    mode = stat.S_IMODE(os.stat(tmp_path / "secrets.json").st_mode)
    assert mode == 0o600
    assert resolve_config({"p": reference}, owner="jdbc") == {"p": password + "-2"}
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    ApiClient(build_handler(store, secrets, None, {})).delete("/connectors/jdbc")
    assert list(secrets.keys()) == []
    store.close()


def test_invalid_config_stores_no_secret(tmp_path: Path) -> None:
    secrets = LocalFileSecretStore(tmp_path / "secrets.json")
    api = ApiClient(build_handler(open_store("memory://"), secrets, None, {}))
    config = {**jdbc_config("never-stored"), "tasks.max": "0"}
    assert api.post("/connectors", {"name": "bad", "config": config}).status == 400
    assert not (tmp_path / "secrets.json").exists()


def test_embedded_plugin_passwords_are_detected(tmp_path: Path) -> None:
    """PASSWORD keys of converters count too (here the schema registry's basic auth)."""
    secrets = LocalFileSecretStore(tmp_path / "secrets.json")
    api = ApiClient(build_handler(open_store("memory://"), secrets, None, {}))
    config = {"connector.class": "FileStreamSink", "topics": "t", "value.converter": "AvroConverter",
              "value.converter.schema.registry.url": "mock://x",
              "value.converter.basic.auth.user.info": "user:secret-value"}
    reply = api.post("/connectors", {"name": "avro", "config": config})
    assert reply.status == 201, reply.text
    assert "secret-value" not in reply.text
    stored = reply.json["config"]["value.converter.basic.auth.user.info"]
    assert stored == secrets.reference("avro", "value.converter.basic.auth.user.info")
    assert resolve_config({"k": stored}, owner="avro") == {"k": "user:secret-value"}


def test_dynamodb_and_secrets_manager_through_the_lambda_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    import moto
    from lambda_connect.state.dynamodb import create_table

    password = "pw-" + uuid.uuid4().hex
    table = "state-" + uuid.uuid4().hex[:8]
    with moto.mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, table)
        monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", f"dynamodb://{table}")
        monkeypatch.delenv("LAMBDA_CONNECT_SECRETS", raising=False)
        monkeypatch.delenv("LAMBDA_CONNECT_BOOTSTRAP_SERVERS", raising=False)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "connector-api")
        spec = importlib.util.spec_from_file_location("connector_api_app_" + uuid.uuid4().hex[:6], APP)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        api = ApiClient(module.lambda_handler, LambdaContext())
        reply = api.post("/connectors", {"name": "jdbc", "config": jdbc_config(password)})
        assert reply.status == 201, reply.text
        reference = reply.json["config"]["connection.password"]
        assert reference == "${secretsmanager:lambda-connect/connectors/jdbc:connection.password}"
        items = dynamodb.scan(TableName=table)["Items"]
        assert items and password not in json.dumps(items)
        assert resolve_config({"p": reference}, owner="jdbc") == {"p": password}
        assert api.get("/connectors/jdbc/status").json["connector"]["worker_id"] == "connector-api"
        assert api.delete("/connectors/jdbc").status == 204
        secrets = boto3.client("secretsmanager", region_name="us-east-1").list_secrets()["SecretList"]
        assert [s["Name"] for s in secrets if "DeletedDate" not in s] == []
    sys.modules.pop(spec.name, None)

