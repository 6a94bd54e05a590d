"""Issue 15: a topic with a dot maps to a schema-qualified table; a missing schema gets an error with the ways out."""

from __future__ import annotations

import pytest
from lambda_connect.api.errors import ConnectException

from tests.fixtures.sink_input import SinkRig, raw_record


def test_a_missing_schema_names_the_topic_the_table_and_the_fixes(postgres_url: str, unique_name: str) -> None:
    topic = f"nosuchschema_{unique_name}.a"
    sink = SinkRig(unique_name, {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "connection.url": postgres_url,
        "topics": topic, "auto.create": "true", "insert.mode": "insert",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
    })
    event = {"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9",
             "records": {f"{topic}-0": [raw_record(topic, 0, 0, b'{"id": 1}')]}}
    with pytest.raises(ConnectException) as info:
        sink(event)
    message = str(info.value)
    assert f"Topic '{topic}' maps to table \"nosuchschema_{unique_name}\".\"a\"" in message
    assert "CREATE SCHEMA" in message and "table.name.format" in message and "RegexRouter" in message
    assert any("table.name.format" in trace and "RegexRouter" in trace for trace in sink.traces())
