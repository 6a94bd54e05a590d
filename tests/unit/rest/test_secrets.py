"""Secret stores and their references (the resolution side is runtime.config_providers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lambda_connect.api.errors import ConfigException
from lambda_connect.runtime.config_providers import resolve_config
from lambda_connect.runtime.secrets import (
    LocalFileSecretStore,
    default_secrets_setting,
    is_reference,
    open_secret_store,
    secret_id,
)


def test_file_store_round_trips_through_the_file_provider(tmp_path: Path) -> None:
    store = LocalFileSecretStore(tmp_path / "dir" / "secrets.json")
    ref = store.store("c1", "connection.password", "s3cret")
    assert is_reference(ref)
    assert resolve_config({"k": ref}, owner="c1") == {"k": "s3cret"}
    store.store("c1", "connection.password", "changed")
    assert resolve_config({"k": ref}, owner="c1") == {"k": "changed"}
    assert (tmp_path / "dir" / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_awkward_names_are_escaped_and_still_resolve(tmp_path: Path) -> None:
    store = LocalFileSecretStore(tmp_path / "secrets.json")
    ref = store.store("we:ird}", "pass:word", "v")
    assert secret_id("we:ird}", "pass:word") == "we%3Aird%7D.pass%3Aword"
    assert resolve_config({"k": ref}, owner="we:ird}") == {"k": "v"}


def test_delete_forgets_only_that_connector(tmp_path: Path) -> None:
    store = LocalFileSecretStore(tmp_path / "secrets.json")
    store.store("a", "p", "1")
    store.store("ab", "p", "2")
    store.delete("a")
    assert list(store.keys()) == ["ab.p"]


def test_defaults_follow_the_state_url(tmp_path: Path) -> None:
    assert default_secrets_setting("dynamodb://table") == "secretsmanager"
    assert default_secrets_setting(f"sqlite:///{tmp_path}/db/state.db") == f"file:{tmp_path}/db/secrets.json"
    assert default_secrets_setting("memory://").endswith("/secrets.json")


def test_open_secret_store_choices(tmp_path: Path) -> None:
    store = open_secret_store(None, {"LAMBDA_CONNECT_SECRETS": f"file:{tmp_path}/s.json"})
    assert isinstance(store, LocalFileSecretStore) and store.path == tmp_path / "s.json"
    with pytest.raises(ConfigException, match="LAMBDA_CONNECT_SECRETS"):
        open_secret_store(None, {"LAMBDA_CONNECT_SECRETS": "vault"})
    with pytest.raises(ConfigException, match="AWS entry point"):
        open_secret_store("dynamodb://t", {})
