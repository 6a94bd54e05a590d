"""The ``worker_id`` a task reports: up's address, else the invoked function and alias, never an ARN."""

from __future__ import annotations

import pytest
from lambda_connect.aws.metrics import WORKER_ID_ENV, emit, worker_id
from lambda_connect.local.context import LambdaContext, function_arn
from lambda_connect.runtime.task_metrics import COLLECTOR


def test_alias_of_the_invoked_function() -> None:
    context = LambdaContext("lc-SinkTask-abc", 1000, function_arn("lc-SinkTask-abc", "connect-orders"))
    assert worker_id(context, {}) == "lc-SinkTask-abc:connect-orders"


def test_function_name_without_alias_and_up_override() -> None:
    context = LambdaContext("lc-SourceTask", 1000)
    assert worker_id(context, {}) == "lc-SourceTask"
    assert worker_id(None, {"AWS_LAMBDA_FUNCTION_NAME": "lc-SourceTask"}) == "lc-SourceTask"
    assert worker_id(context, {WORKER_ID_ENV: "127.0.0.1:8083"}) == "127.0.0.1:8083"
    assert worker_id(None, {}) == "local"


def test_emit_adds_to_the_process_totals_even_with_emf_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_connect.aws.metrics import make_metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    COLLECTOR.forget("wid-test")
    emit(make_metrics("sink-task"), "wid-test", {"RecordsIn": (4, "Count")}, task=2)
    emit(make_metrics("sink-task"), "wid-test", {"RecordsIn": (1, "Count")}, task=2)
    assert COLLECTOR.of("wid-test")[2]["RecordsIn"].total == 5
    COLLECTOR.forget("wid-test")
