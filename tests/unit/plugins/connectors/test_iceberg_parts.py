"""Iceberg sink pieces without a catalog: config translation, routing, type mapping, offsets codec."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from lambda_connect.api import ConfigException, DataException, Schema, Struct, Type
from lambda_connect.api.data import Date, Decimal, Timestamp
from lambda_connect.plugins.connectors.iceberg import offsets
from lambda_connect.plugins.connectors.iceberg.config import IcebergSinkConfig, catalog_properties
from lambda_connect.plugins.connectors.iceberg.routing import Router, field_value

from tests.fixtures.iceberg import rec

pytest.importorskip("pyiceberg")

BASE = {"iceberg.catalog.type": "sql", "iceberg.catalog.uri": "sqlite://", "iceberg.tables": "db.t"}


# --- config ----------------------------------------------------------------------------------------

def test_java_jdbc_catalog_becomes_a_sqlalchemy_sql_catalog() -> None:
    props = catalog_properties({
        "iceberg.catalog.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        "iceberg.catalog.uri": "jdbc:postgresql://db.internal:5433/lake",
        "iceberg.catalog.jdbc.user": "ice", "iceberg.catalog.jdbc.password": "s3cret",
        "iceberg.catalog.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        "iceberg.catalog.warehouse": "s3://lake/wh", "iceberg.catalog.s3.region": "eu-west-1",
    })
    assert props == {"type": "sql", "uri": "postgresql+psycopg://ice:s3cret@db.internal:5433/lake",
                     "warehouse": "s3://lake/wh", "s3.region": "eu-west-1"}
    assert catalog_properties({"iceberg.catalog.type": "rest", "iceberg.catalog.uri": "https://x"})["type"] == "rest"
    assert catalog_properties({"iceberg.catalog.type": "jdbc", "iceberg.catalog.uri": "jdbc:sqlite:/tmp/c.db"}) == {
        "type": "sql", "uri": "sqlite:////tmp/c.db"}


@pytest.mark.parametrize(("props", "key"), [
    ({"iceberg.catalog.catalog-impl": "com.example.MyCatalog"}, "iceberg.catalog.catalog-impl"),
    ({"iceberg.catalog.type": "nessie"}, "iceberg.catalog.type"),
    ({}, "iceberg.catalog.type"),
    ({"iceberg.catalog.type": "sql"}, "iceberg.catalog.uri"),
])
def test_bad_catalog_config_names_the_key(props: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigException) as info:
        catalog_properties(props)
    assert list(info.value.errors) == [key]


def test_per_table_options_and_defaults() -> None:
    config = IcebergSinkConfig.parse({
        **BASE, "iceberg.tables": "db.a, db.b",
        "iceberg.tables.default-partition-by": "bucket(id, 8), day(ts)",
        "iceberg.tables.default-id-columns": "id",
        "iceberg.table.db.b.partition-by": "region", "iceberg.table.db.b.id-columns": "k1,k2",
        "iceberg.table.db.b.route-regex": "b-.*",
    })
    assert config.tables == ("db.a", "db.b")
    assert config.options("db.a").partition_by == ("bucket(id, 8)", "day(ts)")
    assert config.options("db.a").id_columns == ("id",)
    b = config.options("db.b")
    assert (b.partition_by, b.id_columns, b.route_regex) == (("region",), ("k1", "k2"), "b-.*")
    assert config.commit_interval_ms == 300_000  # Iceberg's default


def test_dynamic_routing_needs_a_route_field_and_static_needs_tables() -> None:
    with pytest.raises(ConfigException) as info:
        IcebergSinkConfig.parse({**BASE, "iceberg.tables": "", "iceberg.tables.dynamic-enabled": "true"})
    assert list(info.value.errors) == ["iceberg.tables.route-field"]
    with pytest.raises(ConfigException) as info:
        IcebergSinkConfig.parse({**BASE, "iceberg.tables": ""})
    assert list(info.value.errors) == ["iceberg.tables"]


# --- routing -----------------------------------------------------------------------------------------

def test_route_field_reaches_into_structs_and_maps() -> None:
    inner = Schema.struct([("region", Schema(Type.STRING))])
    outer = Schema.struct([("meta", inner)])
    assert field_value(Struct(outer, {"meta": Struct(inner, {"region": "eu"})}), "meta.region") == "eu"
    assert field_value({"meta": {"region": "us"}}, "meta.region") == "us"
    assert field_value({"meta": None}, "meta.region") is None
    assert field_value("text", "a") is None


def test_routing_modes() -> None:
    everything = Router(IcebergSinkConfig.parse({**BASE, "iceberg.tables": "db.a,db.b"}))
    assert everything.everything and everything.route(rec("t", 0, {"x": 1})) == ("db.a", "db.b")
    dynamic = Router(IcebergSinkConfig.parse({**BASE, "iceberg.tables.dynamic-enabled": "true",
                                              "iceberg.tables.route-field": "t"}))
    assert dynamic.route(rec("t", 0, {"t": "DB.Orders"})) == ("db.orders",)
    with pytest.raises(DataException, match="tombstone"):
        dynamic.route(rec("t", 0, None))
    static = Router(IcebergSinkConfig.parse({**BASE, "iceberg.tables": "db.a,db.b", "iceberg.tables.route-field": "r",
                                             "iceberg.table.db.a.route-regex": "a|both",
                                             "iceberg.table.db.b.route-regex": "b|both"}))
    assert static.route(rec("t", 0, {"r": "both"})) == ("db.a", "db.b")
    assert static.route(rec("t", 0, {"r": "ab"})) == ()     # regexes match the whole value
    assert static.route(rec("t", 0, {"x": 1})) == ()


# --- types ---------------------------------------------------------------------------------------------

def test_connect_schemas_map_to_iceberg_types() -> None:
    from lambda_connect.plugins.connectors.iceberg.schema import connect_struct

    schema = Schema.struct([
        ("i8", Schema(Type.INT8)), ("i64", Schema(Type.INT64)), ("f32", Schema(Type.FLOAT32)),
        ("b", Schema(Type.BOOLEAN, optional=True)), ("raw", Schema(Type.BYTES)),
        ("price", Decimal.schema(2, precision=10)), ("day", Date.schema()), ("at", Timestamp.schema()),
        ("tags", Schema.array(Schema(Type.STRING))), ("attrs", Schema.map(Schema(Type.STRING), Schema(Type.INT32))),
    ])
    struct = connect_struct(schema)
    assert [(f.name, str(f.field_type), f.required) for f in struct.fields] == [
        ("i8", "int", True), ("i64", "long", True), ("f32", "float", True), ("b", "boolean", False),
        ("raw", "binary", True), ("price", "decimal(10, 2)", True), ("day", "date", True),
        ("at", "timestamptz", True), ("tags", "list<string>", True), ("attrs", "map<string, int>", True),
    ]


def test_schemaless_values_are_inferred() -> None:
    from lambda_connect.plugins.connectors.iceberg.schema import infer_struct

    struct = infer_struct({"n": 1, "x": 1.5, "ok": True, "s": "a", "d": decimal.Decimal("1.25"),
                           "at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "nested": {"a": [1, 2]}, "gone": None})
    assert {f.name: str(f.field_type) for f in struct.fields} == {
        "n": "long", "x": "double", "ok": "boolean", "s": "string", "d": "decimal(38, 2)", "at": "timestamptz",
        "nested": "struct<8: a: optional list<long>>"}  # "gone" (null) has no type yet: left out


def test_fitting_a_record_type_to_a_table_column() -> None:
    from lambda_connect.plugins.connectors.iceberg.schema import EVOLVE, FITS, RowShapes, to_iceberg_schema
    from pyiceberg import types as t

    table = to_iceberg_schema(t.StructType(t.NestedField(1, "id", t.IntegerType(), required=False),
                                           t.NestedField(2, "v", t.DoubleType(), required=False)))
    shapes = RowShapes()
    assert shapes.verdict(shapes.struct_of({"v": 3}), table) == FITS            # a JSON 3 in a double column
    assert shapes.verdict(shapes.struct_of({"id": 5}), table) == EVOLVE         # long widens int
    assert shapes.verdict(shapes.struct_of({"v": 1.0, "new": "x"}), table) == EVOLVE
    with pytest.raises(DataException, match="field 'v' is string but the table column is double"):
        shapes.verdict(shapes.struct_of({"v": "x"}), table)


def test_flat_check_catches_only_what_arrow_would_let_through() -> None:
    from lambda_connect.plugins.connectors.iceberg.schema import FlatCheck, to_iceberg_schema
    from pyiceberg import types as t

    table = to_iceberg_schema(t.StructType(t.NestedField(1, "id", t.LongType(), required=False),
                                           t.NestedField(2, "at", t.TimestamptzType(), required=False),
                                           t.NestedField(3, "s", t.StringType(), required=False)))
    check = FlatCheck.of(table, evolve=True)
    assert check is not None
    assert check.fits({"id": 1, "s": "a"})
    assert not check.fits({"id": 1.5})               # Arrow would truncate it to 1
    assert not check.fits({"at": 1_700_000_000_000})  # Arrow would read epoch-ms as microseconds
    assert not check.fits({"id": 1, "new": 2})        # evolution must see the new field
    nested = to_iceberg_schema(t.StructType(t.NestedField(1, "l", t.ListType(2, t.LongType()), required=False)))
    assert FlatCheck.of(nested, evolve=False) is None


def test_id_columns_must_exist() -> None:
    from lambda_connect.plugins.connectors.iceberg.schema import infer_struct, to_iceberg_schema

    schema = to_iceberg_schema(infer_struct({"id": 1, "v": "x"}), ["id"])
    assert schema.identifier_field_names() == {"id"} and schema.find_field("id").required
    with pytest.raises(DataException, match="pk"):
        to_iceberg_schema(infer_struct({"id": 1}), ["pk"])


# --- offsets ---------------------------------------------------------------------------------------

def test_marks_encode_merge_and_decode() -> None:
    a = {("orders", 0): 10, ("orders", 3): 7}
    b = {("orders", 0): 4, ("refunds", 1): 2}
    merged = offsets.merge(a, b)
    assert merged == {("orders", 0): 10, ("orders", 3): 7, ("refunds", 1): 2}
    text = offsets.encode(merged)
    assert text == '{"orders":{"0":10,"3":7},"refunds":{"1":2}}'
    assert offsets.decode(text) == merged
    assert offsets.summary_key("lake") == "kafka.connect.offsets.lake"


def test_marks_of_another_topic_incarnation_neither_filter_nor_merge() -> None:
    marks = {("orders", 0): 100, ("orders", 1): 50, ("refunds", 0): 9}
    stored = {"orders": "c1/A"}  # refunds: marks from before identities were stored
    assert offsets.applicable(marks, stored, {"orders": "c1/B", "refunds": "c1/R"}) == {("refunds", 0): 9}
    assert offsets.applicable(marks, stored, {}) == marks  # identities unknown: marks as they are
    ends = {("orders", 0): 10, ("refunds", 0): 12}
    # Ends of another incarnation than the table's do not move its marks; identity-less marks are claimed.
    assert offsets.advance(marks, stored, ends, {"orders": "c1/B", "refunds": "c1/R"}) == (
        {("orders", 0): 100, ("orders", 1): 50, ("refunds", 0): 12}, {"orders": "c1/A", "refunds": "c1/R"})
    assert offsets.advance({}, {}, {("orders", 0): 3}, {"orders": "c1/A"}) == ({("orders", 0): 3}, {"orders": "c1/A"})


class _Snapshot:
    def __init__(self, summary: dict[str, str] | None) -> None:
        self.summary = summary


@pytest.mark.parametrize(("text", "expected"), [
    ('{"orders":"c1/A"}', {"orders": "c1/A"}),
    ("not json", {}), ('["c1/A"]', {}), ('{"orders": 7}', {}),
])
def test_identities_read_from_a_summary_tolerate_damage(text: str, expected: dict[str, str]) -> None:
    key = offsets.identities_key("lake")
    assert key == "lambda-connect.topic-identities.lake"
    assert offsets.read_identities(_Snapshot({key: text}), "lake") == expected  # type: ignore[arg-type]
    assert offsets.read_identities(_Snapshot(None), "lake") == {}  # type: ignore[arg-type]
    assert offsets.read_identities(None, "lake") == {}


def test_every_config_key_is_documented() -> None:
    from pathlib import Path

    from lambda_connect.plugins.connectors.iceberg.config import CONFIG_DEF

    text = (Path(__file__).parents[4] / "docs" / "readme" / "iceberg.md").read_text()
    assert [name for name in CONFIG_DEF.names() if f"`{name}`" not in text] == []
