"""Issue 15: an idle source tick logs at DEBUG; a tick that moved records logs its counts at INFO."""

from __future__ import annotations

import logging

import pytest
from lambda_connect.aws.source_handler import SourceHandler
from lambda_connect.runtime.source_worker import SourceRunResult
from lambda_connect.state.memory import InMemoryStateStore

from tests.fixtures.sink_input import SinkRig


class _Worker:
    """Answers run_task with a prepared result: this test is about the handler's log line only."""

    def __init__(self, result: SourceRunResult) -> None:
        self.result = result

    def run_task(self, name: str, task: int, budget_ms: float, owner: str) -> SourceRunResult:
        return self.result


def _levels(result: SourceRunResult, caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    metrics = SinkRig("x", {"connector.class": "FileStreamSink", "topics": "t"}).handler.metrics
    handler = SourceHandler(InMemoryStateStore(), env={}, worker=_Worker(result), metrics=metrics)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="lambda_connect.aws.source_handler"):
        handler({"connector": "gen", "task": 0}, None)
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "lambda_connect.aws.source_handler"]


def test_an_idle_tick_is_debug(caplog: pytest.LogCaptureFixture) -> None:
    lines = _levels(SourceRunResult("gen", 0, stop_reason="no_data"), caplog)
    assert [level for level, _ in lines] == [logging.DEBUG]


def test_a_tick_with_records_is_one_info_line_with_its_counts(caplog: pytest.LogCaptureFixture) -> None:
    lines = _levels(SourceRunResult("gen", 0, stop_reason="no_data", records_polled=5, records_produced=5), caplog)
    assert len(lines) == 1 and lines[0][0] == logging.INFO
    assert "Source task gen-0: completed (no_data); polled 5, produced 5" in lines[0][1]
