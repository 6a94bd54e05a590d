"""``emit``: one clean EMF blob per batch, and silence (no warnings, no stray lines) when
metrics are switched off, as the local runtime does for its human-readable log."""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import Iterator

import pytest
from lambda_connect.aws.metrics import emit, make_metrics, sink_batch_metrics


@pytest.fixture(autouse=True)
def _clean_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Powertools shares its metric state between instances: start and end empty."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "lambda-connect")
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    make_metrics("test").clear_metrics()
    yield
    make_metrics("test").clear_metrics()


def _batch(records: int) -> dict[str, tuple[float, str]]:
    return sink_batch_metrics(records_in=records, written=records, dead_lettered=0, failed=0)


def _blobs(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def _emit_twice_capturing(caplog: pytest.LogCaptureFixture) -> list[warnings.WarningMessage]:
    metrics = make_metrics("sink")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        logging.captureWarnings(True)
        try:
            emit(metrics, "orders", _batch(3))
            emit(metrics, "returns", _batch(5))
        finally:
            logging.captureWarnings(False)
    return list(caught)


def _warning_texts(caught: list[warnings.WarningMessage], caplog: pytest.LogCaptureFixture) -> list[str]:
    return [str(w.message) for w in caught] + [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_disabled_metrics_emit_twice_without_warnings_or_output(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    caught = _emit_twice_capturing(caplog)
    assert _warning_texts(caught, caplog) == []
    assert _blobs(capsys.readouterr().out) == []


def test_enabled_metrics_emit_one_blob_per_batch_with_its_own_connector(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caught = _emit_twice_capturing(caplog)
    assert _warning_texts(caught, caplog) == []
    first, second = _blobs(capsys.readouterr().out)
    assert (first["connector"], first["RecordsIn"]) == ("orders", [3.0])
    assert (second["connector"], second["RecordsIn"]) == ("returns", [5.0])
    directive = second["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "lambda-connect"
    assert directive["Dimensions"] == [["connector", "service"]]


def test_disabled_metrics_never_overflow_into_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Powertools prints once a metric holds 100 values, even when disabled; values must
    not pile up across batches."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics = make_metrics("sink")
    for i in range(150):
        emit(metrics, f"c{i % 3}", _batch(i))
    assert capsys.readouterr().out == ""
    assert metrics.metric_set == {}


def test_failed_emit_leaves_nothing_behind_for_the_next_batch(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = make_metrics("sink")
    with pytest.raises(ValueError):
        emit(metrics, "orders", {"RecordsIn": (1, "Count"), "Bogus": (1, "NotAUnit")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emit(metrics, "returns", _batch(2))
    (blob,) = _blobs(capsys.readouterr().out)
    assert blob["connector"] == "returns" and blob["RecordsIn"] == [2.0]


def test_concurrent_emits_keep_each_blob_to_one_connector(capsys: pytest.CaptureFixture[str]) -> None:
    """The local runtime runs sink and source handlers on threads of one process."""
    metrics = make_metrics("sink")
    per_thread = 20

    def worker(n: int) -> None:
        for _ in range(per_thread):
            emit(metrics, f"conn-{n}", _batch(n))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 5)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    blobs = _blobs(capsys.readouterr().out)
    assert len(blobs) == 4 * per_thread
    for blob in blobs:
        n = int(blob["connector"].removeprefix("conn-"))
        assert blob["RecordsIn"] == [float(n)] and blob["RecordsWritten"] == [float(n)]
