"""Issue 15: a sink invocation's log line names its connector and carries the batch's counts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from lambda_connect.aws.kafka_event import MalformedEventError
from lambda_connect.aws.sink_handler import SinkHandler
from lambda_connect.runtime.sink_worker import UnknownConnectorError
from lambda_connect.state.memory import InMemoryStateStore

from tests.fixtures.sink_input import SinkRig, raw_record


class _Alias:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lambda-connect-sink:connect-gone"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _event(count: int) -> dict:
    return {"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9",
            "records": {"orders-0": [raw_record("orders", 0, i, b'{"id": %d}' % i) for i in range(count)]}}


def test_the_batch_line_names_the_connector_and_its_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sink = SinkRig("orders-file", {"connector.class": "FileStreamSink", "topics": "orders",
                                   "file": str(tmp_path / "out.txt"),
                                   "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
    with caplog.at_level(logging.INFO, logger="lambda_connect.aws.sink_handler"):
        sink(_event(8))
    lines = [r.getMessage() for r in caplog.records if r.name == "lambda_connect.aws.sink_handler"]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Sink batch of connector orders-file task 0: 8 record(s) in, 8 written, ")
    assert "0 dead-lettered, 0 failed" in lines[0]


def test_an_unknown_connector_error_counts_the_records_of_the_event(caplog: pytest.LogCaptureFixture) -> None:
    handler = SinkHandler(InMemoryStateStore(), env={}, metrics=SinkRig("x", {"connector.class": "FileStreamSink",
                                                                             "topics": "t"}).handler.metrics)
    with caplog.at_level(logging.ERROR), pytest.raises(UnknownConnectorError) as info:
        handler(_event(8), _Alias())
    assert "connect-gone" in str(info.value)
    assert "the batch of 8 record(s) is not committed" in str(info.value)
    assert any("(8 record(s)) failed" in r.getMessage() for r in caplog.records)


def test_an_event_that_cannot_be_parsed_still_logs_how_many_entries_it_listed(caplog: pytest.LogCaptureFixture) -> None:
    handler = SinkHandler(InMemoryStateStore(), env={}, metrics=SinkRig("x", {"connector.class": "FileStreamSink",
                                                                             "topics": "t"}).handler.metrics)
    event = {"eventSource": "aws:kafka", "records": {"orders-0": [raw_record("orders", 0, 0)] * 3, "bad": 5}}
    with caplog.at_level(logging.ERROR), pytest.raises(MalformedEventError):
        handler(event, _Alias())
    assert any("(3 record(s)) failed" in r.getMessage() for r in caplog.records)
