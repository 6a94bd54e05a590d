"""One connector never reads another's secrets, a deleted connector takes exactly its own secrets
with it, and every PASSWORD key of Kafka's client configs is kept out of the state table and
out of error messages (issue 11, defects 15 and 16)."""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from lambda_connect.api.errors import ConfigException
from lambda_connect.aws.kafka_event import build_kafka_event
from lambda_connect.rest.http_api import build_handler
from lambda_connect.runtime.config_providers import (
    ENV_ALLOWLIST_ENV,
    FILE_ALLOWED_PATHS_ENV,
    resolve_config,
)
from lambda_connect.runtime.secrets import LocalFileSecretStore, legacy_secret_id
from lambda_connect.state import open_store

from tests.unit.rest.api_events import ApiClient

ROOT = Path(__file__).parents[2]


def jdbc(password: str, **extra: str) -> dict[str, str]:
    return {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": "orders",
            "connection.url": "jdbc:postgresql://127.0.0.1:5432/test", "connection.user": "app",
            "connection.password": password, **extra}


def file_sink(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"connector.class": "FileStreamSink", "topics": "orders", "file": str(tmp_path / "out.txt"), **extra}


@pytest.fixture
def secrets(tmp_path: Path) -> LocalFileSecretStore:
    return LocalFileSecretStore(tmp_path / "secrets.json")


@pytest.fixture
def api(tmp_path: Path, secrets: LocalFileSecretStore) -> ApiClient:
    return ApiClient(build_handler(open_store(f"sqlite:///{tmp_path}/state.db"), secrets, None, {}))


def _victim(api: ApiClient) -> str:
    password = "victim-pw-" + uuid.uuid4().hex
    assert api.post("/connectors", {"name": "victim", "config": jdbc(password)}).status == 201
    return password


def _refused(reply: object, key: str, password: str | None = None) -> None:
    assert reply.status == 400, reply.text  # type: ignore[attr-defined]
    body = reply.json  # type: ignore[attr-defined]
    assert body["error_code"] == 400
    assert key in body["message"] and "not allowed" in body["message"], body["message"]
    if password is not None:
        assert password not in reply.text  # type: ignore[attr-defined]


# --- defect 15: the runtime's secret store is not a config provider for other connectors ------------
def test_a_reference_to_another_connectors_secret_is_refused_on_create(
        api: ApiClient, tmp_path: Path, secrets: LocalFileSecretStore) -> None:
    password = _victim(api)
    link = tmp_path / "innocent.json"
    link.symlink_to(secrets.path)
    hard = tmp_path / "hard.json"
    os.link(secrets.path, hard)
    for path in (secrets.path, link, hard, tmp_path / "sub" / ".." / "secrets.json"):
        reference = f"${{file:{path}:victim.connection.password}}"
        config = file_sink(tmp_path, **{"table.name.format": reference})
        reply = api.post("/connectors", {"name": "thief", "config": config})
        _refused(reply, "table.name.format", password)
    assert api.get("/connectors").json == ["victim"]
    # The validate endpoint reports it as an error of that key (200, as Kafka's validate does).
    reference = f"${{file:{secrets.path}:victim.connection.password}}"
    infos = api.put("/connector-plugins/FileStreamSink/config/validate",
                    file_sink(tmp_path, name="thief", **{"x": reference})).json
    assert infos["error_count"] == 1
    assert [c["value"]["errors"] for c in infos["configs"] if c["value"]["name"] == "x"] != [[]]


def test_a_connector_still_reads_its_own_secret(api: ApiClient, secrets: LocalFileSecretStore) -> None:
    password = _victim(api)
    stored = api.get("/connectors/victim/config").json
    assert resolve_config(stored)["connection.password"] == password
    assert api.put("/connectors/victim/config", stored).status == 200  # GET-then-PUT still round-trips


def test_a_stolen_reference_that_reaches_the_state_table_is_not_resolved_by_the_task(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written straight into the state table (no REST check on the way), the reference still
    fails at task start: the trace names the key, never the victim's password."""
    monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    for name in ("LAMBDA_CONNECT_SECRETS", "LAMBDA_CONNECT_CONNECTOR", "LAMBDA_CONNECT_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    password = "victim-pw-" + uuid.uuid4().hex
    # Stored by a separate process: the task below learns the file from the state URL alone.
    Path(tmp_path / "secrets.json").write_text(json.dumps({"victim.connection.password": password}))
    app = _sink_app()
    reference = f"${{file:{tmp_path / 'secrets.json'}:victim.connection.password}}"
    app.handler.store.create_connector("thief", {
        "name": "thief", "connector.class": "FileStreamSinkConnector", "topics": "orders",
        "file": str(tmp_path / "out-") + reference + ".txt", "key.converter": "StringConverter",
        "value.converter": "StringConverter",
    })
    event = {**build_kafka_event([("orders", 0, 0, 1_700_000_000_000, "CREATE_TIME", b"k", b"v", [])]),
             "connector": "thief"}
    with pytest.raises(ConfigException, match="another connector") as failure:
        app.lambda_handler(event, _Context())
    assert "file" in failure.value.errors and password not in str(failure.value)
    assert not any(password in p.name for p in tmp_path.iterdir())
    status = app.handler.store.get_task_statuses("thief")
    traces = " ".join(s.trace or "" for s in status.values()) + str(app.handler.store.get_connector_status("thief"))
    assert password not in traces
    app.handler.store.close()
    for path in tmp_path.iterdir():
        if path.name.startswith("state.db"):
            assert password.encode() not in path.read_bytes()


class _Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lambda-connect-sink"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _sink_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sink_app_{uuid.uuid4().hex}", ROOT / "functions/sink_task/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_file_provider_honours_allowed_paths(api: ApiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "db.properties").write_text("password=inside\n")
    (outside / "db.properties").write_text("password=leaked-value\n")
    (allowed / "sneaky.properties").symlink_to(outside / "db.properties")
    monkeypatch.setenv(FILE_ALLOWED_PATHS_ENV, f"{allowed}, /nonexistent/also")
    assert resolve_config({"p": f"${{file:{allowed}/db.properties:password}}"}) == {"p": "inside"}
    for path in (outside / "db.properties", allowed / ".." / "outside" / "db.properties",
                 allowed / "sneaky.properties"):
        with pytest.raises(ConfigException, match="allowed by") as refused:
            resolve_config({"p": f"${{file:{path}:password}}"})
        assert "leaked-value" not in str(refused.value)
        config = file_sink(tmp_path, extra=f"${{file:{path}:password}}")
        reply = api.post("/connectors", {"name": "c", "config": config})
        _refused(reply, "extra")
    monkeypatch.setenv(FILE_ALLOWED_PATHS_ENV, "relative/dir")
    with pytest.raises(ConfigException, match="absolute paths"):
        resolve_config({"p": f"${{file:{allowed}/db.properties:password}}"})


def test_proc_and_the_functions_credentials_are_never_provided(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("LC_ISOLATION_OK", "fine")
    with pytest.raises(ConfigException, match="/proc"):
        resolve_config({"p": "${file:/proc/self/environ:AWS_SECRET_ACCESS_KEY}"})
    with pytest.raises(ConfigException, match="credentials"):
        resolve_config({"p": "${env:AWS_SECRET_ACCESS_KEY}"})
    monkeypatch.setenv(ENV_ALLOWLIST_ENV, "LC_ISOLATION_.*")
    assert resolve_config({"p": "${env:LC_ISOLATION_OK}"}) == {"p": "fine"}
    with pytest.raises(ConfigException, match="not allowed"):
        resolve_config({"p": "${env:HOME}"})


def test_secrets_manager_secrets_of_other_connectors_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    import moto

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("LAMBDA_CONNECT_SECRETS_PREFIX", raising=False)
    with moto.mock_aws():
        from lambda_connect.aws.secrets import SecretsManagerSecretStore

        store = SecretsManagerSecretStore(boto3.client("secretsmanager", region_name="us-east-1"))
        reference = store.store("victim", "connection.password", "sm-pw")
        arn = boto3.client("secretsmanager").describe_secret(SecretId=store.secret_name("victim"))["ARN"]
        assert resolve_config({"p": reference}, owner="victim") == {"p": "sm-pw"}
        assert resolve_config({"p": f"${{secretsmanager:{arn}:connection.password}}"}, owner="victim") == {"p": "sm-pw"}
        for ref in (reference, f"${{secretsmanager:{arn}:connection.password}}"):
            with pytest.raises(ConfigException, match="another connector") as refused:
                resolve_config({"p": ref}, owner="thief")
            assert "sm-pw" not in str(refused.value)
        # A task function whose environment does not name the stack's prefix (the template sets it
        # on the API function only) still recognises the stack's connector secrets by their shape.
        boto3.client("secretsmanager").create_secret(Name="lambda-connect/prod-stack/connectors/victim",
                                                     SecretString=json.dumps({"connection.password": "stack-pw"}))
        stack_ref = "${secretsmanager:lambda-connect/prod-stack/connectors/victim:connection.password}"
        assert resolve_config({"p": stack_ref}, owner="victim") == {"p": "stack-pw"}
        with pytest.raises(ConfigException, match="another connector"):
            resolve_config({"p": stack_ref}, owner="thief")
        api = ApiClient(build_handler(open_store("memory://"), store, None, {}))
        reply = api.post("/connectors", {"name": "thief", "config": {
            "connector.class": "FileStreamSink", "topics": "t", "file": "/tmp/x", "topics.regex.x": reference}})
        _refused(reply, "topics.regex.x", "sm-pw")


# --- defect 16: deletion, messages and client PASSWORD keys ----------------------------------------
def test_deleting_a_keeps_the_secrets_of_a_dot_b(api: ApiClient, secrets: LocalFileSecretStore) -> None:
    assert api.post("/connectors", {"name": "a", "config": jdbc("pw-a")}).status == 201
    assert api.post("/connectors", {"name": "a.b", "config": jdbc("pw-ab")}).status == 201
    kept = api.get("/connectors/a.b/config").json
    assert api.delete("/connectors/a").status == 204
    assert resolve_config(kept)["connection.password"] == "pw-ab"
    assert api.delete("/connectors/a.b").status == 204
    assert list(secrets.keys()) == []


@pytest.mark.parametrize("name", ["we:ird", "br}ace", "dol$lar", "pc%41", "${x}"])
def test_awkward_names_take_their_secrets_with_them(api: ApiClient, secrets: LocalFileSecretStore, name: str) -> None:
    reply = api.post("/connectors", {"name": name, "config": jdbc("pw-" + name)})
    assert reply.status == 201, reply.text
    stored = reply.json["config"]
    assert resolve_config(stored)["connection.password"] == "pw-" + name
    assert api.delete("/connectors/" + name.replace("%", "%25").replace("$", "%24").replace("}", "%7D")).status == 204
    assert list(secrets.keys()) == []


def test_legacy_digest_entries_go_with_their_connector(tmp_path: Path, secrets: LocalFileSecretStore) -> None:
    secrets.path.write_text(json.dumps({legacy_secret_id("we:ird", "connection.password"): "old",
                                        legacy_secret_id("other", "connection.password"): "kept"}))
    legacy = f"${{file:{secrets.path}:{legacy_secret_id('we:ird', 'connection.password')}}}"
    assert resolve_config({"connection.password": legacy}, owner="we:ird") == {"connection.password": "old"}
    with pytest.raises(ConfigException, match="another connector"):
        resolve_config({"connection.password": legacy}, owner="thief")
    secrets.delete("we:ird", ["connection.password", "connection.user"])
    assert list(secrets.keys()) == [legacy_secret_id("other", "connection.password")]


def test_no_connector_type_message_hides_client_secrets(api: ApiClient) -> None:
    config = {"topics": "t", "value.converter.basic.auth.user.info": "sr-user:sr-secret",
              "producer.override.sasl.jaas.config": "jaas-secret", "plain": "visible"}
    for reply in (api.post("/connectors", {"name": "n", "config": config}),
                  api.put("/connector-plugins/FileStreamSink/config/validate", config)):
        assert "contains no connector type" in reply.json["message"]
        assert "sr-secret" not in reply.text and "jaas-secret" not in reply.text
        assert "plain=visible" in reply.json["message"]


@pytest.mark.parametrize("key", [
    "producer.override.sasl.jaas.config", "consumer.override.ssl.key.password",
    "admin.override.ssl.truststore.password", "producer.override.ssl.keystore.password",
    "key.converter.basic.auth.user.info", "value.converter.bearer.auth.token",
    "producer.override.sasl.password",
])
def test_client_password_keys_go_to_the_secret_store(api: ApiClient, tmp_path: Path, key: str) -> None:
    secret = "s-" + uuid.uuid4().hex
    reply = api.post("/connectors", {"name": "c", "config": file_sink(tmp_path, **{key: secret})})
    assert reply.status == 201, reply.text
    for answer in (reply, api.get("/connectors/c/config"), api.get("/connectors/c"),
                   api.get("/connectors/c/tasks"), api.get("/connectors?expand=info")):
        assert secret not in answer.text, answer.text
    stored = api.get("/connectors/c/config").json
    assert stored[key].startswith("${file:")
    assert resolve_config(stored)[key] == secret
    for path in tmp_path.iterdir():
        if path.name.startswith("state.db"):
            assert secret.encode() not in path.read_bytes()
