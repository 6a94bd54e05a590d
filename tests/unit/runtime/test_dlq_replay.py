"""DLQ entries from ``__connect.errors.*`` headers, filters, listing and replay's each-record-once
bookkeeping, on an in-memory cluster (the Kafka side is tested in tests/integration/test_dlq_topic.py)."""

from __future__ import annotations

import pytest
from lambda_connect.api.errors import ConfigException, ConnectException
from lambda_connect.runtime.dlq_reader import ENTRY_KEYS, DlqMessage, entry_of, parse_filters, text_of
from lambda_connect.runtime.dlq_replay import REPLAY_HEADER, dlq_topic_of, list_entries, replay, replay_group

from .dlq_fakes import DictStorage, FakeCluster, context

DLQ = "dlq-orders"


def filled(n: int = 5, *, partitions: int = 1) -> FakeCluster:
    cluster = FakeCluster()
    for i in range(n):
        p = i % partitions
        cluster.add(DLQ, p, f"k{i}".encode(), f'{{"id": {i}}}'.encode(),
                    [("trace-id", f"t{i}".encode()), *context("orders", 2, 100 + i,
                                                               stage="VALUE_CONVERTER" if i == 3 else "TASK_PUT")],
                    timestamp=1000 + i)
    return cluster


def test_entry_decodes_context_headers_and_keeps_the_original_headers() -> None:
    message = DlqMessage(0, 7, b"k", b"\xff\x00", [("a", b"1"), *context("orders", 3, 42, message=None)], 5)
    entry = entry_of(message)
    assert (entry.topic, entry.partition, entry.offset, entry.stage) == ("orders", 3, 42, "TASK_PUT")
    assert entry.error_class == "org.postgresql.util.PSQLException" and entry.error_message is None
    assert entry.original_headers == [("a", b"1")]
    doc = entry.as_json()
    assert tuple(doc) == ENTRY_KEYS
    assert doc["value"] == "base64:/wA=" and doc["key"] == "k" and (doc["dlq_partition"], doc["dlq_offset"]) == (0, 7)


def test_entry_without_context_headers_has_no_origin() -> None:
    entry = entry_of(DlqMessage(0, 0, None, b"v"))
    assert (entry.topic, entry.partition, entry.offset, entry.stage) == (None, None, None, None)
    assert text_of(None) is None


def test_filters_exact_substring_and_bad_ones() -> None:
    entries = [entry_of(m) for m in filled().read(DLQ, {0: (0, 5)})]
    assert [e.offset for e in entries if parse_filters(["stage=VALUE_CONVERTER"])(e)] == [103]
    assert len([e for e in entries if parse_filters(["message~TRIGGER", "topic=orders"])(e)]) == 5
    assert [e.offset for e in entries if parse_filters(["key=k1"])(e)] == [101]
    with pytest.raises(ConfigException, match="colour=red"):
        parse_filters(["colour=red"])
    with pytest.raises(ConfigException, match="FIELD=VALUE"):
        parse_filters(["stage"])


def test_list_is_oldest_first_and_limit_keeps_the_newest() -> None:
    cluster = filled(6, partitions=2)
    listed = list_entries(cluster, DLQ)
    assert [e.offset for e in listed] == [100, 101, 102, 103, 104, 105]
    assert [e.offset for e in list_entries(cluster, DLQ, limit=2)] == [104, 105]
    assert [e.offset for e in list_entries(cluster, DLQ, limit=1, matches=parse_filters(["stage=TASK_PUT"]))] == [105]
    assert list_entries(cluster, "missing") == []


def test_replay_sends_each_record_once_with_original_key_value_headers_and_a_replay_header() -> None:
    cluster, storage = filled(), DictStorage()
    result = replay(cluster, "sink", DLQ, storage=storage)
    assert (result.replayed, result.already_replayed, result.skipped) == (5, 0, 0)
    first = cluster.produced[0]
    assert (first.topic, first.partition, first.key, first.value, first.timestamp) == ("orders", 2, b"k0",
                                                                                      b'{"id": 0}', 1000)
    assert first.headers == [("trace-id", b"t0"), (REPLAY_HEADER, f"{DLQ}/0/0".encode())]
    assert cluster.groups[(replay_group("sink"), DLQ)] == {0: 5}
    again = replay(cluster, "sink", DLQ, storage=storage)
    assert (again.replayed, again.already_replayed) == (0, 0) and len(cluster.produced) == 5
    cluster.add(DLQ, 0, b"late", b"v", context("orders", 0, 9))
    assert replay(cluster, "sink", DLQ, storage=storage).replayed == 1 and len(cluster.produced) == 6


def test_to_topic_and_no_partition_pinning_there() -> None:
    cluster = filled(2)
    replay(cluster, "sink", DLQ, storage=DictStorage(), to_topic="orders-retry")
    assert {(r.topic, r.partition) for r in cluster.produced} == {("orders-retry", None)}


def test_dry_run_counts_and_lists_but_produces_and_commits_nothing() -> None:
    cluster = filled(3)
    result = replay(cluster, "sink", DLQ, storage=DictStorage(), dry_run=True)
    assert result.replayed == 3 and len(result.as_json()["entries"]) == 3
    assert cluster.produced == [] and cluster.groups == {}


def test_a_failed_produce_commits_nothing_and_the_next_run_replays_all() -> None:
    cluster, storage = filled(4), DictStorage()
    cluster.fail_produce = True
    with pytest.raises(RuntimeError):
        replay(cluster, "sink", DLQ, storage=storage)
    assert cluster.groups == {}
    cluster.fail_produce = False
    assert replay(cluster, "sink", DLQ, storage=storage).replayed == 4 and len(cluster.produced) == 4


def test_chunks_commit_as_they_are_confirmed() -> None:
    cluster = filled(5)
    replay(cluster, "sink", DLQ, storage=DictStorage(), chunk=2)
    assert cluster.commits == 3 and cluster.groups[(replay_group("sink"), DLQ)] == {0: 5}


def test_filtered_replay_leaves_skipped_records_pending_and_never_repeats_the_others() -> None:
    cluster, storage = filled(5), DictStorage()
    first = replay(cluster, "sink", DLQ, storage=storage, matches=parse_filters(["stage=TASK_PUT"]))
    assert (first.replayed, first.skipped) == (4, 1)
    assert cluster.groups[(replay_group("sink"), DLQ)] == {0: 3}  # stops at the skipped record (DLQ offset 3)
    assert storage.data == {f"dlq-replay:{DLQ}:0": {"offsets": [4]}}
    second = replay(cluster, "sink", DLQ, storage=storage, matches=parse_filters(["stage=TASK_PUT"]))
    assert (second.replayed, second.skipped, second.already_replayed) == (0, 1, 1)
    rest = replay(cluster, "sink", DLQ, storage=storage)
    assert (rest.replayed, rest.already_replayed) == (1, 1)
    assert sorted(r.key for r in cluster.produced) == [b"k0", b"k1", b"k2", b"k3", b"k4"]
    assert cluster.groups[(replay_group("sink"), DLQ)] == {0: 5} and storage.data == {}


def test_a_record_without_context_needs_a_target_topic() -> None:
    cluster = FakeCluster()
    cluster.add(DLQ, 0, None, b"v")
    with pytest.raises(ConnectException, match="explicit target topic"):
        replay(cluster, "sink", DLQ, storage=DictStorage())
    assert replay(cluster, "sink", DLQ, storage=DictStorage(), to_topic="t").replayed == 1


def test_dlq_topic_of_names_the_key() -> None:
    assert dlq_topic_of("s", {"errors.deadletterqueue.topic.name": " dlq "}) == "dlq"
    with pytest.raises(ConfigException, match=r"errors\.deadletterqueue\.topic\.name"):
        dlq_topic_of("s", {})
