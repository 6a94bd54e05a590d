"""Filter drops every record it sees (Kafka has no FilterTest; behaviour from the class and KIP-585)."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import SinkRecord, SourceRecord
from lambda_connect.plugins.transforms.filter import Filter

from ._vector_support import build, resolve_builtin, run_vector, vectors_for


@pytest.mark.parametrize("vector", vectors_for(Filter.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    run_vector(Filter, vector)


def test_registered_under_kafka_name() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.Filter") is Filter


@pytest.mark.parametrize(
    "rec",
    [
        SinkRecord("t", 0, None, "k", None, {"a": 1}, 0),
        SinkRecord("t", 0, None, "k", None, None, 1),
        SourceRecord({"file": "x"}, {"pos": 1}, "t", value="v"),
    ],
)
def test_drops_every_record(rec: Any) -> None:
    assert build(Filter, {}).apply(rec) is None


def test_has_no_configuration_keys() -> None:
    assert len(Filter.config_def) == 0
