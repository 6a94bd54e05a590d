"""Redis sink against the machine's Redis (own Redis servers for a password and for TLS): every
``redis.type``, tombstones, redelivery that writes each STREAM/LIST record once (also through the
sink handler), poison records, the server going away mid-batch, wrong credentials, TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.api import ConnectException, RetriableException, Schema, SinkRecord, SinkTaskContext, Struct, Type
from lambda_connect.plugins.connectors.redis import sink as redis_sink
from lambda_connect.plugins.connectors.redis.sink import RedisSinkTask

from tests.e2e.test_sink_delivery import Context, event_for, load_app
from tests.fixtures.messaging import Certificates, TcpProxy, own_redis


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    redis_sink._clients.clear()
    yield
    redis_sink._clients.clear()


@pytest.fixture
def r(redis_url: str, unique_name: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(f"{unique_name}*"):
        client.delete(key)


class Harness:
    def __init__(self, url: str, keyspace: str) -> None:
        self.url, self.keyspace = url, keyspace
        self.errant: list[tuple[SinkRecord, BaseException]] = []

    def task(self, kind: str, **props: str) -> RedisSinkTask:
        config = {"redis.uri": self.url, "redis.type": kind, "redis.keyspace": self.keyspace, **props}
        task = RedisSinkTask()
        task.initialize(SinkTaskContext("redis-test", 0, config, lambda rec, e: self.errant.append((rec, e))))
        task.start(config)
        return task


@pytest.fixture
def h(redis_url: str, unique_name: str, r: Any) -> Harness:
    return Harness(redis_url, unique_name)


def rec(offset: int, value: Any, key: Any = None, partition: int = 0, topic: str = "orders") -> SinkRecord:
    return SinkRecord(topic, partition, None, key, None, value, offset)


PERSON = Schema.struct([("name", Schema(Type.STRING)), ("age", Schema(Type.INT32, optional=True))])


def test_hash_from_maps_and_structs_and_tombstones_delete(h: Harness, r: Any, unique_name: str) -> None:
    task = h.task("HASH")
    task.put([rec(0, {"name": "ada", "langs": ["en", "fr"]}, key="u1"),
              rec(1, Struct(PERSON, {"name": "bob", "age": 41}), key="u2"),
              rec(2, {"name": "bob", "city": "oslo"}, key="u2")])
    assert r.hgetall(f"{unique_name}:u1") == {b"name": b"ada", b"langs": b'["en","fr"]'}
    assert r.hgetall(f"{unique_name}:u2") == {b"name": b"bob", b"age": b"41", b"city": b"oslo"}
    task.put([rec(3, None, key="u1")])
    assert not r.exists(f"{unique_name}:u1")


def test_string_with_separator_and_topic_keyspace(h: Harness, r: Any, unique_name: str) -> None:
    task = h.task("STRING", **{"redis.keyspace": "${topic}", "redis.separator": "/"})
    topic = f"{unique_name}-t"
    task.put([rec(0, "v0", key="a", topic=topic), rec(1, 7, key="b", topic=topic), rec(2, "v2", key="a", topic=topic)])
    assert (r.get(f"{topic}/a"), r.get(f"{topic}/b")) == (b"v2", b"7")
    task.put([rec(3, None, key="b", topic=topic)])
    assert r.get(f"{topic}/b") is None


def test_json_needs_the_module(h: Harness, r: Any, unique_name: str) -> None:
    modules = {m[b"name"] if isinstance(m, dict) else m for m in (r.module_list() or [])}
    task = h.task("JSON")
    if any(b"ReJSON" in (m if isinstance(m, bytes) else b"") for m in modules):
        task.put([rec(0, {"a": 1}, key="doc")])
        assert r.execute_command("JSON.GET", f"{unique_name}:doc") == b'{"a":1}'
    else:  # the Redis here has no RedisJSON: the error says what is missing
        with pytest.raises(ConnectException, match="JSON needs the RedisJSON module"):
            task.put([rec(0, {"a": 1}, key="doc")])


def stream(r: Any, key: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return [fields for _, fields in r.xrange(key)]


def test_stream_redelivery_writes_each_record_once(h: Harness, r: Any, unique_name: str) -> None:
    task = h.task("STREAM")
    batch = [rec(i // 2, {"n": i}, partition=i % 2) for i in range(10)]
    task.put(batch)
    task.put(batch)  # the same batch again (the invocation died before its offsets were committed)
    task.put(batch[6:] + [rec(5 + i // 2, {"n": 10 + i}, partition=i % 2) for i in range(4)])  # overlap + new
    got = [int(f[b"n"]) for f in stream(r, unique_name)]
    assert got == list(range(14))
    assert task.skipped_duplicates == 10 + 4
    marks = r.hgetall(unique_name + redis_sink.OFFSETS_SUFFIX)
    assert marks == {b"redis-test:orders:0": b"6", b"redis-test:orders:1": b"6"}
    task.put([rec(7, "plain", partition=0)])
    assert stream(r, unique_name)[-1] == {b"value": b"plain"}


def test_list_set_zset_and_their_tombstones(h: Harness, r: Any, unique_name: str) -> None:
    lst, st, zs = (Harness(h.url, f"{unique_name}-{k}") for k in ("list", "set", "zset"))
    lt, sett, zt = lst.task("LIST"), st.task("SET"), zs.task("ZSET")
    records = [rec(0, "x", key="a"), rec(1, "x", key="b"), rec(2, "x", key="c")]
    for _ in range(2):  # delivered twice
        lt.put(records)
        sett.put(records)
    zt.put([rec(0, 3, key="a"), rec(1, "1.5", key="b"), rec(2, 9, key="a")])
    zt.put([rec(0, 3, key="a"), rec(1, "1.5", key="b"), rec(2, 9, key="a")])
    assert r.lrange(f"{unique_name}-list", 0, -1) == [b"a", b"b", b"c"]  # once, in order
    assert r.smembers(f"{unique_name}-set") == {b"a", b"b", b"c"}
    assert r.zrange(f"{unique_name}-zset", 0, -1, withscores=True) == [(b"b", 1.5), (b"a", 9.0)]
    lt.put([rec(3, None, key="b")])
    sett.put([rec(3, None, key="a")])
    zt.put([rec(3, None, key="a")])
    assert r.lrange(f"{unique_name}-list", 0, -1) == [b"a", b"c"]
    assert r.smembers(f"{unique_name}-set") == {b"b", b"c"}
    assert r.zrange(f"{unique_name}-zset", 0, -1) == [b"b"]


def test_poison_records_take_the_error_path(h: Harness, r: Any, unique_name: str) -> None:
    h.task("HASH", **{"redis.multi.exec": "true"}).put(
        [rec(0, "not a map", key="k"), rec(1, {"ok": "yes"}), rec(2, {"ok": "yes"}, key="k2")])
    h.task("ZSET").put([rec(3, "high", key="m")])
    assert [(e[0].kafka_offset, type(e[1]).__name__) for e in h.errant] == [
        (0, "DataException"), (1, "DataException"), (3, "DataException")]
    assert "needs a map or struct value" in str(h.errant[0][1])
    assert "has no key" in str(h.errant[1][1]) and "numeric value as the score" in str(h.errant[2][1])
    assert r.hgetall(f"{unique_name}:k2") == {b"ok": b"yes"}  # the good record of the batch is written


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_app(f"sqlite:///{tmp_path / 'state.db'}", monkeypatch)


@pytest.mark.broker
def test_stream_through_the_sink_handler_redelivered_event(app: ModuleType, redis_url: str, r: Any,
                                                          kafka_broker: str, unique_name: str) -> None:
    app.handler.store.create_connector(unique_name, {
        "name": unique_name, "connector.class": "RedisSink", "topics": "orders", "redis.uri": redis_url,
        "redis.keyspace": unique_name, "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false"})
    event = {**event_for("orders", kafka_broker, range(50)), "connector": unique_name}
    for _ in range(3):
        assert app.lambda_handler(event, Context()) == {"batchItemFailures": []}
    entries = stream(r, unique_name)
    assert [int(f[b"id"]) for f in entries] == list(range(50))
    assert entries[1] == {b"id": b"1", b"name": b"customer-00001", b"amount": b"1.25", b"vip": b"false"}


def test_server_going_away_mid_batch_is_retriable(h: Harness, r: Any, redis_url: str, tcp_proxy: Any,
                                                  unique_name: str) -> None:
    import urllib.parse

    parts = urllib.parse.urlsplit(redis_url)
    proxy: TcpProxy = tcp_proxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    task = Harness(f"redis://127.0.0.1:{proxy.port}/0", unique_name).task("STREAM", **{"redis.timeout.ms": "2000"})
    task.put([rec(0, {"n": 0})])
    proxy.cut()
    with pytest.raises(RetriableException, match="went away mid-batch"):
        task.put([rec(1, {"n": 1}), rec(2, {"n": 2})])
    proxy.restore()
    task.put([rec(1, {"n": 1}), rec(2, {"n": 2})])  # the redelivered batch
    task.put([rec(1, {"n": 1}), rec(2, {"n": 2})])  # and once more: still one copy
    assert [int(f[b"n"]) for f in stream(r, unique_name)] == [0, 1, 2]


def test_wrong_credentials_and_tls(tmp_path: Path, certificates: Certificates) -> None:
    (tmp_path / "auth").mkdir()
    with own_redis(tmp_path / "auth", password="s3cret") as server:
        url = f"redis://127.0.0.1:{server.port}/0"
        with pytest.raises(ConnectException, match="refused the credentials"):
            Harness(url, "k").task("STRING", **{"redis.password": "wrong"}).put([rec(0, "v", key="a")])
        Harness(url, "k").task("STRING", **{"redis.password": "s3cret"}).put([rec(0, "v", key="a")])
    (tmp_path / "tls").mkdir()
    with own_redis(tmp_path / "tls", certificates=certificates) as server:
        url = f"rediss://127.0.0.1:{server.port}/0"
        Harness(url, "k").task("STRING", **{"redis.cacert": str(certificates.ca)}).put([rec(0, "sealed", key="a")])
        import redis

        check = redis.Redis.from_url(url, ssl_ca_certs=str(certificates.ca))
        assert check.get("k:a") == b"sealed"
        check.close()
        with pytest.raises(RetriableException, match="certificate verify failed"):
            Harness(url, "k").task("STRING", **{"redis.cacert": str(certificates.other_ca)}).put(
                [rec(1, "x", key="b")])
