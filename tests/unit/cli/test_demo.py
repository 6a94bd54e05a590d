"""``lambda-connect demo`` end to end: the summary a user sees, and exit 0."""

from __future__ import annotations

import re
from typing import Any

import pytest
from lambda_connect.cli import main

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_demo_runs_the_pipeline_and_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    rows = int(re.search(r"Rows in table 'orders' \(.*\): (\d+)", out).group(1))
    dead = int(re.search(r"Dead-lettered records in 'demo-orders-dlq': (\d+)", out).group(1))
    assert rows + dead == 5000 and 0 < dead < 200
    assert "__connect.errors.exception.class.name: org.apache.kafka.connect.errors.DataException" in out
    assert re.search(r"demo-orders-sink\s+sink\s+RUNNING", out)
    assert "'current.iteration': 5000" in out


def test_process_age_counts_from_the_start_of_this_process() -> None:
    import time

    from lambda_connect.cli.demo import process_age

    first = process_age()
    time.sleep(0.05)
    second = process_age()
    assert 0.0 < first < second < 3600.0
    assert second - first >= 0.04


def test_the_demo_creates_its_topic_as_the_source_s_first_record_would(tmp_path: Any) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient
    from lambda_connect.aws.kafka_clients import KafkaSettings
    from lambda_connect.cli._http import ConnectClient
    from lambda_connect.cli.demo import _Probe
    from lambda_connect.local.broker import EmbeddedBroker

    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        probe = _Probe(ConnectClient("http://127.0.0.1:9"), "source", KafkaSettings(broker.bootstrap_servers),
                       "made-by-demo", "dlq", "group", tmp_path / "x.db", "t")
        try:
            assert probe.create_topic()
            assert probe.create_topic()  # there already: still fine
        finally:
            probe.close()
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
        producer.produce("made-by-record", b"x")
        assert producer.flush(10) == 0
        topics = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=10).topics
        assert len(topics["made-by-demo"].partitions) == len(topics["made-by-record"].partitions) > 0
