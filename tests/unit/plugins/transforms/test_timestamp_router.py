"""TimestampRouter, mirroring Kafka's TimestampRouterTest."""

from __future__ import annotations

import pytest
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.records import SourceRecord
from lambda_connect.plugins.transforms.timestamp_router import TimestampRouter

from tests.unit.plugins.transforms.smt_a_support import make, run_vector, sink, vectors_for


def test_default_configuration() -> None:
    result = make(TimestampRouter).apply(sink("v", topic="test", timestamp=1483425001864))
    assert result.topic == "test-20170103"
    assert (result.original_topic, result.value, result.timestamp) == ("test", "v", 1483425001864)


def test_custom_formats() -> None:
    transform = make(TimestampRouter, **{"topic.format": "${timestamp}_${topic}_${topic}",
                                         "timestamp.format": "yyyy-MM-dd'T'HH"})
    record = SourceRecord({"p": 1}, {"o": 2}, "orders", None, None, None, None, "v", 1483425001864)
    assert transform.apply(record).topic == "2017-01-03T06_orders_orders"


def test_missing_timestamp_fails() -> None:
    with pytest.raises(DataException, match="Timestamp missing on record"):
        make(TimestampRouter).apply(sink("v"))


def test_config_rejects_invalid_timestamp_format() -> None:
    with pytest.raises(ConfigException, match="Illegal pattern character 'q'") as info:
        make(TimestampRouter, **{"timestamp.format": "yyyyqq"})
    assert "timestamp.format" in info.value.errors


@pytest.mark.parametrize("vector", vectors_for("TimestampRouter"))
def test_acceptance_vector(vector: dict) -> None:
    run_vector(vector)
