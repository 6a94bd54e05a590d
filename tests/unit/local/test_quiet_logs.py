"""Issue 15: what ``lambda-connect up`` logs at INFO — state changes, new errors, one summary per connector."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from lambda_connect.cli.up import summary_interval_of
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions
from lambda_connect.local.summary import ConnectorSummaries, summary_line
from lambda_connect.runtime.reconciler import ReconcileResult


def sink_status(state: str = "RUNNING", **metrics: Any) -> dict[str, Any]:
    return {"name": "orders", "type": "sink", "connector": {"state": state, "worker_id": "w"},
            "tasks": [{"id": 0, "state": state, "worker_id": "w"}],
            "lambda_connect": {"metrics": metrics, "consumer_lag": []}}


def test_a_sink_line_carries_in_out_failures_dlq_and_lag() -> None:
    status = sink_status(RecordsIn=120, RecordsWritten=115, RecordsFailed=5, RecordsDeadLettered=5, BatchFailed=1)
    status["lambda_connect"]["consumer_lag"] = [{"topic": "t", "partition": 0, "lag": 7},
                                                {"topic": "t", "partition": 1, "lag": 3}]
    assert summary_line("orders", status) == ("connector orders (sink, RUNNING): 120 in, 115 written, 5 failed, "
                                              "5 dead-lettered, 1 failed batches, lag 10 since start")


def test_a_source_line_and_a_failed_task_are_named() -> None:
    status = {"type": "source", "connector": {"state": "RUNNING"},
              "tasks": [{"id": 0, "state": "RUNNING"}, {"id": 1, "state": "FAILED", "trace": "boom"}],
              "lambda_connect": {"metrics": {"RecordsPolled": 9, "RecordsProduced": 9, "TaskFailed": 2}}}
    assert summary_line("files", status) == ("connector files (source, RUNNING, task 1 FAILED): 9 polled, "
                                             "9 produced, 2 failed runs, 0 dead-lettered since start")


def test_an_unchanged_connector_is_summarised_once_then_again_when_it_moves(caplog: pytest.LogCaptureFixture) -> None:
    statuses = {"a": sink_status(), "b": sink_status()}
    summaries = ConnectorSummaries(lambda: list(statuses), statuses.__getitem__, interval=60)
    with caplog.at_level(logging.DEBUG, "lambda_connect.local.summary"):
        assert len(summaries.log_once()) == 2
        assert summaries.log_once() == []  # idle: said once
        statuses["b"] = sink_status(RecordsIn=3, RecordsWritten=3)
        assert summaries.log_once() == ["connector b (sink, RUNNING): 3 in, 3 written, 0 failed, 0 dead-lettered "
                                        "since start"]
    info = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(info) == 3 and sum(r.levelno == logging.DEBUG for r in caplog.records) == 3


def test_a_status_that_cannot_be_read_skips_that_connector_only() -> None:
    def status(name: str) -> dict[str, Any]:
        if name == "gone":
            raise LookupError("Connector gone not found")
        return sink_status()

    summaries = ConnectorSummaries(lambda: ["gone", "kept"], status, interval=60)
    assert [line.split()[1] for line in summaries.log_once()] == ["kept"]


class _Reconciler:
    def __init__(self) -> None:
        self.results: list[ReconcileResult] = []

    def reconcile(self, name: str) -> ReconcileResult:
        return self.results.pop(0)


def test_only_a_changed_reconcile_outcome_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    runtime = LocalRuntime(RuntimeOptions())
    runtime.reconciler = fake = _Reconciler()
    fake.results = [ReconcileResult("c", "ensured", "RUNNING"), ReconcileResult("c", "ensured", "RUNNING"),
                    ReconcileResult("c", "ensured", "PAUSED"),
                    ReconcileResult("c", "failed", "FAILED", error="Traceback\nConnectException: no table"),
                    ReconcileResult("c", "failed", "FAILED", error="Traceback\nConnectException: no table"),
                    ReconcileResult("c", "ensured", "RUNNING"), ReconcileResult("c", "removed")]
    with caplog.at_level(logging.DEBUG, "lambda_connect.local.runtime"):
        for _ in range(7):
            runtime._reconcile_one("c")
    seen = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert seen == [("INFO", "connector c: RUNNING"), ("DEBUG", "connector c: RUNNING"),
                    ("INFO", "connector c: PAUSED"), ("WARNING", "connector c: ConnectException: no table"),
                    ("DEBUG", "connector c: ConnectException: no table"), ("INFO", "connector c: RUNNING"),
                    ("INFO", "connector c: removed")]


def test_the_summary_interval_comes_from_the_flag_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBDA_CONNECT_SUMMARY_INTERVAL", raising=False)
    assert summary_interval_of(None) == 60.0
    monkeypatch.setenv("LAMBDA_CONNECT_SUMMARY_INTERVAL", "300")
    assert summary_interval_of(None) == 300.0
    assert summary_interval_of(0) == 0.0
    monkeypatch.setenv("LAMBDA_CONNECT_SUMMARY_INTERVAL", "often")
    with pytest.raises(ValueError, match=r"LAMBDA_CONNECT_SUMMARY_INTERVAL='often' is not a number of seconds"):
        summary_interval_of(None)
    with pytest.raises(ValueError, match="--summary-interval must be 0"):
        summary_interval_of(-5)
