"""connection.url translation (JDBC → SQLAlchemy) and dialect SQL shapes, no database needed."""

from __future__ import annotations

import pytest
from lambda_connect.api import ConfigException, Decimal, Schema, Timestamp, Type
from lambda_connect.plugins.connectors.jdbc.dialects import Column, TableId, dialect_for
from lambda_connect.plugins.connectors.jdbc.urls import backend_name, redact, to_sqlalchemy_url


@pytest.mark.parametrize(
    ("jdbc", "expected"),
    [
        ("jdbc:postgresql://db.local:5433/shop?user=app&password=s3cret",
         "postgresql+psycopg://app:s3cret@db.local:5433/shop"),
        ("jdbc:postgresql://db.local/shop", "postgresql+psycopg://db.local/shop"),
        ("jdbc:postgresql:shop", "postgresql+psycopg://localhost/shop"),
        ("jdbc:postgresql://h/shop?ssl=true&currentSchema=sales",
         "postgresql+psycopg://h/shop?options=-csearch_path%3Dsales&sslmode=require"),
        ("jdbc:mysql://127.0.0.1:3306/test?user=root&useSSL=false", "mysql+pymysql://root@127.0.0.1:3306/test"),
        ("jdbc:mariadb://maria:3307/test?characterEncoding=UTF-8",
         "mariadb+pymysql://maria:3307/test?charset=utf8mb4"),
        ("jdbc:sqlite:/tmp/x.db", "sqlite:////tmp/x.db"),
        ("jdbc:sqlite:relative.db", "sqlite:///relative.db"),
        ("jdbc:sqlite::memory:", "sqlite://"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("mysql://u@h/db", "mysql+pymysql://u@h/db"),
        ("sqlite:///a.db", "sqlite:///a.db"),
    ],
)
def test_jdbc_and_sqlalchemy_urls_translate(jdbc: str, expected: str) -> None:
    assert to_sqlalchemy_url(jdbc).render_as_string(hide_password=False) == expected


def test_connection_user_and_password_override_url_credentials_and_are_escaped() -> None:
    url = to_sqlalchemy_url("jdbc:postgresql://h/db?user=old&password=old", "new", "p@ss:word/")
    assert url.username == "new"
    assert url.password == "p@ss:word/"
    assert "p%40ss%3Aword%2F" in url.render_as_string(hide_password=False)


def test_multi_host_postgres_url_uses_libpq_hosts() -> None:
    url = to_sqlalchemy_url("jdbc:postgresql://a:5432,b:5433/db")
    assert url.query["host"] == ("a:5432", "b:5433")


@pytest.mark.parametrize(("url", "backend"), [
    ("jdbc:mariadb://h/db", "mysql"), ("jdbc:mysql://h/db", "mysql"),
    ("jdbc:postgresql://h/db", "postgresql"), ("jdbc:sqlite:x.db", "sqlite"),
])
def test_backend_names(url: str, backend: str) -> None:
    assert backend_name(to_sqlalchemy_url(url)) == backend


def test_unsupported_subprotocol_names_the_key_and_supported_ones() -> None:
    with pytest.raises(ConfigException) as e:
        to_sqlalchemy_url("jdbc:sqlserver://h;databaseName=x")
    assert "connection.url" in e.value.errors
    assert "sqlserver" in str(e.value) and "postgresql" in str(e.value)


def test_redact_hides_passwords_in_both_spellings() -> None:
    assert "s3cret" not in redact("jdbc:postgresql://h/db?user=a&password=s3cret")
    assert "s3cret" not in redact("postgresql://a:s3cret@h/db")


def test_identifier_quoting_per_dialect_and_never_mode() -> None:
    table = TableId.parse("sales.orders")
    assert dialect_for("postgresql").table(table) == '"sales"."orders"'
    assert dialect_for("mysql").table(table) == "`sales`.`orders`"
    assert dialect_for("postgresql").quote('we"ird') == '"we""ird"'
    assert dialect_for("sqlite", quote_identifiers=False).table(table) == "sales.orders"


def test_create_table_types_follow_confluent_mapping() -> None:
    cols = [
        Column("id", Schema(Type.STRING), key=True),
        Column("amount", Decimal.schema(2, optional=True)),
        Column("at", Timestamp.schema()),
        Column("tags", Schema.array(Schema(Type.STRING), optional=True)),
    ]
    mysql = dialect_for("mysql").create_table(TableId("t"), cols)
    assert "`id` VARCHAR(255) NOT NULL" in mysql
    assert "`amount` DECIMAL(65,2) NULL" in mysql
    assert "`at` DATETIME(3) NOT NULL" in mysql
    assert "`tags` JSON NULL" in mysql
    assert "PRIMARY KEY(`id`)" in mysql
    pg = dialect_for("postgresql").create_table(TableId("t"), cols)
    assert '"id" TEXT NOT NULL' in pg and '"tags" JSONB NULL' in pg and '"at" TIMESTAMP NOT NULL' in pg


def test_upsert_statements_per_dialect() -> None:
    t = TableId("t")
    assert dialect_for("mysql").upsert(t, ["id", "v"], ["id"]).endswith("ON DUPLICATE KEY UPDATE `v`=VALUES(`v`)")
    assert dialect_for("sqlite").upsert(t, ["id", "v"], ["id"]).endswith(
        'ON CONFLICT ("id") DO UPDATE SET "v"=EXCLUDED."v"')
    assert dialect_for("postgresql").upsert(t, ["id"], ["id"]).endswith('ON CONFLICT ("id") DO NOTHING')
