"""Scenario 6 — malformed events into the sink handler, generated with hypothesis.

A good event (two partitions of a subscribed topic) gets one mutation: a field missing, a field
of the wrong type, bad base64, an oversized or lying header, a record filed under the wrong
``topic-partition`` key (another partition, a foreign or unsubscribed topic), a record copied
under a second spelling of its key, an event that is not an object. With ``errors.tolerance``
left at ``none``:

* a mutation that makes a record unreadable or misfiled fails the whole batch with an error of
  the runtime (never a bare ``TypeError``/``AttributeError``) that names the record, and nothing
  of the event is written;
* a harmless one (no headers, a null key, a big but honest header, a duplicate spelling) is
  written, each record once;
* either way the same warm container then writes the next good event exactly.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambda_connect.api.errors import ConnectException
from lambda_connect.aws.kafka_event import MalformedEventError

from .harness import Context, JdbcTarget, create_sink, kafka_event, load_app, value_of
from .ledger import Ledger

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TOPIC = "orders"
_EXAMPLES = itertools.count(1)  # each example gets fresh offsets
PER_PARTITION = 3

Mutation = Callable[[dict[str, Any], dict[str, Any]], None]  # (event, victim record) -> None
#: name -> (mutation, must the batch be refused?)
MUTATIONS: dict[str, tuple[Mutation, bool]] = {}


def mutation(name: str, refused: bool) -> Callable[[Mutation], Mutation]:
    def register(fn: Mutation) -> Mutation:
        MUTATIONS[name] = (fn, refused)
        return fn
    return register


for field in ("topic", "partition", "offset"):
    mutation(f"missing-{field}", True)(lambda e, r, f=field: r.pop(f))
    for bad in ("7", 1.5, None, [], {}, True):
        if field == "topic" and bad in ("7",):
            continue  # a text topic is a topic: misfiled, covered below
        mutation(f"{field}-as-{type(bad).__name__}", True)(lambda e, r, f=field, b=bad: r.__setitem__(f, b))
for field in ("key", "value"):
    for bad in ("!!not base64!!", "YWJ", "\u00e9t\u00e9", 12, ["a"], {"b": 1}):
        mutation(f"{field}-bad-{bad!r}"[:40], True)(lambda e, r, f=field, b=bad: r.__setitem__(f, b))
mutation("timestamp-as-text", True)(lambda e, r: r.__setitem__("timestamp", "yesterday"))
mutation("headers-not-a-list", True)(lambda e, r: r.__setitem__("headers", "h"))
mutation("header-value-int-20M", True)(lambda e, r: r.__setitem__("headers", [{"h": 20_000_000}]))
mutation("header-value-byte-out-of-range", True)(lambda e, r: r.__setitem__("headers", [{"h": [1, 999]}]))
mutation("negative-partition", True)(lambda e, r: r.__setitem__("partition", -3))
mutation("partition-beyond-int32", True)(lambda e, r: r.__setitem__("partition", 2**31))
mutation("negative-offset", True)(lambda e, r: r.__setitem__("offset", -1))
mutation("offset-2^63", True)(lambda e, r: r.__setitem__("offset", 2**63))


def _move(event: dict[str, Any], record: dict[str, Any], slot: str) -> None:
    for items in event["records"].values():
        if record in items:
            items.remove(record)
    event["records"].setdefault(slot, []).append(record)


mutation("under-other-partition-key", True)(lambda e, r: _move(e, r, f"{TOPIC}-{1 - r['partition']}"))
mutation("under-foreign-topic-key", True)(lambda e, r: _move(e, r, f"payments-{r['partition']}"))
mutation("record-names-unsubscribed-topic", True)(lambda e, r: r.__setitem__("topic", "payments"))
mutation("unsubscribed-topic-both", True)(
    lambda e, r: (r.__setitem__("topic", "payments"), _move(e, r, f"payments-{r['partition']}")))
mutation("records-not-an-object", True)(lambda e, r: e.__setitem__("records", [r]))
mutation("slot-not-a-list", True)(lambda e, r: e["records"].__setitem__(f"{TOPIC}-{r['partition']}", r))
mutation("no-headers", False)(lambda e, r: r.pop("headers"))
mutation("null-key", False)(lambda e, r: r.pop("key"))
mutation("big-honest-header", False)(lambda e, r: r.__setitem__("headers", [{"big": [65] * 65_536}]))
mutation("duplicate-under-zero-padded-key", False)(
    lambda e, r: e["records"].setdefault(f"{TOPIC}-0{r['partition']}", []).append(copy.deepcopy(r)))


@pytest.fixture
def warm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, JdbcTarget]:
    app = load_app("sink_task", {"LAMBDA_CONNECT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
                                 "LAMBDA_CONNECT_CONNECTOR": None, "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": None},
                   monkeypatch)
    target = JdbcTarget("sqlite", f"sqlite:///{tmp_path}/target.db", "events")
    create_sink(app, "malformed", TOPIC, target)
    return app, target


def good_records(base: int) -> list[tuple[str, int, int, bytes]]:
    return [(TOPIC, p, base + i, value_of(base + i)) for p in range(2) for i in range(PER_PARTITION)]


@settings(max_examples=80, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(MUTATIONS)), victim=st.integers(0, 2 * PER_PARTITION - 1))
def test_a_malformed_record_fails_the_batch_alone_and_cleanly(warm: tuple[ModuleType, JdbcTarget], name: str,
                                                              victim: int, kafka_broker: str) -> None:
    app, target = warm
    before = sorted(target.coords())
    base = 1_000 * next(_EXAMPLES)
    records = good_records(base)
    event = kafka_event(records, kafka_broker, connector="malformed")
    slot_records = [r for items in event["records"].values() for r in items]
    record = slot_records[victim]
    label = f"{record['topic']}-{record['partition']}@{record['offset']}"
    names = (f"@{record['offset']} ", f"{record['topic']}-{record['partition']}@", "field 'records")
    fn, refused = MUTATIONS[name]
    fn(event, record)
    try:
        app.lambda_handler(event, Context())
    except (ConnectException, MalformedEventError) as e:
        assert refused, f"{name}: a harmless change was refused: {e}"
        text = str(e)
        assert any(form in text for form in names), f"{name}: the error does not name {label}: {text[:300]}"
        assert sorted(target.coords()) == before, f"{name}: a refused batch was partly written"
    except Exception as e:  # anything else is not a clear error
        raise AssertionError(f"{name}: {type(e).__name__} escaped instead of a clear error: {e}") from e
    else:
        assert not refused, f"{name}: the malformed event was accepted"
        ledger = Ledger()
        for t, p, o, _ in records:
            ledger.add(t, p, o)
        new = [c for c in target.coords() if c not in set(before)]
        ledger.assert_delivered(new)
    # The warm container serves the next good event.
    following = good_records(base + 500)
    app.lambda_handler(kafka_event(following, kafka_broker, connector="malformed"), Context())
    ledger = Ledger()
    for t, p, o, _ in following:
        ledger.add(t, p, o)
    held = target.coords()
    ledger.assert_delivered([c for c in held if c[0] == TOPIC and base + 500 <= c[2] < base + 500 + PER_PARTITION])
