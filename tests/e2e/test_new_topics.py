"""A sink created before its topic exists gets the topic's records within seconds (issue 11, defect 13).

Before the fix a FileStreamSink created 3 s before its topic saw the first record after 299 s:
its consumer learned of the topic only at librdkafka's 5-minute metadata refresh. A sink
subscribed by ``topics.regex`` waited for the next full reconcile pass instead (here set to
ten minutes, so only the topic watch can pick the topic up in time).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_connect.aws.kafka_clients import KafkaSettings, ensure_topic, make_admin
from lambda_connect.local.broker import EmbeddedBroker
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

from tests.fixtures.broker import produce

pytestmark = [pytest.mark.broker, pytest.mark.slow]

#: Far below librdkafka's 300 s metadata refresh and the 600 s reconcile interval set below.
PICKUP_WITHIN_S = 90.0
RECORDS = 5


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout}s")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    with EmbeddedBroker() as broker:
        options = RuntimeOptions(state_url=f"sqlite:///{tmp_path}/state.db", port=0,
                                 bootstrap_servers=broker.bootstrap_servers, reconcile_interval=600.0,
                                 esm_consumer_overrides={"session.timeout.ms": 2000, "heartbeat.interval.ms": 500})
        rt = LocalRuntime(options).start()
        try:
            yield rt
        finally:
            rt.stop(20)


def _create_sink(rt: LocalRuntime, name: str, out: Path, **topics: str) -> None:
    config: dict[str, Any] = {"connector.class": "FileStreamSink", "file": str(out),
                              "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                              "value.converter": "org.apache.kafka.connect.storage.StringConverter",
                              "lambda.maximum.batching.window.seconds": "0", **topics}
    r = requests.post(f"{rt.url}/connectors", json={"name": name, "config": config}, timeout=30)
    assert r.status_code == 201, r.text


def _produce_to_new_topic(rt: LocalRuntime, topic: str) -> None:
    ensure_topic(make_admin(KafkaSettings(rt.bootstrap_servers)), topic, 2, 1)
    produce(rt.bootstrap_servers, topic, [(str(i), f"line-{i}") for i in range(RECORDS)])


def test_a_sink_created_before_its_named_topic_gets_its_records(runtime: LocalRuntime, tmp_path: Path) -> None:
    topic, out = f"later-{uuid.uuid4().hex[:8]}", tmp_path / "named.txt"
    _create_sink(runtime, "early-sink", out, topics=topic)
    _wait(lambda: any(e.running for e in runtime.platform.esms("early-sink").values()), 30, "the sink's mapping")
    time.sleep(3.0)  # as in the issue: the sink has been polling for a missing topic for a while
    started = time.monotonic()
    _produce_to_new_topic(runtime, topic)
    _wait(lambda: len(_lines(out)) >= RECORDS, PICKUP_WITHIN_S, f"{RECORDS} lines from the new topic {topic}")
    assert sorted(_lines(out)) == sorted(f"line-{i}" for i in range(RECORDS))
    print(f"named topic picked up {time.monotonic() - started:.1f}s after it was created")


def test_a_new_topic_matching_topics_regex_is_consumed_without_a_full_reconcile(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    prefix, out = f"rx{uuid.uuid4().hex[:6]}", tmp_path / "regex.txt"
    _create_sink(runtime, "pattern-sink", out, **{"topics.regex": f"{prefix}-.*"})
    time.sleep(3.0)
    started = time.monotonic()
    _produce_to_new_topic(runtime, f"{prefix}-orders")
    _wait(lambda: len(_lines(out)) >= RECORDS, PICKUP_WITHIN_S, f"{RECORDS} lines from the topic {prefix}-orders")
    assert sorted(_lines(out)) == sorted(f"line-{i}" for i in range(RECORDS))
    print(f"regex topic picked up {time.monotonic() - started:.1f}s after it was created")
