"""Choosing a backend from the state URL, and what importing the package costs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lambda_connect.state import STATE_URL_ENV, StateStore, open_store, partition_key
from lambda_connect.state.base import dedupe_offsets, normalize_target_state
from lambda_connect.state.memory import InMemoryStateStore


def test_memory_url_opens_the_in_memory_store() -> None:
    store = open_store("memory://")
    assert isinstance(store, InMemoryStateStore)
    assert isinstance(store, StateStore)


def test_env_var_names_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STATE_URL_ENV, "memory://")
    assert isinstance(open_store(), InMemoryStateStore)


def test_default_is_a_sqlite_file_under_the_working_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lambda_connect.state.sql import SqlStateStore

    monkeypatch.delenv(STATE_URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    store = open_store()
    try:
        assert isinstance(store, SqlStateStore)
        assert isinstance(store, StateStore)
        store.create_connector("c", {"k": "v"})
        assert (tmp_path / ".lambda-connect" / "state.db").is_file()
    finally:
        store.close()

    reopened = open_store()  # a later process sees the same state
    try:
        assert reopened.list_connectors() == ["c"]
    finally:
        reopened.close()


def test_sqlite_file_runs_in_wal_mode(tmp_path: Path) -> None:
    from lambda_connect.state.sql import SqlStateStore

    store = SqlStateStore(f"sqlite:///{tmp_path}/nested/dir/state.db")
    try:
        with store._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        store.close()


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    import threading

    store = open_store("sqlite://")
    store.create_connector("c", {"k": "v"})
    seen: list[list[str]] = []
    thread = threading.Thread(target=lambda: seen.append(store.list_connectors()))
    thread.start()
    thread.join()
    assert seen == [["c"]]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("mysql://root@h:3306/db", "mysql+pymysql://root@h:3306/db"),
        ("mariadb://root@h/db", "mysql+pymysql://root@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_sql_urls_use_the_shipped_drivers(url: str, expected: str) -> None:
    from lambda_connect.state.sql import normalize_sql_url

    assert normalize_sql_url(url) == expected


def test_dynamodb_url_names_table_region_and_endpoint() -> None:
    from lambda_connect.state.dynamodb import DynamoDBStateStore

    store = open_store("dynamodb://connect-state?region=eu-west-1&endpoint_url=http://127.0.0.1:8000")
    assert isinstance(store, DynamoDBStateStore)
    assert isinstance(store, StateStore)
    assert store.table_name == "connect-state"
    assert store._client.meta.region_name == "eu-west-1"
    assert store._client.meta.endpoint_url == "http://127.0.0.1:8000"
    with pytest.raises(ValueError, match="names no table"):
        open_store("dynamodb://")


def test_importing_the_state_package_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, lambda_connect.state, lambda_connect.state.memory;"
        "heavy = [m for m in ('sqlalchemy', 'boto3', 'botocore') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_partition_key_is_canonical() -> None:
    assert partition_key({"b": 1, "a": {"y": 2, "x": 1}}) == partition_key({"a": {"x": 1, "y": 2}, "b": 1})
    assert partition_key({"a": 1}) == '{"a":1}'


def test_a_commit_writes_each_partition_once_last_value_wins() -> None:
    writes = dedupe_offsets([({"p": 0}, {"o": 1}), ({"p": 1}, {"o": 5}), ({"p": 0}, None)])
    assert writes == {'{"p":0}': ({"p": 0}, None), '{"p":1}': ({"p": 1}, {"o": 5})}


def test_target_state_is_case_insensitive_and_checked() -> None:
    assert normalize_target_state("paused") == "PAUSED"
    with pytest.raises(ValueError, match="RUNNING, PAUSED, STOPPED"):
        normalize_target_state("DELETED")
