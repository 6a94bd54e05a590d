"""The embedded broker on tansu's S3 storage engine keeps topics across restarts (issue 11, defect 2).

S3 is moto's server on loopback (``ThreadedMotoServer``); tansu reaches it through the usual
``AWS_*`` variables. In memory, a restarted broker is empty; on S3 with the same cluster id it
serves the same records and committed group offsets again.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lambda_connect.aws.kafka_clients import KafkaSettings, ensure_topic, make_admin
from lambda_connect.local.broker import EmbeddedBroker
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

from tests.fixtures.broker import consume_all, produce

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        _host, port = server.get_host_and_port()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import boto3

    for key, value in {"AWS_ENDPOINT": s3_endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    name = f"tansu-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def _committed(bootstrap: str, group: str, topic: str) -> int:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    admin = make_admin(KafkaSettings(bootstrap))
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])
    result = admin.list_consumer_group_offsets([request], request_timeout=10)[group].result(timeout=15)
    return result.topic_partitions[0].offset


def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def test_topics_and_group_offsets_survive_a_restart_on_s3(bucket: str) -> None:
    storage, cluster = f"s3://{bucket}/", f"lambda-connect-{uuid.uuid4().hex[:8]}"
    topic, group = "durable-orders", "connect-durable"
    with EmbeddedBroker(storage=storage, cluster_id=cluster) as first:
        assert not first.in_memory
        ensure_topic(make_admin(KafkaSettings(first.bootstrap_servers)), topic, 1, 1)
        produce(first.bootstrap_servers, topic, [(str(i), f"order-{i}") for i in range(50)])
        _commit(first.bootstrap_servers, group, topic, 20)
    with EmbeddedBroker(storage=storage, cluster_id=cluster) as second:
        values = [m.value() for m in consume_all(second.bootstrap_servers, topic, 50)]
        assert values == [f"order-{i}".encode() for i in range(50)]
        assert _committed(second.bootstrap_servers, group, topic) == 20


def test_in_memory_a_restarted_broker_is_empty() -> None:
    with EmbeddedBroker() as first:
        ensure_topic(make_admin(KafkaSettings(first.bootstrap_servers)), "gone", 1, 1)
        produce(first.bootstrap_servers, "gone", [("k", "v")])
    with EmbeddedBroker() as second:
        assert "gone" not in make_admin(KafkaSettings(second.bootstrap_servers)).list_topics(timeout=10).topics


def test_up_broker_storage_keeps_topics_between_runs(bucket: str, tmp_path: Path) -> None:
    options = RuntimeOptions(state_url=f"sqlite:///{tmp_path}/state.db", port=0, broker_storage=f"s3://{bucket}")
    with LocalRuntime(options) as first:
        assert first.broker.storage == f"s3://{bucket}/"
        assert first.service.server_info()["kafka_storage"] == f"s3://{bucket}/"
        ensure_topic(make_admin(KafkaSettings(first.bootstrap_servers)), "kept", 1, 1)
        produce(first.bootstrap_servers, "kept", [(str(i), str(i)) for i in range(10)])
        cluster = first.broker.cluster_id
    with LocalRuntime(options) as second:
        # The same storage comes back under the same cluster id, with its topics.
        assert second.broker.cluster_id == cluster
        assert len(consume_all(second.bootstrap_servers, "kept", 10)) == 10
        assert second.previous_run_report == []


def test_up_refuses_a_storage_it_cannot_use(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lambda_connect.cli", "up", "--port", "0", "--state", f"sqlite:///{tmp_path}/s.db",
         "--broker-storage", "file:///tmp/topics"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.returncode == 1, done
    assert "broker storage 'file:///tmp/topics' is not supported" in done.stderr, done.stderr
