"""The event source mapping emulator against a real broker, with a recording invoker."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from lambda_connect.aws.kafka_clients import KafkaSettings
from lambda_connect.aws.kafka_event import KafkaRecordTuple, build_kafka_event
from lambda_connect.local.context import LambdaContext, function_arn
from lambda_connect.local.esm import EsmEmulator
from lambda_connect.local.esm_process import make_esm
from lambda_connect.runtime.lambda_config import LambdaSettings

from tests.fixtures.broker import consume_all, produce

pytestmark = pytest.mark.broker

FAST = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}


class Recorder:
    """Invoker that records events and can fail on demand."""

    def __init__(self, fail: Callable[[dict[str, Any], int], Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[LambdaContext] = []
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        with self.lock:
            self.events.append(event)
            self.contexts.append(context)
            attempt = len(self.events)
        return self.fail(event, attempt) if self.fail else None

    def values(self, event: dict[str, Any]) -> list[str]:
        return [base64.b64decode(r["value"]).decode() for rs in event["records"].values() for r in rs]


def committed(bootstrap: str, group: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        consumer.close()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture(params=["thread", "process"])
def esm_factory(request: pytest.FixtureRequest, kafka_broker: str) -> Iterator[Callable[..., EsmEmulator]]:
    """Mappings with the poller on a thread of this process, or in a process of its own (what
    ``up`` runs): every test here holds for both."""
    made: list[Any] = []

    def make(topic: str, invoke: Any, settings: LambdaSettings | None = None, group: str | None = None,
             timeout_ms: int = 10_000) -> Any:
        esm = make_esm(mode=request.param,
            connector="orders", topic=topic, consumer_group=group or f"connect-{uuid.uuid4().hex[:8]}",
            settings=settings or LambdaSettings(batch_size=100, batching_window_seconds=0), invoke=invoke,
            function_name="SinkTaskFunction", function_arn=function_arn("SinkTaskFunction", "connect-orders"),
            timeout_ms=timeout_ms, kafka=KafkaSettings(bootstrap_servers=kafka_broker), retry_backoff_max=0.2,
            consumer_overrides=FAST,
        )
        made.append(esm)
        return esm

    yield make
    for esm in made:
        esm.stop(10)


def test_batches_arrive_in_lambda_shape_and_are_committed(kafka_broker: str, kafka_topic: Any,
                                                          esm_factory: Any) -> None:
    topic = kafka_topic()
    produce(kafka_broker, topic, [(f"k{i}", f"v{i}", [("h", b"\xff\x01")]) for i in range(25)])
    recorder = Recorder()
    esm = esm_factory(topic, recorder, LambdaSettings(batch_size=10, batching_window_seconds=0))
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 25)
    assert all(sum(len(v) for v in e["records"].values()) <= 10 for e in recorder.events)
    assert [v for e in recorder.events for v in recorder.values(e)] == [f"v{i}" for i in range(25)]
    first = recorder.events[0]
    assert first["eventSource"] == "aws:kafka" and first["bootstrapServers"] == kafka_broker
    record = first["records"][f"{topic}-0"][0]
    assert base64.b64decode(record["key"]) == b"k0"
    assert record["headers"] == [{"h": [255, 1]}]
    assert record["timestampType"] == "CREATE_TIME"
    assert recorder.contexts[0].invoked_function_arn.endswith(":SinkTaskFunction:connect-orders")
    assert committed(kafka_broker, esm.consumer_group, topic) == 25


def test_failed_batch_is_retried_whole_and_not_committed_meanwhile(kafka_broker: str, kafka_topic: Any,
                                                                   esm_factory: Any) -> None:
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, f"v{i}") for i in range(5)])

    def fail(event: dict[str, Any], attempt: int) -> None:
        if attempt < 3:
            raise RuntimeError("database down")

    recorder = Recorder(fail)
    esm = esm_factory(topic, recorder)
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 5)
    assert len(recorder.events) == 3
    assert recorder.values(recorder.events[0]) == recorder.values(recorder.events[2]) == [f"v{i}" for i in range(5)]
    assert esm.stats.failed_invocations == 2 and "database down" in (esm.stats.last_error or "")


def test_stopping_during_retries_leaves_the_batch_uncommitted(kafka_broker: str, kafka_topic: Any,
                                                              esm_factory: Any) -> None:
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, "poison")])
    recorder = Recorder(lambda e, a: (_ for _ in ()).throw(ValueError("always")))
    group = f"connect-{uuid.uuid4().hex[:8]}"
    esm = esm_factory(topic, recorder, group=group)
    esm.start()
    wait_for(lambda: len(recorder.events) >= 2)
    assert esm.stop(10)
    assert committed(kafka_broker, group, topic) < 0  # nothing committed: redelivered on restart


def test_batch_item_failures_commit_before_the_failure_and_retry_from_it(kafka_broker: str, kafka_topic: Any,
                                                                        esm_factory: Any) -> None:
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, f"v{i}") for i in range(6)])

    def fail(event: dict[str, Any], attempt: int) -> Any:
        if attempt == 1:
            return {"batchItemFailures": [{"itemIdentifier": {"partition": f"{topic}-0", "offset": 3}}]}
        return {"batchItemFailures": []}

    recorder = Recorder(fail)
    settings = LambdaSettings(batch_size=100, batching_window_seconds=0, pollers_min=1,
                              report_batch_item_failures=True)
    esm = esm_factory(topic, recorder, settings)
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 6)
    assert recorder.values(recorder.events[0]) == [f"v{i}" for i in range(6)]
    assert recorder.values(recorder.events[1]) == ["v3", "v4", "v5"]


def test_unknown_batch_item_fails_the_whole_batch(kafka_broker: str, kafka_topic: Any, esm_factory: Any) -> None:
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, "a"), (None, "b")])

    def fail(event: dict[str, Any], attempt: int) -> Any:
        if attempt == 1:
            return {"batchItemFailures": [{"itemIdentifier": {"partition": f"{topic}-0", "offset": 99}}]}
        return None

    recorder = Recorder(fail)
    settings = LambdaSettings(batching_window_seconds=0, pollers_min=1, report_batch_item_failures=True)
    esm = esm_factory(topic, recorder, settings)
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 2)
    assert recorder.values(recorder.events[1]) == ["a", "b"]


def test_retry_limit_sends_records_to_kafka_destination(kafka_broker: str, kafka_topic: Any,
                                                        esm_factory: Any) -> None:
    import json

    from tests.fixtures.broker import consume_all

    topic, failures = kafka_topic(), kafka_topic(prefix="failures")
    produce(kafka_broker, topic, [("k", "bad")])
    recorder = Recorder(lambda e, a: (_ for _ in ()).throw(RuntimeError("nope")))
    settings = LambdaSettings(batching_window_seconds=0, pollers_min=1, maximum_retry_attempts=1,
                              on_failure_destination=f"kafka://{failures}")
    esm = esm_factory(topic, recorder, settings)
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 1)
    assert len(recorder.events) == 2  # the first attempt and one retry
    message = consume_all(kafka_broker, failures, 1)[0]
    body = json.loads(message.value())
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    payload = json.loads(body["payload"])
    assert base64.b64decode(payload["records"][f"{topic}-0"][0]["value"]) == b"bad"
    assert message.key() == b"k"


def test_handler_returning_after_the_timeout_counts_as_failure(kafka_broker: str, kafka_topic: Any,
                                                               esm_factory: Any) -> None:
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, "slow")])

    def slow(event: dict[str, Any], attempt: int) -> None:
        if attempt == 1:
            time.sleep(0.3)

    recorder = Recorder(slow)
    esm = esm_factory(topic, recorder, timeout_ms=200)
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 1)
    assert len(recorder.events) == 2 and esm.stats.failed_invocations == 1
    assert "timed out" in (esm.stats.last_error or "")


def _plain_tuple(message: Any) -> KafkaRecordTuple:
    """A consumed message as the mapping turned it into a record before its fast path (the reference)."""
    ts_type, ts = message.timestamp()
    names = {0: "NO_TIMESTAMP_TYPE", 1: "CREATE_TIME", 2: "LOG_APPEND_TIME"}
    return KafkaRecordTuple(message.topic(), message.partition(), message.offset(), ts if ts_type else -1,
                            names.get(ts_type, "CREATE_TIME"), message.key(), message.value(),
                            [(k, v) for k, v in (message.headers() or [])])


def test_delivered_events_equal_the_plain_event_of_the_same_records(kafka_broker: str, kafka_topic: Any,
                                                                     esm_factory: Any) -> None:
    """Differential: every event the mapping delivers (written as JSON text directly, then parsed)
    is ``orjson.loads(orjson.dumps(build_kafka_event(records)))`` of the very records it carries,
    and serialises back to the same bytes."""
    topic = kafka_topic(partitions=3)
    produce(kafka_broker, topic, [
        *[(f"k{i}", f'{{"id":{i}}}', [("h", bytes([i % 256, 255]))], i % 3) for i in range(30)],
        (None, None, None, 0),                                  # tombstone, no key
        (b"", b"", [("empty", b""), ("null", None), ("é\"", b"\x00")], 1),
        (b"\xff\xfe", bytes(range(256)), None, 2),
    ])
    recorder = Recorder()
    esm = esm_factory(topic, recorder, LambdaSettings(batch_size=7, batching_window_seconds=0))
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 33)
    messages = {(m.partition(), m.offset()): m for m in consume_all(kafka_broker, topic, 33)}
    assert sum(len(rs) for e in recorder.events for rs in e["records"].values()) == 33
    for event in recorder.events:
        carried = [messages[(r["partition"], r["offset"])] for rs in event["records"].values() for r in rs]
        expected = orjson.loads(orjson.dumps(build_kafka_event([_plain_tuple(m) for m in carried],
                                                               bootstrap_servers=kafka_broker)))
        assert event == expected
        assert orjson.dumps(event) == orjson.dumps(expected)


def test_payload_cap_splits_batches_without_losing_records(kafka_broker: str, kafka_topic: Any,
                                                            esm_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that would exceed the invoke payload ends before the record that would overflow it;
    that record and everything consumed after it, on every partition, come in later batches."""
    from lambda_connect.local import esm as esm_module

    monkeypatch.setattr(esm_module, "MAX_PAYLOAD_BYTES", 2_000)  # ~6 records of 100 bytes per batch
    topic = kafka_topic(partitions=3)
    produce(kafka_broker, topic, [(None, f"{i:03d}".ljust(100, "x"), None, i % 3) for i in range(60)])
    recorder = Recorder()
    esm = esm_factory(topic, recorder, LambdaSettings(batch_size=100, batching_window_seconds=0.3))
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 60)
    delivered = [(r["partition"], r["offset"]) for e in recorder.events for rs in e["records"].values() for r in rs]
    assert sorted(delivered) == sorted((p, o) for p in range(3) for o in range(20))  # each once, none lost
    assert max(sum(len(rs) for rs in e["records"].values()) for e in recorder.events) <= 6
    for p in range(3):
        assert [o for q, o in delivered if q == p] == list(range(20))  # in order per partition


def test_read_ahead_keeps_batches_in_order_through_retries(kafka_broker: str, kafka_topic: Any,
                                                           esm_factory: Any) -> None:
    """The batch read while the handler runs is delivered only after the current one succeeded,
    however often that one is retried; every invocation runs on the mapping's one invoker thread."""
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, f"v{i}") for i in range(20)])
    threads: list[str] = []

    def fail_twice(event: dict[str, Any], attempt: int) -> None:
        threads.append(threading.current_thread().name)
        if attempt <= 2:
            time.sleep(0.2)  # long enough for the poller to have the next batch ready
            raise RuntimeError("database down")

    recorder = Recorder(fail_twice)
    esm = esm_factory(topic, recorder, LambdaSettings(batch_size=5, batching_window_seconds=0))
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 20)
    values = [recorder.values(e) for e in recorder.events]
    first = [f"v{i}" for i in range(5)]
    assert values[:3] == [first, first, first]
    assert [v for batch in values[3:] for v in batch] == [f"v{i}" for i in range(5, 20)]
    assert len(set(threads)) == 1 and threads[0].endswith("-invoke")
    if isinstance(esm, EsmEmulator):  # in process mode the poller is not a thread of this process at all
        assert threads[0] != esm._thread.name


def test_batch_read_ahead_when_stopping_is_not_committed(kafka_broker: str, kafka_topic: Any,
                                                         esm_factory: Any) -> None:
    """Stopping finishes and commits the batch in flight; the one read ahead meanwhile is dropped
    uncommitted, so the group's next consumer gets it."""
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, f"v{i}") for i in range(10)])
    release = threading.Event()
    recorder = Recorder(lambda event, attempt: release.wait(10) if attempt == 1 else None)
    group = f"connect-{uuid.uuid4().hex[:8]}"
    esm = esm_factory(topic, recorder, LambdaSettings(batch_size=5, batching_window_seconds=0), group=group)
    esm.start()
    wait_for(lambda: len(recorder.events) == 1)
    time.sleep(1.0)  # the poller reads the second batch ahead meanwhile
    esm.request_stop()
    release.set()
    assert esm.stop(20)
    assert len(recorder.events) == 1 and esm.stats.records_committed == 5
    assert committed(kafka_broker, group, topic) == 5
    again = Recorder()
    esm_factory(topic, again, LambdaSettings(batch_size=5, batching_window_seconds=0), group=group).start()
    wait_for(lambda: len(again.events) >= 1)
    assert again.values(again.events[0]) == [f"v{i}" for i in range(5, 10)]


class _LazyRecorder(Recorder):
    """A Recorder shaped like the runtime's lazily loaded handler (it has ``load``)."""

    def __init__(self, fail_load: bool = False) -> None:
        super().__init__()
        self.loads: list[int] = []  # how many events had arrived at each load
        self.fail_load = fail_load

    def load(self) -> None:
        self.loads.append(len(self.events))
        if self.fail_load:
            raise RuntimeError("broken handler module")


@pytest.mark.parametrize("fail_load", [False, True])
def test_handler_is_loaded_before_the_first_batch(kafka_broker: str, kafka_topic: Any, esm_factory: Any,
                                                  fail_load: bool) -> None:
    """As Lambda's init phase, the handler module loads when the mapping starts, outside the first
    invocation's deadline; a load that fails there is left to the first invocation to report."""
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, "v")])
    recorder = _LazyRecorder(fail_load)
    esm = esm_factory(topic, recorder)
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 1)
    assert recorder.loads == [0] and len(recorder.events) == 1
