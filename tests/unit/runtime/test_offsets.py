"""Committed-offset reader and in-flight offset tracking of the source runtime."""

from __future__ import annotations

from lambda_connect.runtime.offsets import StoreOffsetReader, SubmittedOffsets, partition_id
from lambda_connect.state.memory import InMemoryStateStore


def test_reader_finds_offsets_whatever_the_key_order_of_the_partition():
    store = InMemoryStateStore()
    store.create_connector("c", {"name": "c", "connector.class": "X"})
    store.commit_offsets("c", [({"table": "t", "protocol": "1"}, {"incrementing": 42})])
    reader = StoreOffsetReader(store, "c")
    assert reader.offset({"protocol": "1", "table": "t"}) == {"incrementing": 42}
    assert reader.offset({"table": "other"}) is None
    found = reader.offsets([{"protocol": "1", "table": "t"}, {"table": "other"}])
    assert found == {partition_id({"table": "t", "protocol": "1"}): {"incrementing": 42},
                     partition_id({"table": "other"}): None}


def test_reader_is_a_snapshot_taken_at_start():
    store = InMemoryStateStore()
    store.create_connector("c", {"name": "c", "connector.class": "X"})
    reader = StoreOffsetReader(store, "c")
    store.commit_offsets("c", [({"f": 1}, {"position": 10})])
    assert reader.offset({"f": 1}) is None


def test_commit_stops_at_the_first_unconfirmed_record_of_each_partition():
    tracker = SubmittedOffsets()
    a = [tracker.submit({"p": "a"}, {"n": n}) for n in range(1, 5)]
    b = [tracker.submit({"p": "b"}, {"n": n}) for n in range(1, 3)]
    a[0].ack()
    a[2].ack()
    a[3].ack()
    b[1].ack()
    assert tracker.committable() == [({"p": "a"}, {"n": 1})]
    assert tracker.pending() == 2  # a2 and b1
    a[1].ack()
    b[0].ack()
    assert sorted(tracker.committable(), key=str) == [({"p": "a"}, {"n": 4}), ({"p": "b"}, {"n": 2})]
    assert tracker.committable() == [] and tracker.pending() == 0


def test_records_without_source_partition_never_produce_offsets():
    tracker = SubmittedOffsets()
    tracker.submit(None, None).ack()
    assert tracker.committable() == []


def test_ack_all_settles_everything_a_committed_transaction_held():
    tracker = SubmittedOffsets()
    for n in range(3):
        tracker.submit({"p": 0}, {"n": n})
    tracker.ack_all()
    assert tracker.committable() == [({"p": 0}, {"n": 2})]


def test_out_of_order_acks_and_repeated_acks_settle_like_in_order_ones():
    tracker = SubmittedOffsets()
    handles = [tracker.submit({"p": 0}, {"n": n}) for n in range(6)]
    for i in (5, 3, 3, 1):
        handles[i].ack()
    assert tracker.committable() == [] and tracker.pending() == 3
    handles[0].ack()
    assert tracker.committable() == [({"p": 0}, {"n": 1})]
    handles[2].ack()
    handles[2].ack()
    assert tracker.committable() == [({"p": 0}, {"n": 3})]
    handles[4].ack()
    handles[0].ack()  # an acknowledgement of an already committed record changes nothing
    assert tracker.committable() == [({"p": 0}, {"n": 5})] and tracker.pending() == 0


def test_equal_partitions_share_a_tracker_whatever_their_key_order():
    tracker = SubmittedOffsets()
    first = tracker.submit({"table": "t", "protocol": "1"}, {"incrementing": 1})
    tracker.submit({"other": 1}, {"n": 1})
    second = tracker.submit({"protocol": "1", "table": "t"}, {"incrementing": 2})
    second.ack()
    assert tracker.committable() == []  # record 1 of the same partition is still in flight
    first.ack()
    assert tracker.committable() == [({"table": "t", "protocol": "1"}, {"incrementing": 2})]
    assert tracker.unsettled_partitions() == [{"other": 1}]


def test_a_task_changing_its_partition_map_later_does_not_move_committed_offsets():
    tracker = SubmittedOffsets()
    partition = {"file": "a"}
    tracker.submit(partition, {"pos": 1}).ack()
    partition["file"] = "b"  # the task reuses its map for another partition
    tracker.submit(partition, {"pos": 7}).ack()
    assert sorted(tracker.committable(), key=str) == [({"file": "a"}, {"pos": 1}), ({"file": "b"}, {"pos": 7})]


def test_records_whose_offset_is_none_do_not_hide_the_last_real_offset():
    tracker = SubmittedOffsets()
    tracker.submit({"p": 0}, {"n": 1}).ack()
    tracker.submit({"p": 0}, None).ack()
    assert tracker.committable() == [({"p": 0}, {"n": 1})]


def test_reader_returns_what_this_run_committed_once_told():
    store = InMemoryStateStore()
    store.commit_offsets("c", [({"p": 1}, {"n": 1})])
    reader = StoreOffsetReader(store, "c")
    store.commit_offsets("c", [({"p": 1}, {"n": 2}), ({"p": 2}, {"n": 7})])
    assert reader.offset({"p": 1}) == {"n": 1}  # another writer's commit: still the snapshot
    committed = {"n": 3}
    reader.committed([({"p": 1}, committed), ({"p": 3}, {"n": 9})])
    committed["n"] = 4  # the reader keeps its own copy
    assert reader.offset({"p": 1}) == {"n": 3} and reader.offset({"p": 3}) == {"n": 9}
    assert reader.offset({"p": 2}) is None
    reader.committed([({"p": 3}, None)])
    assert reader.offset({"p": 3}) is None
