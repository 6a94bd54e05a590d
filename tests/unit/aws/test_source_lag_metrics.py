"""``SourceTask.lag_metrics``: the figures a source task reports about itself reach the run result,
the source handler's EMF blob, ``GET /metrics`` (a gauge) and the status JSON under their own name."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from lambda_connect.api import ConfigDef, SourceConnector, SourceRecord, SourceTask, Task
from lambda_connect.api.data import STRING_SCHEMA
from lambda_connect.aws.metrics import make_metrics
from lambda_connect.aws.source_handler import SourceHandler, lag_unit, source_run_metrics
from lambda_connect.plugins import BUILTINS
from lambda_connect.rest.metrics import MetricsView
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.source_worker import SourceRunResult, SourceWorker
from lambda_connect.runtime.task_metrics import COLLECTOR
from lambda_connect.state.memory import InMemoryStateStore

from tests.unit.runtime.test_source_worker_twins import FakeCluster

P = "com.example.lag."
#: What the fake task's ``lag_metrics`` returns next (or raises, for an exception instance).
REPORT: dict[str, Any] = {"value": {}}


class LaggingTask(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        self.sent = False
        self.stopped = False

    def poll(self) -> list[SourceRecord] | None:
        if self.sent:
            return None
        self.sent = True
        return [SourceRecord({"p": 0}, {"n": 1}, "lag-out", None, None, None, STRING_SCHEMA, "row")]

    def stop(self) -> None:
        self.stopped = True

    def lag_metrics(self) -> Mapping[str, float]:
        assert self.stopped, "read after stop(), when a CDC task has confirmed its position"
        value = REPORT["value"]
        if isinstance(value, Exception):
            raise value
        return value  # type: ignore[no-any-return]


class LaggingSource(SourceConnector):
    name = P + "LaggingSource"
    version = "1.0"
    config_def = ConfigDef()

    @classmethod
    def task_class(cls) -> type[Task]:
        return LaggingTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]


def _handler(name: str) -> SourceHandler:
    store = InMemoryStateStore()
    registry = Registry([*BUILTINS, (LaggingSource.name, f"{__name__}:LaggingSource")])
    worker = SourceWorker(store, registry, FakeCluster().factory, sleep=lambda s: None)
    store.create_connector(name, {"name": name, "connector.class": LaggingSource.name,
                                  "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
    return SourceHandler(store, env={}, worker=worker, metrics=make_metrics("source-task"))


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "lambda-connect")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    make_metrics("test").clear_metrics()
    yield
    REPORT["value"] = {}
    COLLECTOR.forget("lagging")
    make_metrics("test").clear_metrics()


def test_the_api_default_reports_nothing() -> None:
    class Plain(SourceTask):
        def start(self, props: Mapping[str, str]) -> None:
            pass

        def poll(self) -> list[SourceRecord] | None:
            return None

    assert dict(Plain().lag_metrics()) == {}
    assert source_run_metrics(SourceRunResult("c", 0)).keys().isdisjoint({"source_lag_bytes"})


def test_a_reported_lag_reaches_emf_prometheus_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    handler = _handler("lagging")
    REPORT["value"] = {"source_lag_bytes": 12345.0}
    out = handler({"connector": "lagging", "task": 0}, None)
    assert out["outcome"] == "completed" and out["lag_metrics"] == {"source_lag_bytes": 12345.0}
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert len(blobs) == 1 and blobs[0]["connector"] == "lagging"
    assert blobs[0]["source_lag_bytes"] in (12345.0, [12345.0])
    units = {m["Name"]: m.get("Unit") for m in blobs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["source_lag_bytes"] == "Bytes" and units["RecordsProduced"] == "Count"

    REPORT["value"] = {"source_lag_bytes": 100}  # the next run caught up: the gauge shows the new level
    handler({"connector": "lagging", "task": 0}, None)
    view = MetricsView(COLLECTOR, handler.store)
    text = view.prometheus_text()
    assert "# TYPE lambda_connect_source_lag_bytes gauge" in text
    assert 'lambda_connect_source_lag_bytes{connector="lagging",task="0"} 100' in text
    assert 'lambda_connect_records_produced_total{connector="lagging",task="0"} 2' in text
    ext = view.status_extension("lagging", "source")
    assert ext["metrics"]["source_lag_bytes"] == 100
    assert ext["task_metrics"]["0"]["source_lag_bytes"] == 100


def test_a_failing_or_malformed_report_never_fails_the_run(caplog: pytest.LogCaptureFixture) -> None:
    handler = _handler("lagging")
    REPORT["value"] = RuntimeError("slot query failed")
    assert handler({"connector": "lagging", "task": 0}, None)["outcome"] == "completed"
    assert "lag_metrics() failed" in caplog.text
    REPORT["value"] = {"source_lag_bytes": float("nan"), "": 1.0, "ok_bytes": "7", "bad": "many"}
    out = handler({"connector": "lagging", "task": 0}, None)
    assert out["outcome"] == "completed" and out["lag_metrics"] == {"ok_bytes": 7.0}
    assert "left out" in caplog.text


def test_units_follow_the_name() -> None:
    assert [lag_unit(n) for n in ("source_lag_bytes", "x_seconds", "y_ms", "events")] == [
        "Bytes", "Seconds", "Milliseconds", "None"]
