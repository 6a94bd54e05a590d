"""Mirrors Kafka's DropHeadersTest."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import ConfigException, Header, SourceRecord
from lambda_connect.plugins.transforms.drop_headers import DropHeaders

from ._vector_support import build, resolve_builtin, run_vector, vectors_for


def record(*headers: tuple[str, Any]) -> SourceRecord:
    return SourceRecord(None, None, "topic", 0, None, "key", None, "value", 0, [Header(k, v) for k, v in headers])


def names(rec: Any) -> list[tuple[str, Any]]:
    return [(h.key, h.value) for h in rec.headers]


@pytest.mark.parametrize("vector", vectors_for(DropHeaders.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    run_vector(DropHeaders, vector)


def test_registered_under_kafka_name() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.DropHeaders") is DropHeaders


def test_drop_existing_header() -> None:
    out = build(DropHeaders, {"headers": "to-drop"}).apply(record(("existing", "v"), ("to-drop", "v")))
    assert names(out) == [("existing", "v")]
    assert (out.topic, out.key, out.value, out.timestamp) == ("topic", "key", "value", 0)


def test_drop_existing_header_with_multiple_values() -> None:
    rec = record(("to-drop", 1), ("existing", "v"), ("to-drop", 2))
    out = build(DropHeaders, {"headers": "to-drop"}).apply(rec)
    assert names(out) == [("existing", "v")]
    assert len(rec.headers) == 3, "input headers must not be mutated"


def test_drop_several_names() -> None:
    out = build(DropHeaders, {"headers": "a,b"}).apply(record(("a", 1), ("c", 3), ("b", 2)))
    assert names(out) == [("c", 3)]


def test_drop_non_existing_header() -> None:
    out = build(DropHeaders, {"headers": "to-drop"}).apply(record(("existing", "v")))
    assert names(out) == [("existing", "v")]


def test_config_rejects_empty_list() -> None:
    with pytest.raises(ConfigException, match="headers"):
        build(DropHeaders, {"headers": ""})


def test_config_rejects_missing_headers() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "headers"'):
        build(DropHeaders, {})
