"""JDBC engines: credentials on SQLite, and connection pools across password rotations (issue 11).

Defect 5: ``jdbc:sqlite:/abs/out.db`` with a ``connection.password`` failed every batch
("Invalid SQLite URL"); SQLite has no credentials, so they are ignored with one warning.
Defect 18: every rotation of ``connection.password`` left the previous engine's pool open
(30 rotations held 31 PostgreSQL sessions); the superseded engine is now disposed.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.plugins.connectors.jdbc import urls
from lambda_connect.plugins.connectors.jdbc.urls import acquire_engine, engine_for, release_engine
from sqlalchemy import text

from tests.fixtures.sink_input import SinkRig, raw_record

JSON = {"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter"}


def batch(topic: str, first: int, n: int = 2) -> dict[str, Any]:
    return {"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9",
            "records": {f"{topic}-0": [raw_record(topic, 0, first + i, b'{"id":%d}' % (first + i))
                                       for i in range(n)]}}


# --- defect 5 -------------------------------------------------------------------------------------


def test_sqlite_ignores_credentials_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "out.db"
    rig = SinkRig("sqlite-creds", {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "connection.url": f"jdbc:sqlite:{db}",
        "connection.user": "app", "connection.password": "s3cret", "topics": "orders", "auto.create": "true",
        **JSON,
    })
    with caplog.at_level(logging.WARNING, logger=urls.__name__):
        rig(batch("orders", 0))
        rig(batch("orders", 2))
        urls.to_sqlalchemy_url(f"jdbc:sqlite:{db}", "app", "s3cret")  # validation and other tasks: no new warning
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute('SELECT id FROM "orders" ORDER BY id')] == [0, 1, 2, 3]
    warnings = [r.getMessage() for r in caplog.records if "no credentials" in r.getMessage()]
    assert len(warnings) == 1
    assert "a user and a password" in warnings[0] and "s3cret" not in warnings[0]


def test_sqlite_alchemy_url_with_embedded_credentials_is_usable() -> None:
    url = urls.to_sqlalchemy_url("sqlite://me:pw@/relative.db")
    assert (url.username, url.password, url.database) == (None, None, "relative.db")


# --- defect 18 ------------------------------------------------------------------------------------


def _jdbc_url(postgres_url: str, app: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    return f"jdbc:postgresql://{url.host}:{url.port or 5432}/{url.database}?ApplicationName={app}"


def _sessions(postgres_url: str, app: str) -> int:
    with engine_for(postgres_url).connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                            {"a": app}).scalar_one()


@pytest.fixture
def app_name(postgres_url: str) -> Iterator[str]:
    name = "lc-rotation-" + uuid.uuid4().hex[:8]
    yield name
    for key in [k for k in urls._engines if name in k[0]]:  # leave no pool of this test behind
        urls._engines.pop(key).engine.dispose()


def test_thirty_password_rotations_keep_one_pool(postgres_url: str, app_name: str, unique_name: str) -> None:
    """A warm container: the connector's password changes 30 times (each a new config version)."""
    config = {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
              "connection.url": _jdbc_url(postgres_url, app_name), "connection.user": "postgres",
              "connection.password": "rotation-0", "topics": unique_name, "auto.create": "true", **JSON}
    rig = SinkRig(unique_name, config)
    try:
        rig(batch(unique_name, 0))
        for i in range(1, 31):
            rig.store.update_connector(unique_name, {"name": unique_name, **config,
                                                     "connection.password": f"rotation-{i}"})
            rig(batch(unique_name, 2 * i))
        assert _sessions(postgres_url, app_name) <= 2  # one pool's worth, not 31
        with engine_for(postgres_url).connect() as conn:
            assert conn.execute(text(f'SELECT count(*) FROM "{unique_name}"')).scalar_one() == 62
    finally:
        rig.handler.worker.cache.close()
        with engine_for(postgres_url).begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{unique_name}"'))
            conn.execute(text(f"DELETE FROM __lambda_connect_sink_offsets WHERE connector = '{unique_name}'"))


def test_a_held_engine_is_disposed_only_when_its_last_holder_lets_go(postgres_url: str, app_name: str) -> None:
    url = _jdbc_url(postgres_url, app_name)
    old = acquire_engine(url, "postgres", "old")
    with old.connect() as conn:
        conn.execute(text("SELECT 1"))
    new = engine_for(url, "postgres", "new")  # the rotation: a source polls with the new password
    with new.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert _sessions(postgres_url, app_name) == 2  # the old one is still held by a running task
    release_engine(old)
    assert _sessions(postgres_url, app_name) == 1
    assert engine_for(url, "postgres", "new") is new
