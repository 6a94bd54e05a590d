"""Scenario 2 — poison records. 0.1 %, 1 % and 10 % of a batch are bad, in four kinds:

* undecodable bytes (the value converter fails, stage ``VALUE_CONVERTER``);
* the wrong schema (a text ``id`` for the table's integer column: the sink refuses it, ``TASK_PUT``);
* a transform failure (``Cast$Value`` of a non-numeric ``amount``, stage ``TRANSFORMATION``);
* rejected by the database (a CHECK constraint fails on insert, ``TASK_PUT``).

With ``errors.tolerance=all`` the DLQ must hold exactly the bad records, each with Kafka's
``__connect.errors.*`` headers naming its coordinates, stage and cause, and the target exactly
the good ones. With ``none`` nothing may be committed past the first bad record, and the error
names it.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from lambda_connect.runtime.errors import StageError
from lambda_connect.runtime.sink_worker import RecordFailedError

from .harness import (
    Context,
    EventRecord,
    JdbcTarget,
    Target,
    create_sink,
    dlq_coords,
    dlq_messages,
    headers_of,
    kafka_event,
    value_of,
)
from .ledger import Coord, Ledger

pytestmark = [pytest.mark.broker, pytest.mark.slow]

KINDS = ("undecodable", "wrong-schema", "transform", "rejected")
STAGE = {
    "undecodable": ("VALUE_CONVERTER", "org.apache.kafka.connect.json.JsonConverter"),
    "wrong-schema": ("TASK_PUT", "io.confluent.connect.jdbc.JdbcSinkConnector"),
    "transform": ("TRANSFORMATION", "org.apache.kafka.connect.transforms.Cast$Value"),
    "rejected": ("TASK_PUT", "io.confluent.connect.jdbc.JdbcSinkConnector"),
}
CAST = {"transforms": "cast", "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value",
        "transforms.cast.spec": "amount:float64"}
RECORDS_PER_PARTITION = 2000
PARTITIONS = 2
#: The servers get smaller batches: isolating a bad record replays the batch row by row, one
#: round trip (and commit) per row.
SERVER_RECORDS_PER_PARTITION = 400


def bad_value(kind: str, seq: int) -> bytes:
    if kind == "undecodable":
        return b"\xff\xfe{" + str(seq).encode()
    if kind == "wrong-schema":
        return value_of(seq, id=f"x-{seq}")
    if kind == "transform":
        return value_of(seq, amount="n/a")
    if kind == "rejected":
        return value_of(seq, amount=-1.0)  # CHECK (amount >= 0)
    raise ValueError(kind)


def create_table(target: JdbcTarget) -> None:
    """The target table, made by hand as a DBA would: typed columns and a CHECK the bad records break."""
    name = target.engine.dialect.name
    integer = "INTEGER" if name == "sqlite" else "BIGINT"
    text = "TEXT" if name == "sqlite" else "VARCHAR(200)"
    real = "REAL" if name == "sqlite" else "DOUBLE PRECISION"
    strict = " STRICT" if name == "sqlite" else ""  # SQLite checks column types only in STRICT tables
    target.execute(
        f"CREATE TABLE `{target.table}` (`id` {integer} NOT NULL, `name` {text} NOT NULL, "
        f"`amount` {real} NOT NULL CHECK (`amount` >= 0), `kt` {text} NOT NULL, `kp` {integer} NOT NULL, "
        f"`ko` {integer} NOT NULL){strict}"
    )


def batch(
    topic: str, rate: float, kinds: tuple[str, ...], ledger: Ledger, per_partition: int = RECORDS_PER_PARTITION
) -> tuple[list[EventRecord], dict[Coord, str]]:
    """``per_partition`` records on each partition; every ``1/rate``-th is bad, kinds in turn."""
    step = round(1 / rate)
    records: list[EventRecord] = []
    kind_of: dict[Coord, str] = {}
    n = 0
    for p in range(PARTITIONS):
        for o in range(per_partition):
            seq = p * per_partition + o
            if seq % step == step // 2:
                kind = kinds[n % len(kinds)]
                n += 1
                kind_of[ledger.add(topic, p, o, bad=True)] = kind
                records.append((topic, p, o, bad_value(kind, seq)))
            else:
                ledger.add(topic, p, o)
                records.append((topic, p, o, value_of(seq)))
    return records, kind_of


def assert_dlq_headers(messages: list, kind_of: dict[Coord, str], records: list[EventRecord], connector: str) -> None:
    by_coord = {(t, p, o): v for t, p, o, v in records}
    for message in messages:
        h = headers_of(message)
        coord = (h["__connect.errors.topic"].decode(), int(h["__connect.errors.partition"]),
                 int(h["__connect.errors.offset"]))
        stage, plugin = STAGE[kind_of[coord]]
        assert (h["__connect.errors.stage"].decode(), h["__connect.errors.class.name"].decode()) == (stage, plugin), \
            f"{coord} ({kind_of[coord]}): {h}"
        assert h["__connect.errors.connector.name"] == connector.encode()
        assert h["__connect.errors.task.id"] == b"0"
        assert h["__connect.errors.exception.class.name"], coord
        assert h["__connect.errors.exception.message"], coord
        assert h["src"] == b"reliability"  # the record's own headers travel with it
        assert message.value() == by_coord[coord] and message.key() == f"k{coord[2]}".encode()


POISON_CASES = [("sqlite", 0.001), ("sqlite", 0.01), ("sqlite", 0.1), ("postgres", 0.01), ("postgres", 0.1),
                ("mariadb", 0.01), ("mariadb", 0.1)]


@pytest.mark.parametrize(("target", "rate"), POISON_CASES, indirect=["target"],
                         ids=[f"{kind}-{rate:.1%}" for kind, rate in POISON_CASES])
def test_tolerance_all_dead_letters_exactly_the_bad_records(sink_app: ModuleType, target: Target, rate: float,
                                                            kafka_broker: str, unique_name: str) -> None:
    assert isinstance(target, JdbcTarget)
    create_table(target)
    topic, dlq = f"orders-{unique_name}", f"dlq-{unique_name}"
    create_sink(sink_app, unique_name, topic, target, **CAST, **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true",
    })
    ledger = Ledger()
    per_partition = RECORDS_PER_PARTITION if target.kind == "sqlite" else SERVER_RECORDS_PER_PARTITION
    records, kind_of = batch(topic, rate, KINDS, ledger, per_partition)
    response = sink_app.lambda_handler(kafka_event(records, kafka_broker, connector=unique_name), Context())
    assert response == {"batchItemFailures": []}
    messages = dlq_messages(kafka_broker, dlq, len(ledger.bad))
    ledger.assert_delivered(target.coords(), dlq_coords(messages), scenario=f"poison-all/{target.kind}/{rate:.1%}",
                            faults=len(ledger.bad))
    assert_dlq_headers(messages, kind_of, records, unique_name)


@pytest.mark.parametrize("target", ["s3", "file"], indirect=True)
def test_tolerance_all_on_sinks_without_a_schema(sink_app: ModuleType, target: Target, kafka_broker: str,
                                                 unique_name: str) -> None:
    """S3 and the file sink take any value; the converter and transform kinds still apply."""
    topic, dlq = f"orders-{unique_name}", f"dlq-{unique_name}"
    create_sink(sink_app, unique_name, topic, target, **CAST, **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true",
    })
    ledger = Ledger()
    records, kind_of = batch(topic, 0.01, ("undecodable", "transform"), ledger)
    sink_app.lambda_handler(kafka_event(records, kafka_broker, connector=unique_name), Context())
    messages = dlq_messages(kafka_broker, dlq, len(ledger.bad))
    ledger.assert_delivered(target.coords(), dlq_coords(messages), exactly_once=target.exactly_once,
                            scenario=f"poison-all/{target.kind}/1.0%", faults=len(ledger.bad))
    assert_dlq_headers(messages, kind_of, records, unique_name)


def first_bad(records: list[EventRecord], ledger: Ledger) -> Coord:
    return next((t, p, o) for t, p, o, _ in records if (t, p, o) in ledger.bad)


@pytest.mark.parametrize("partial", [False, True], ids=["whole-batch", "batch-item-failures"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", ["sqlite"], indirect=True)
def test_tolerance_none_commits_nothing_past_the_first_bad_record(
    sink_app: ModuleType, target: Target, kind: str, partial: bool, kafka_broker: str, unique_name: str
) -> None:
    assert isinstance(target, JdbcTarget)
    create_table(target)
    topic = f"orders-{unique_name}"
    extra = {"lambda.report.batch.item.failures": "true", "lambda.provisioned.pollers.min": "1"} if partial else {}
    create_sink(sink_app, unique_name, topic, target, **CAST, **extra)
    ledger = Ledger()
    records, _ = batch(topic, 0.01, (kind,), ledger)
    bad = first_bad(records, ledger)
    label = f"{bad[0]}-{bad[1]}@{bad[2]}"
    named = (f"{label} ", f"(topic={bad[0]}, partition={bad[1]}, offset={bad[2]})")
    before = {(t, p, o) for t, p, o, _ in records[:records.index(next(r for r in records if r[:3] == bad))]}
    try:
        response = sink_app.lambda_handler(kafka_event(records, kafka_broker, connector=unique_name), Context())
    except (RecordFailedError, StageError) as e:
        assert any(form in str(e) for form in named), f"the error does not name {label}: {e}"
        # Nothing is committed; a write of the records before the bad one is allowed (the
        # redelivery then finds them already written), of anything after it is not.
        held = target.coords()
        assert len(held) == len(set(held)) and set(held) <= before, (
            f"target holds {len(set(held) - before)} record(s) past the first bad record {label}")
    else:
        assert partial, "tolerance none without partial responses must fail the batch"
        failures = response["batchItemFailures"]
        resume = {(topic, p): RECORDS_PER_PARTITION for p in range(PARTITIONS)}
        for item in failures:
            slot, offset = item["itemIdentifier"]["partition"], item["itemIdentifier"]["offset"]
            t, _, p = slot.rpartition("-")
            resume[(t, int(p))] = offset
        assert resume[(bad[0], bad[1])] <= bad[2], f"committed past the first bad record {label}: {failures}"
        # The target holds exactly the committed prefix of each partition.
        committed = {c for c in ledger.good if c[2] < resume[(c[0], c[1])]}
        held = target.coords()
        assert len(held) == len(set(held)) and set(held) == committed, (
            f"target holds {len(held)} record(s), the committed prefix is {len(committed)}")
    status = sink_app.handler.store.get_task_statuses(unique_name)[0]
    assert status.state == "FAILED" and any(form in status.trace for form in named), status
