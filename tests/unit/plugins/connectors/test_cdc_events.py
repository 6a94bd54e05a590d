"""The CDC sources' event plumbing in ``cdc/common.py``: ``source_record`` builds what the
``SourceRecord`` constructor builds, and ``AckTracker`` releases a position only once every record
before it is acknowledged, whatever order acknowledgements come in."""

from __future__ import annotations

import random

from lambda_connect.api import Schema, SourceRecord, Struct, Type
from lambda_connect.plugins.connectors.cdc.common import AckTracker, source_record


def test_source_record_equals_the_constructor_slot_for_slot():
    key_schema = Schema.struct([("id", Schema(Type.INT64))], name="k")
    value_schema = Schema.struct([("v", Schema(Type.STRING, optional=True))], name="v")
    partition, offset = {"server": "s"}, {"lsn": 5, "txId": 7}
    for key_s, key, value_s, value in [(key_schema, Struct(key_schema, {"id": 1}), value_schema,
                                        Struct(value_schema, {"v": "x"})), (None, None, None, None),
                                       (key_schema, Struct(key_schema, {"id": 2}), None, None)]:
        made = source_record(partition, offset, "t", key_s, key, value_s, value)
        assert made == SourceRecord(partition, offset, "t", None, key_s, key, value_s, value)
        assert made.source_offset is offset and made.source_partition is partition  # taken, not copied
        assert made.headers is SourceRecord(partition, offset, "t").headers


def records(n: int) -> list[SourceRecord]:
    return [SourceRecord({"p": 1}, {"o": i}, "t") for i in range(n)]


def test_in_order_acknowledgements_release_each_point():
    tracker = AckTracker()
    first = records(3)
    tracker.submit(first)
    tracker.release_point(100)
    second = records(2)
    tracker.submit(second[:1])
    tracker.add(second[1])
    tracker.release_point(200)
    assert tracker.releasable() is None
    for r in first[:2]:
        tracker.acked(r)
    assert tracker.releasable() is None and not tracker.all_acked()
    tracker.acked(first[2])
    assert tracker.releasable() == 100
    for r in second:
        tracker.acked(r)
    assert tracker.releasable() == 200 and tracker.all_acked() and tracker.submitted == 5


def test_out_of_order_unknown_and_repeated_acknowledgements_never_release_early():
    rng = random.Random(3)
    for _ in range(200):
        tracker = AckTracker()
        batch = records(rng.randint(1, 30))
        points = sorted({*rng.sample(range(1, len(batch) + 1), rng.randint(1, len(batch))), len(batch)})
        submitted = 0
        for p in points:
            tracker.submit(batch[submitted:p])
            submitted = p
            tracker.release_point(p * 10)
        order = batch[:]
        rng.shuffle(order)
        stranger = SourceRecord({"p": 1}, {"o": -1}, "t")
        acked: set[int] = set()
        released = None
        for r in order:
            if rng.random() < 0.2:
                tracker.acked(stranger)  # a record never submitted changes nothing
            tracker.acked(r)
            if rng.random() < 0.2:
                tracker.acked(r)  # a repeated acknowledgement changes nothing either
            acked.add(id(r))
            prefix = 0
            while prefix < len(batch) and id(batch[prefix]) in acked:
                prefix += 1
            got = tracker.releasable()
            if got is not None:
                released = got
            expected = max((p * 10 for p in points if p <= prefix), default=None)
            assert released == expected
            assert tracker.done == prefix
        assert tracker.all_acked()
