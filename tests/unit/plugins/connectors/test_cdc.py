"""Unit tests of the CDC sources' pure parts: lag arithmetic, GTID positions, config handling."""

from __future__ import annotations

from lambda_connect.plugins.connectors.cdc.mysql.connector import binlog_lag


def test_binlog_lag_counts_the_rest_of_the_file_and_every_later_file():
    files = [("binlog.000001", 1000), ("binlog.000002", 500), ("binlog.000003", 300)]
    assert binlog_lag(files, ("binlog.000003", 300)) == 0
    assert binlog_lag(files, ("binlog.000003", 100)) == 200
    assert binlog_lag(files, ("binlog.000001", 400)) == 600 + 500 + 300


def test_binlog_lag_is_unknown_for_a_purged_file():
    assert binlog_lag([("binlog.000002", 10)], ("binlog.000001", 4)) is None


def test_unwrap_names_extract_new_record_state():
    from lambda_connect.plugins.transforms.extract_new_record_state import ExtractNewRecordState
    from lambda_connect.runtime.registry import Registry

    registry = Registry.default()
    assert registry.resolve("unwrap", {"transformation"}) is ExtractNewRecordState
    assert "unwrap" in registry.aliases("io.debezium.transforms.ExtractNewRecordState")
    assert "unwrap" not in registry.class_names()  # an alias, not a second plugin in the catalogue


def test_an_extra_alias_never_shadows_a_class_name_and_needs_a_known_target():
    from lambda_connect.runtime.registry import Registry

    registry = Registry([("a.b.Thing", "m:Thing"), ("a.b.Other", "m:Other")],
                        {"a.b.Other": "a.b.Thing", "ghost": "a.b.Missing", "short": "a.b.Thing"})
    assert registry.canonical("a.b.Other") == "a.b.Other"
    assert registry.canonical("ghost") is None
    assert registry.canonical("short") == "a.b.Thing"


def test_gtid_position_per_domain():
    from lambda_connect.plugins.connectors.cdc.mysql.gtid import GtidPosition

    position = GtidPosition.parse("1-3-7, 0-1-42")
    assert str(position) == "0-1-42,1-3-7"
    assert position.covers("0-1-42") and position.covers("0-2-10") and not position.covers("0-1-43")
    assert not position.covers("5-1-1")  # a domain not seen yet
    position.advance("0-2-43")
    position.advance("1-3-6")  # older than known: no step back
    position.advance("5-1-1")
    assert str(position) == "0-2-43,1-3-7,5-1-1"
    assert not GtidPosition.parse("") and str(GtidPosition.parse(None)) == ""


def test_apply_signal_queues_and_stops_tables():
    from lambda_connect.plugins.connectors.cdc.common import apply_signal

    known = {"s.a", "s.b"}.__contains__
    data = '{"data-collections": ["s.a", "s.zzz"], "type": "INCREMENTAL"}'
    snap = apply_signal(None, "1", "execute-snapshot", data, known)
    assert snap == {"tables": ["s.a"], "after": None, "incremental": True}
    snap = apply_signal(dict(snap, after=[5]), "2", "execute-snapshot", '{"data-collections": ["s.a", "s.b"]}', known)
    assert snap == {"tables": ["s.a", "s.b"], "after": [5], "incremental": True}
    assert apply_signal(snap, "3", "log", "{}", known) is snap
    assert apply_signal(snap, "4", "execute-snapshot", "{not json", known) is snap
    assert apply_signal(snap, "5", "stop-snapshot", '{"data-collections": ["s.a"]}', known) == {
        "tables": ["s.b"], "after": None, "incremental": True}
    assert apply_signal(snap, "6", "stop-snapshot", None, known) is None


def test_snapshot_state_round_trips_through_an_offset():
    from lambda_connect.plugins.connectors.cdc.common import snapshot_from_offset, snapshot_offset_fields

    offset: dict = {}
    snapshot_offset_fields({"tables": ["a.b", "a.c"], "after": [3, "x"], "incremental": True}, offset)
    assert snapshot_from_offset(offset) == {"tables": ["a.b", "a.c"], "after": [3, "x"], "incremental": True}
    assert snapshot_from_offset({"lsn": 5}) is None


BASE = {"database.hostname": "127.0.0.1", "database.user": "u", "topic.prefix": "p", "database.dbname": "d"}


def test_schema_include_list_filters_postgres_tables_by_schema():
    from lambda_connect.plugins.connectors.cdc.common import TableFilter
    from lambda_connect.plugins.connectors.cdc.postgres.connector import CONFIG_DEF

    cfg = CONFIG_DEF.parse({**BASE, "schema.include.list": "app.*", "table.exclude.list": "app1\\.secret"})
    f = TableFilter(cfg)
    assert f.table("app1.t") and f.table("app.t")
    assert not f.table("public.t") and not f.table("app1.secret")
    f = TableFilter(CONFIG_DEF.parse({**BASE, "schema.exclude.list": "audit"}))
    assert f.table("public.t") and not f.table("audit.t")


def test_both_connectors_validate_the_shared_keys_by_name():
    from lambda_connect.plugins.connectors.cdc.mysql.connector import MariaDbConnector, MySqlConnector
    from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresConnector

    assert PostgresConnector.validate(BASE) == {}
    assert PostgresConnector.validate({**BASE, "snapshot.mode": "always"}) == {}
    assert set(PostgresConnector.validate({**BASE, "snapshot.mode": "sometimes"})) == {"snapshot.mode"}
    assert set(MySqlConnector.validate({**BASE, "database.include.list": "(unclosed"})) == {"database.include.list"}
    assert set(MariaDbConnector.validate({**BASE, "skipped.operations": "x"})) == {"skipped.operations"}
    for cls, port in ((PostgresConnector, 5432), (MySqlConnector, 3306)):
        assert cls.config_def.parse(BASE)["database.port"] == port
