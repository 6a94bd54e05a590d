"""The columnar hand-over (``SourceTask.poll_columns``, ``api.columns``) against the per-record path.

The random polls of ``test_source_batch`` are handed over by a task that cuts each poll into
``ColumnarRecords`` runs (consecutive records of one topic, source partition, Kafka partition and
schema objects, without headers; Struct values as ``StructColumn`` with nested struct columns and
``present`` masks, keys and timestamps as columns or None) and leaves the other records as they
are. Through ``SourceWorker`` the columnar path must give what the per-record path (``poll()``,
record by record) gives — Kafka log, counters, outcome, committed offsets — across converters,
chains (which turn the columnar path off), tolerance and exactly-once; and ``records()`` of every
run must be the very records it was cut from.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from typing import Any

import pytest
from lambda_connect.api import ColumnarRecords, SourceRecord, Struct, StructColumn, Task, Type
from lambda_connect.api.errors import ConnectException
from lambda_connect.plugins import BUILTINS
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.source_batch import BatchSerializer
from lambda_connect.runtime.source_worker import SourceWorker
from lambda_connect.state.memory import InMemoryStateStore

from tests.unit.runtime.test_source_batch import (
    CHAINS,
    CONVERTERS,
    ROW,
    SCRIPTS,
    ScriptedSourceConnector,
    ScriptedSourceTask,
    script,
)
from tests.unit.runtime.test_source_worker_twins import FakeCluster

BUDGET_MS = 60_000


def _struct_column(rng: random.Random, schema: Any, values: list[Any]) -> StructColumn | None:
    """``values`` (Structs of ``schema`` or None) as a StructColumn, nested struct fields as
    StructColumns where their values allow; None when some value is not such a Struct."""
    if not all(v is None or (type(v) is Struct and v.schema is schema) for v in values):
        return None
    held = [v for v in values if v is not None]
    present = None if len(held) == len(values) else [v is not None for v in values]
    columns: list[Any] = []
    for i, field in enumerate(schema.fields):
        col = [s._values[i] for s in held]
        nested = _struct_column(rng, field.schema, col) if field.schema.type is Type.STRUCT and rng.random() < 0.7 \
            else None
        columns.append(nested if nested is not None else col)
    return StructColumn(schema, columns, present, length=len(held))


def _signature(record: SourceRecord) -> Any:
    if record.headers:
        return ("headers", id(record))  # alone: records with headers are handed over as they are
    return (record.topic, str(record.source_partition), record.kafka_partition, id(record.key_schema),
            id(record.value_schema))


def to_columns(poll: list[SourceRecord], rng: random.Random) -> list[Any]:
    """One poll as ``poll_columns`` hands it over (module docstring)."""
    out: list[Any] = []
    for sig, group in itertools.groupby(poll, key=_signature):
        records = list(group)
        if sig[0] == "headers" or rng.random() < 0.1:
            out.extend(records)
            continue
        first = records[0]
        values: Any = [r.value for r in records]
        if first.value_schema is not None and first.value_schema.type is Type.STRUCT:
            values = _struct_column(rng, first.value_schema, values) or values
        keys: Any = [r.key for r in records]
        if all(k is None for k in keys) and rng.random() < 0.7:
            keys = None
        elif first.key_schema is not None and first.key_schema.type is Type.STRUCT:
            keys = _struct_column(rng, first.key_schema, keys) or keys
        stamps = [r.timestamp for r in records]
        out.append(ColumnarRecords(
            first.topic, first.source_partition, [r.source_offset for r in records], first.value_schema, values,
            key_schema=first.key_schema, keys=keys, kafka_partition=first.kafka_partition,
            timestamps=None if all(t is None for t in stamps) and rng.random() < 0.7 else stamps))
    return out


def flatten(items: list[Any]) -> list[SourceRecord]:
    return [r for item in items for r in (item.records() if isinstance(item, ColumnarRecords) else [item])]


#: Columnar polls by script name, built when the task starts.
COLUMNS: dict[str, list[list[Any]]] = {}
#: How many times ``poll`` and ``poll_columns`` were called, by script.
CALLS: dict[str, list[str]] = {}


class ColumnarScriptedSourceTask(ScriptedSourceTask):
    """``ScriptedSourceTask`` with ``poll_columns`` handing over the same polls by column."""

    def start(self, props: Mapping[str, str]) -> None:
        super().start(props)
        self.name = props["script"]
        self.columnar = iter(COLUMNS[self.name])
        self.plain = self.polls

    def poll(self) -> list[SourceRecord] | None:
        CALLS.setdefault(self.name, []).append("poll")
        next(self.columnar, None)  # both stay at the same poll
        return next(self.plain, None)

    def poll_columns(self) -> list[Any] | None:
        CALLS.setdefault(self.name, []).append("poll_columns")
        next(self.plain, None)
        return next(self.columnar, None)


class ColumnarScriptedSourceConnector(ScriptedSourceConnector):
    name = "com.example.batch.ColumnarScriptedSourceConnector"

    @classmethod
    def task_class(cls) -> type[Task]:
        return ColumnarScriptedSourceTask


def registry() -> Registry:
    return Registry([*BUILTINS, (ColumnarScriptedSourceConnector.name, f"{__name__}:ColumnarScriptedSourceConnector"),
                     ("com.example.Explode", "tests.unit.runtime.fakes:Explode"),
                     ("com.example.TopicIs", "tests.unit.runtime.fakes:TopicIs")])


def run(seed: int, config: Mapping[str, str], *, batch: bool, columns: bool = True, polls: int = 4,
        fail: Any = None, **worker: Any) -> dict[str, Any]:
    name = f"c{seed}-{batch}-{columns}"
    SCRIPTS[name] = script(seed, polls)
    rng = random.Random(seed)
    COLUMNS[name] = [to_columns(p, rng) for p in SCRIPTS[name]]
    CALLS.pop(name, None)
    store, cluster = InMemoryStateStore(), FakeCluster()
    if fail is not None:
        cluster.fail = fail
    runner = SourceWorker(store, registry(), cluster.factory, sleep=lambda s: None, batch=batch, columns=columns,
                          **worker)
    store.create_connector(name, {"name": name, "connector.class": ColumnarScriptedSourceConnector.name,
                                  "script": name, **config})
    result = runner.run_task(name, 0, BUDGET_MS, "inv")
    logs = {t: [(m["key"], m["value"], m["headers"], m["partition"], m["timestamp"]) for m in ms]
            for t, ms in cluster.logs.items()}
    offsets = sorted((str(sorted(p.items())), o["n"]) for p, o in store.get_offsets(name))
    summary = result.to_dict()
    summary.pop("duration_ms")
    summary["connector"] = "-"
    return {"result": summary, "logs": logs, "offsets": offsets, "calls": sorted(set(CALLS.get(name, [])))}


def test_runs_stand_for_exactly_the_records_they_were_cut_from() -> None:
    for seed in range(40):
        rng = random.Random(seed)
        for poll in script(seed, 4):
            items = to_columns(poll, rng)
            assert flatten(items) == poll
            assert len(flatten(items)) == sum(len(i) if isinstance(i, ColumnarRecords) else 1 for i in items)


def _cases() -> Any:
    for i, (conv, chain, tolerance, eos) in enumerate(
            itertools.product(CONVERTERS, CHAINS, ("all", "none"), (False, True))):
        yield pytest.param(i, conv, chain, tolerance, eos, id=f"{conv}-{chain}-{tolerance}-{'eos' if eos else 'alo'}")


@pytest.mark.parametrize(("seed", "conv", "chain", "tolerance", "eos"), list(_cases()))
def test_columnar_path_equals_per_record_path(seed: int, conv: str, chain: str, tolerance: str, eos: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = {**CONVERTERS[conv], **CHAINS[chain], "errors.tolerance": tolerance}
    if eos:
        config["exactly.once.support"] = "required"
    taken = [0]
    serialize_columns = BatchSerializer.serialize_columns

    def counted(self: BatchSerializer, run_: ColumnarRecords) -> Any:
        out = serialize_columns(self, run_)
        taken[0] += out is not None
        return out

    monkeypatch.setattr(BatchSerializer, "serialize_columns", counted)
    for s in range(seed * 10, seed * 10 + 3):
        fast = run(s, config, batch=True)
        records = run(s, config, batch=True, columns=False)
        plain = run(s, config, batch=False)
        assert fast["calls"] == (["poll"] if CHAINS[chain] else ["poll_columns"])
        assert records["calls"] == plain["calls"] == ["poll"]
        for other in (records, plain):
            assert fast["logs"] == other["logs"], f"seed {s}: Kafka logs differ"
            assert fast["result"] == other["result"], f"seed {s}"
            assert fast["offsets"] == other["offsets"], f"seed {s}"
    if not CHAINS[chain]:
        assert taken[0] > 0, "no run went the columnar way"


def _fail_some(topic: str, value: bytes | None) -> str | None:
    return "Broker: Message size too large" if value is not None and value.endswith(b"7}") else None


@pytest.mark.parametrize("eos", [False, True], ids=["alo", "eos"])
def test_delivery_failures_on_the_columnar_path(eos: bool) -> None:
    """Tolerated failed deliveries: equal outcomes; intolerant ones fail the task alike and commit
    no further than the per-record path (the producer-wide report cannot name the poll)."""
    base = {**CONVERTERS["json-off"]}
    if eos:
        base["exactly.once.support"] = "required"
    failed = 0
    for s in range(6):
        if not eos:
            tolerant = {**base, "errors.tolerance": "all"}
            fast, plain = run(s, tolerant, batch=True, fail=_fail_some), run(s, tolerant, batch=False, fail=_fail_some)
            assert fast["logs"] == plain["logs"] and fast["result"] == plain["result"]
            assert fast["offsets"] == plain["offsets"]
            failed += fast["result"]["records_failed"]
        strict = {**base, "errors.tolerance": "none"}
        fast, plain = run(s, strict, batch=True, fail=_fail_some), run(s, strict, batch=False, fail=_fail_some)
        assert fast["logs"] == plain["logs"]
        assert fast["result"]["outcome"] == plain["result"]["outcome"] == "failed"
        committed_fast, committed_plain = dict(fast["offsets"]), dict(plain["offsets"])
        assert set(committed_fast) <= set(committed_plain)
        assert all(committed_fast[p] <= committed_plain[p] for p in committed_fast)
    assert eos or failed > 0


@pytest.mark.parametrize("tolerance", ["all", "none"])
def test_commits_while_polling_on_the_columnar_path(tolerance: str) -> None:
    config = {**CONVERTERS["json-off"], "errors.tolerance": tolerance}
    for s in range(6):
        fast = run(s, config, batch=True, commit_interval_s=0.0, polls=6)
        plain = run(s, config, batch=False, commit_interval_s=0.0, polls=6)
        assert fast["logs"] == plain["logs"] and fast["result"] == plain["result"]
        assert fast["offsets"] == plain["offsets"]


def test_columns_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    store, cluster = InMemoryStateStore(), FakeCluster()
    monkeypatch.setenv("LAMBDA_CONNECT_SOURCE_COLUMNS", "off")
    assert not SourceWorker(store, registry(), cluster.factory).columns_enabled()
    monkeypatch.setenv("LAMBDA_CONNECT_SOURCE_COLUMNS", "on")
    assert SourceWorker(store, registry(), cluster.factory).columns_enabled()


def test_bad_runs_are_refused_with_what_is_wrong() -> None:
    with pytest.raises(ConnectException, match="2 values for 3 source offsets"):
        ColumnarRecords("t", {"p": 1}, [{"n": 1}, {"n": 2}, {"n": 3}], None, ["a", "b"])
    with pytest.raises(ConnectException, match="field name holds 1 value"):
        StructColumn(ROW, [[1, 2], ["a"], [1, 2], [0.5, 1.0], [None, None], [None, None]])
    with pytest.raises(ConnectException, match="1 column"):
        StructColumn(ROW, [[1]])
    with pytest.raises(ConnectException, match="not of the value schema"):
        other = StructColumn(ROW, [[1], ["a"], [1], [0.5], [None], [None]])
        ColumnarRecords("t", None, [None], None, other)
    with pytest.raises(ConnectException, match="needs a STRUCT schema"):
        StructColumn(ROW.fields[0].schema, [])


@pytest.mark.parametrize("tolerance", ["all", "none"])
def test_a_real_producer_reports_failures_to_the_producer_wide_callback(tolerance: str) -> None:
    """confluent-kafka calls the ``on_delivery`` of the producer config for messages produced
    without a callback (the batch path's one report channel): records no broker takes fail on
    ``message.timeout.ms`` and the run sees it as the per-record path does — tolerated (counted,
    offsets past them) or failing the task with nothing committed."""
    from lambda_connect.api.data import STRING_SCHEMA
    from lambda_connect.aws.kafka_clients import KafkaSettings, make_producer

    from tests.unit.runtime.test_source_batch import registry as batch_registry

    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")  # nothing listens there
    outcomes = []
    for batch in (True, False):
        name = f"nobroker-{tolerance}-{batch}"
        SCRIPTS[name] = [[SourceRecord({"p": 0}, {"n": n}, "t", None, None, None, STRING_SCHEMA, f"v{n}")
                          for n in range(p * 5, p * 5 + 5)] for p in range(2)]
        store = InMemoryStateStore()
        worker = SourceWorker(store, batch_registry(), lambda o, t: make_producer(settings, o, transactional_id=t),
                              sleep=lambda s: None, batch=batch)
        store.create_connector(name, {"name": name, "connector.class": ScriptedSourceConnector.name, "script": name,
                                      "errors.tolerance": tolerance, "producer.override.message.timeout.ms": "300",
                                      **CONVERTERS["string"]})
        result = worker.run_task(name, 0, 20_000, "inv").to_dict()
        outcomes.append((result["outcome"], result["records_produced"], result["records_failed"],
                         store.get_offsets(name)))
        if tolerance == "none":
            assert "timed out" in (result["error"] or ""), result["error"]
    assert outcomes[0] == outcomes[1]
    if tolerance == "all":
        assert outcomes[0] == ("completed", 0, 10, [({"p": 0}, {"n": 9})])
    else:
        assert outcomes[0][:3] == ("failed", 0, 0) and outcomes[0][3] == []


def test_heap_trim_setting(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from lambda_connect.runtime import source_batch

    monkeypatch.setattr(source_batch, "_trim_done", False)
    assert source_batch.keep_freed_heap({"LAMBDA_CONNECT_MALLOC_TRIM": "off"}) is False
    assert source_batch.keep_freed_heap({}) is False  # once per process: the first call decided
    monkeypatch.setattr(source_batch, "_trim_done", False)
    assert source_batch.keep_freed_heap({"LAMBDA_CONNECT_MALLOC_TRIM": "lots"}) is False
    assert "LAMBDA_CONNECT_MALLOC_TRIM='lots' is not a number of bytes" in caplog.text


def test_topics_are_created_on_the_columnar_path_as_on_the_per_record_path() -> None:
    """``topic.creation.*``: every topic a columnar run goes to is created before its first record,
    with its group's settings, once — the same calls, in the same order, as record by record."""
    config = {**CONVERTERS["json-off"], "errors.tolerance": "all",
              "topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "2",
              "topic.creation.groups": "two", "topic.creation.two.include": "t2",
              "topic.creation.two.cleanup.policy": "compact"}
    seen = []
    for batch in (True, False):
        created: list[tuple[str, int, int, dict[str, str]]] = []

        def factory(admin_overrides: Any, created: list[Any] = created) -> Any:
            def create(topic: str, partitions: int, rf: int, configs: Any) -> bool:
                created.append((topic, partitions, rf, dict(configs)))
                return True

            return create

        result = run(5, config, batch=batch, topic_creator_factory=factory)
        assert result["calls"] == (["poll_columns"] if batch else ["poll"])
        seen.append((created, result["logs"], result["offsets"]))
    assert seen[0] == seen[1]
    assert {c[0] for c in seen[0][0]} == {"t1", "t2"} and ("t2", 2, 1, {"cleanup.policy": "compact"}) in seen[0][0]


def test_the_producer_of_a_batch_run_is_freed_without_the_cycle_collector() -> None:
    """The producer-wide callback reaches the run through a weak reference: a finished run's
    producer (and its librdkafka threads) goes away by reference counting alone."""
    import gc
    import os

    from lambda_connect.api.data import STRING_SCHEMA
    from lambda_connect.aws.kafka_clients import KafkaSettings, make_producer

    from tests.unit.runtime.test_source_batch import registry as batch_registry

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    if not os.path.isdir("/proc/self/task"):
        pytest.skip("needs /proc to count threads")
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    name = "freed"
    SCRIPTS[name] = [[SourceRecord({"p": 0}, {"n": 1}, "t", None, None, None, STRING_SCHEMA, "v")]]
    store = InMemoryStateStore()
    worker = SourceWorker(store, batch_registry(), lambda o, t: make_producer(settings, o, transactional_id=t),
                          sleep=lambda s: None, batch=True, gc_tuning=False)
    store.create_connector(name, {"name": name, "connector.class": ScriptedSourceConnector.name, "script": name,
                                  "errors.tolerance": "all", "producer.override.message.timeout.ms": "200",
                                  **CONVERTERS["string"]})
    was = gc.isenabled()
    gc.disable()
    try:
        before = threads()
        result = worker.run_task(name, 0, 10_000, "inv")
        assert result.records_failed == 1
        assert threads() <= before, "the run's producer outlived it"
    finally:
        if was:
            gc.enable()
