"""Issue 15: plain JSON read with schemas.enable=true fails naming the key to change and the record."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.sink_input import SinkRig, raw_record


def test_the_envelope_error_names_the_key_and_the_records_coordinates(tmp_path: Path) -> None:
    sink = SinkRig("plain-json", {"connector.class": "FileStreamSink", "topics": "orders",
                                  "file": str(tmp_path / "out.txt"),
                                  "value.converter": "org.apache.kafka.connect.json.JsonConverter"})
    event = {"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9",
             "records": {"orders-3": [raw_record("orders", 3, 41, b'{"id": 1}')]}}
    with pytest.raises(Exception) as info:
        sink(event)
    message = str(info.value)
    assert "value.converter.schemas.enable=false" in message
    assert "record orders-3@41" in message  # topic orders, partition 3, offset 41, as the runtime spells it
    assert any("value.converter.schemas.enable=false" in trace for trace in sink.traces())
