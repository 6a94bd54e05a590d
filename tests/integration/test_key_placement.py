"""Keys land on the partition Kafka's Java producer would pick (issue 11, defect 12).

A Kafka Connect source writes through the Java producer, whose default partitioner hashes the
serialized key with murmur2. librdkafka's default hashes with CRC32, so the same key lands
elsewhere and per-key order breaks when a pipeline moves over. The reference hash below is
written from Kafka's algorithm and checked against the values Kafka's own tests pin; the
producers we build must agree with it on a real broker.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.aws.kafka_clients import JAVA_PARTITIONER, KafkaSettings, make_producer, producer_config
from lambda_connect.aws.sink_handler import KafkaDlqTransport
from lambda_connect.aws.source_handler import KafkaClients

pytestmark = pytest.mark.broker

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "connect" / "lambda_connect"


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` (a signed 32-bit result), for the test's expectations only."""
    m, seed = 0x5BD1E995, 0x9747B28C
    length = len(data)
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[length & ~3 :]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, partitions: int) -> int:
    """``Utils.toPositive(Utils.murmur2(key)) % numPartitions``, as the Java producer places a key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# Kafka's UtilsTest#testMurmur2 pins these.
KAFKA_VECTORS = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize(("text", "expected"), sorted(KAFKA_VECTORS.items()))
def test_reference_hash_matches_kafkas_vectors(text: str, expected: int) -> None:
    assert murmur2(text.encode()) == expected


def test_every_producer_config_uses_the_java_partitioner_unless_overridden() -> None:
    settings = KafkaSettings("127.0.0.1:9092")
    assert producer_config(settings)["partitioner"] == JAVA_PARTITIONER == "murmur2_random"
    assert producer_config(settings, transactional_id="src-0")["partitioner"] == JAVA_PARTITIONER
    # producer.override.partitioner still wins, as any other producer setting.
    assert producer_config(settings, {"partitioner": "consistent_random"})["partitioner"] == "consistent_random"


def test_no_module_builds_a_producer_outside_the_factory() -> None:
    """Source tasks, the DLQ, the ESM's on-failure destination: all through ``make_producer``.

    Plugins are outside this rule: they may not import the runtime's factory (layering), and the
    one plugin with a producer (the HTTP sink's response reporter) writes records without keys."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "kafka_clients.py" or path.relative_to(PACKAGE).parts[0] == "plugins":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name == "Producer":
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, f"confluent_kafka.Producer built outside aws/kafka_clients.py: {offenders}"


def _keys() -> list[bytes]:
    keys = [k.encode() for k in KAFKA_VECTORS] + [b"1", b"2", b"3", b"\x00\x00\x00\x01", b"\xff" * 7]
    keys += [f"customer-{i}".encode() for i in range(120)]
    return keys


def _placements(producer: Any, topic: str, keys: list[bytes]) -> dict[bytes, int]:
    placed: dict[bytes, int] = {}
    errors: list[str] = []

    def report(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            placed[msg.key()] = msg.partition()

    for key in keys:
        producer.produce(topic, b"v", key, on_delivery=report)
    assert producer.flush(30) == 0 and not errors, errors[:3]
    return placed


def _source_producer(settings: KafkaSettings) -> Any:
    return KafkaClients(settings=settings).producer({}, None)


def _dlq_producer(settings: KafkaSettings) -> Any:
    return KafkaDlqTransport(settings).producer()


@pytest.mark.parametrize(
    "factory",
    [lambda s: make_producer(s), _source_producer, _dlq_producer],
    ids=["factory", "source-task", "dead-letter-queue"],
)
@pytest.mark.parametrize("partitions", [4, 7])
def test_keys_land_where_the_java_producer_puts_them(
    kafka_broker: str, kafka_topic: Callable[..., str], factory: Callable[[KafkaSettings], Any], partitions: int
) -> None:
    topic = kafka_topic(partitions, prefix="placement")
    keys = _keys()
    placed = _placements(factory(KafkaSettings(kafka_broker)), topic, keys)
    expected = {key: java_partition(key, partitions) for key in keys}
    assert placed == expected
    if partitions == 4:
        # The keys: with CRC32 (librdkafka's default) b"1" and b"3" would be on 3, b"2" on 1.
        assert [placed[k] for k in (b"1", b"2", b"3")] == [3, 0, 3]
