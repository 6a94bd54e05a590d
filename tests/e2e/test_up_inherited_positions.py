"""Issue 15: ``up`` creating a connector from its file warns when the sink's target holds the marks
of an earlier connector of that name (JDBC sink on SQLite), and creates it all the same."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

from tests.fixtures.sink_input import SinkRig, raw_record
from tests.functional.test_create_inherits_sink_positions import jdbc_config

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_a_connector_file_over_earlier_marks_is_created_with_a_warning(
    tmp_path: Path, kafka_broker: str, caplog: pytest.LogCaptureFixture
) -> None:
    name, topic = "orders-db", "up-inherited-orders"
    url = f"jdbc:sqlite:{tmp_path / 'target.db'}"
    earlier = SinkRig(name, jdbc_config(url, topic))
    assert earlier({"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9", "records": {
        f"{topic}-0": [raw_record(topic, 0, o, f'{{"id": {o}}}'.encode()) for o in range(3)]}}) == \
        {"batchItemFailures": []}

    options = RuntimeOptions(connectors=[{"name": name, **jdbc_config(url, topic)}], bootstrap_servers=kafka_broker,
                             state_url=f"sqlite:///{tmp_path}/state.db", port=0, reconcile_interval=30.0)
    with caplog.at_level(logging.INFO), LocalRuntime(options) as runtime:
        assert runtime.store.get_connector(name) is not None
        assert runtime.service.take_create_warning(name) is None  # logged, not kept for a response
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"Connector {name} was created, but its target already holds sink positions" in w
               and f"{topic}-0 at offset 2" in w and f"DELETE /connectors/{name}/offsets" in w
               for w in warnings), warnings
