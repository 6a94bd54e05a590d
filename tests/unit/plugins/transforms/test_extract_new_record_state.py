"""ExtractNewRecordState on change events built by the CDC sources' own envelope code."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from lambda_connect.api import Schema, SourceRecord, Struct, Type
from lambda_connect.plugins.connectors.cdc.common import ChangeEmitter, build_shape, source_schema
from lambda_connect.plugins.transforms.extract_new_record_state import ExtractNewRecordState

from ._vector_support import build, resolve_builtin

SOURCE = source_schema("postgresql")
COLUMNS = [("id", Schema(Type.INT32), None), ("name", Schema(Type.STRING, optional=True), None)]
SHAPE = build_shape("srv", "public", "t", COLUMNS, ["id"], lambda c: True, SOURCE)
EMIT = ChangeEmitter({"server": "srv"}, tombstones=True, skipped=frozenset())


def source(table: str = "t") -> Struct:
    return Struct.from_values(SOURCE, ["v", "postgresql", "srv", 1000, "false", "db", None, 1_000_000, None, "public",
                                       table, 7, 99, None, None, None])


def row(i: int, name: str | None) -> Struct:
    return Struct.from_values(SHAPE.value_schema, [i, name])


def change(op: str, before: Struct | None, after: Struct | None) -> list[SourceRecord]:
    key = Struct.from_values(SHAPE.key_schema, [(after or before).get("id")])
    return EMIT.records(SHAPE, op, before, after, source(), key, None, None, {"lsn": 1})


def run(config: dict[str, str], records: list[SourceRecord]) -> list[Any]:
    smt = build(ExtractNewRecordState, config)
    return [r for r in (smt.apply(x) for x in records) if r is not None]


def test_registered_under_debeziums_name() -> None:
    assert resolve_builtin("io.debezium.transforms.ExtractNewRecordState") is ExtractNewRecordState


def test_creates_updates_and_reads_become_the_after_row() -> None:
    for op in ("c", "u", "r"):
        (out,) = run({}, change(op, None, row(1, "a")))
        assert out.value == row(1, "a") and out.value_schema.name == "srv.public.t.Value"
        assert out.key.get("id") == 1 and out.topic == "srv.public.t"


def test_default_delete_keeps_the_schema_with_a_null_value_and_drops_the_tombstone() -> None:
    records = change("d", row(1, "a"), None)
    assert len(records) == 2 and records[1].value is None
    (out,) = run({}, records)
    assert out.value is None and out.value_schema == SHAPE.value_schema and out.key.get("id") == 1


@pytest.mark.parametrize(("mode", "expected"), [
    ("drop", []),
    ("delete-to-tombstone", [(None, None)]),
    ("rewrite", [({"id": 1, "name": "a", "__deleted": "true"}, "schema")]),
    ("rewrite-with-tombstone", [({"id": 1, "name": "a", "__deleted": "true"}, "schema"), (None, None)]),
])
def test_delete_modes(mode: str, expected: list[tuple[Any, Any]]) -> None:
    out = run({"delete.tombstone.handling.mode": mode}, change("d", row(1, "a"), None))
    got = [(r.value.to_dict() if r.value is not None else None, "schema" if r.value_schema else None) for r in out]
    assert got == expected


def test_rewrite_marks_live_rows_and_adds_fields_and_headers() -> None:
    (out,) = run({"delete.tombstone.handling.mode": "rewrite", "add.fields": "op,table,source.ts_ms,lsn:pos",
                  "add.headers": "op,db"}, change("c", None, row(2, "b")))
    assert out.value.to_dict() == {"id": 2, "name": "b", "__op": "c", "__table": "t", "__source_ts_ms": 1000,
                                   "__pos": 99, "__deleted": "false"}
    assert out.value_schema.field("__source_ts_ms").schema.type is Type.INT64
    assert out.headers.last_with_name("__op").value == "c" and out.headers.last_with_name("__db").value == "db"


def test_truncates_are_dropped_and_other_records_pass() -> None:
    trunc = EMIT.records(SHAPE, "t", None, None, source(), None, None, None, {"lsn": 1})
    assert run({}, trunc) == []
    plain = SourceRecord(None, None, "x", value_schema=Schema(Type.STRING), value="hello")
    assert run({}, [plain]) == [plain]


def test_schemaless_envelopes_and_route_by_field() -> None:
    rec = SourceRecord(None, None, "in", value={"before": None, "after": {"id": 3, "kind": "red"},
                                                "source": {"table": "t"}, "op": "c"})
    (out,) = run({"route.by.field": "kind"}, [rec])
    assert out.value == {"id": 3, "kind": "red"} and out.topic == "red"


def test_old_delete_keys_still_work_with_a_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        smt = build(ExtractNewRecordState, {"delete.handling.mode": "rewrite", "drop.tombstones": "false"})
    assert any("deprecated" in str(w.message) for w in caught)
    out = [smt.apply(r) for r in change("d", row(1, "a"), None)]
    assert out[0].value.get("__deleted") == "true" and out[1] is not None and out[1].value is None
