"""The source runtime's batch path against its per-record path, on random polls (issue 17).

Each case runs the same scripted source task twice through ``SourceWorker`` — ``batch=True``
(``_send_batch``, the converters' batch writers) and ``batch=False`` (``_send``, record by
record) — against the producer twin, and requires the same Kafka log (topic, key, value,
headers, partition, timestamp, in order), the same counters, outcome, committed offsets and
active topics. Records are random: several topics and source partitions (and none), null and
text keys, Struct values of shared and of equal-but-distinct schema objects, schemaless maps,
text, tombstones, headers, Kafka partitions and timestamps, values the JSON converter refuses;
chains with SMTs, predicates and a failing transform; tolerance all and none; exactly-once.
Delivery failures that fail the task are the one designed difference: the batch path may
commit less (never more) — checked separately.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from lambda_connect.api import ConfigDef, ConfigKey, ConfigType, SourceConnector, SourceRecord, SourceTask, Task
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA, STRING_SCHEMA, UTC, Schema, Struct, Timestamp, Type
from lambda_connect.api.records import Header, Headers
from lambda_connect.plugins import BUILTINS
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.source_worker import SourceWorker
from lambda_connect.state.memory import InMemoryStateStore

from tests.unit.runtime.test_source_worker_twins import FakeCluster

P = "com.example.batch."
BUDGET_MS = 60_000
#: Scripts by name: a list of polls, each a list of records (module-level so tasks find them).
SCRIPTS: dict[str, list[list[SourceRecord]]] = {}


class ScriptedSourceTask(SourceTask):
    """Returns the polls of ``SCRIPTS[script]`` in order, then nothing (no ``commit_record``)."""

    def start(self, props: Mapping[str, str]) -> None:
        self.polls = iter(SCRIPTS[props["script"]])

    def poll(self) -> list[SourceRecord] | None:
        return next(self.polls, None)

    def stop(self) -> None:
        pass


#: ``commit_record`` calls of the notifying task, by script: (position in the script, metadata given).
COMMITS: dict[str, list[tuple[int, bool]]] = {}


class NotifyingScriptedSourceTask(ScriptedSourceTask):
    """The same, with ``commit_record`` (the per-record delivery reports of the batch path)."""

    def start(self, props: Mapping[str, str]) -> None:
        super().start(props)
        self.script = props["script"]
        self.positions = {id(r): i for i, r in enumerate(r for poll in SCRIPTS[self.script] for r in poll)}

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        COMMITS.setdefault(self.script, []).append((self.positions[id(record)], metadata is not None))


class ScriptedSourceConnector(SourceConnector):
    name = P + "ScriptedSourceConnector"
    version = "1.0"
    config_def = ConfigDef(ConfigKey(name="script", type=ConfigType.STRING, doc="Script name."))

    @classmethod
    def task_class(cls) -> type[Task]:
        return ScriptedSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]

    def exactly_once_support(self, props: Mapping[str, str]) -> bool | None:
        return True


class NotifyingScriptedSourceConnector(ScriptedSourceConnector):
    name = P + "NotifyingScriptedSourceConnector"

    @classmethod
    def task_class(cls) -> type[Task]:
        return NotifyingScriptedSourceTask


def registry() -> Registry:
    return Registry([*BUILTINS, (ScriptedSourceConnector.name, f"{__name__}:ScriptedSourceConnector"),
                     (NotifyingScriptedSourceConnector.name, f"{__name__}:NotifyingScriptedSourceConnector"),
                     ("com.example.Explode", "tests.unit.runtime.fakes:Explode"),
                     ("com.example.TopicIs", "tests.unit.runtime.fakes:TopicIs")])


# --- random records ----------------------------------------------------------------------------
ROW = Schema.struct([("id", Schema(Type.INT64)), ("name", Schema(Type.STRING)), ("qty", Schema(Type.INT32)),
                     ("price", Schema(Type.FLOAT64)), ("note", OPTIONAL_STRING_SCHEMA),
                     ("created", Timestamp.schema())], name="row")
ROW_TWIN = Schema.struct([(f.name, f.schema) for f in ROW.fields], name="row")  # equal, another object
INNER = Schema.struct([("a", Schema(Type.INT16)), ("b", OPTIONAL_STRING_SCHEMA)], name="inner", optional=True)
ENVELOPE = Schema.struct([("before", INNER), ("after", INNER), ("op", STRING_SCHEMA),
                          ("ts_ms", Schema(Type.INT64, optional=True))], name="envelope")
PARTITIONS = [{"table": "a"}, {"table": "b"}, {"table": "c"}]


def _row(rng: random.Random, n: int, schema: Schema) -> Struct:
    created = dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(milliseconds=rng.randrange(-10**9, 10**10))
    if rng.random() < 0.05:
        created = created.replace(tzinfo=None)  # naive: the converter's own rule applies
    qty: Any = rng.choice([n % 100, 2**31 - 1, -(2**31)])
    if rng.random() < 0.02:
        qty = 2**31  # out of INT32 range: JsonConverter refuses the record
    note = rng.choice([None, "x", "ünï", ""])
    values = [n, f"customer-{n}", qty, rng.choice([n * 0.25, float(n)]), note, created]
    if rng.random() < 0.02:
        values[1] = 17  # a number in a STRING field: refused
    return Struct.from_values(schema, values)


def _envelope(rng: random.Random, n: int) -> Struct:
    def inner() -> Struct | None:
        if rng.random() < 0.4:
            return None
        return Struct.from_values(INNER, [rng.choice([n % 30000, -5]), rng.choice([None, f"v{n}"])])

    return Struct.from_values(ENVELOPE, [inner(), inner(), rng.choice("cud"), rng.choice([None, n])])


def _record(rng: random.Random, n: int, shared: Mapping[str, Any]) -> SourceRecord:
    kind = rng.random()
    key_schema, key = None, None
    if rng.random() < 0.3:
        key_schema, key = OPTIONAL_STRING_SCHEMA, rng.choice([f"k{n}", None])
    if kind < 0.45:
        schema = ROW_TWIN if rng.random() < 0.05 else ROW
        value_schema, value = schema, _row(rng, n, schema)
    elif kind < 0.65:
        value_schema, value = ENVELOPE, _envelope(rng, n)
    elif kind < 0.75:
        value_schema, value = None, {"n": n, "s": "x" * (n % 5), "big": 2**70 if rng.random() < 0.1 else 1}
    elif kind < 0.85:
        value_schema, value = OPTIONAL_STRING_SCHEMA, rng.choice([f"text-{n}", None])
    elif kind < 0.9:
        value_schema, value = ROW, "not a struct"  # refused by the converter
    else:
        value_schema, value = None, None  # tombstone
    headers = shared["no_headers"]
    if rng.random() < 0.1:
        headers = Headers([Header("h", f"v{n}", OPTIONAL_STRING_SCHEMA)])
    partition = rng.choice([*PARTITIONS, None]) if rng.random() < 0.3 else shared["partition"]
    record = SourceRecord(partition, None if partition is None else {"n": n}, rng.choice(["t1", "t1", "t2"]),
                          rng.choice([None, None, None, 1]), key_schema, key, value_schema, value,
                          rng.choice([None, None, 1_700_000_000_000 + n]), headers)
    return record


def script(seed: int, polls: int = 4, size: int = 60) -> list[list[SourceRecord]]:
    rng = random.Random(seed)
    shared = {"no_headers": Headers(), "partition": PARTITIONS[0]}
    n = 0
    out = []
    for _ in range(polls):
        batch = []
        for _ in range(rng.randrange(1, size)):
            n += 1
            batch.append(_record(rng, n, shared))
        out.append(batch)
    return out


# --- running both paths ------------------------------------------------------------------------
CONVERTERS = {
    "json-off": {"value.converter": "org.apache.kafka.connect.json.JsonConverter",
                 "value.converter.schemas.enable": "false",
                 "key.converter": "org.apache.kafka.connect.storage.StringConverter"},
    "json-on": {"value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "key.converter": "org.apache.kafka.connect.json.JsonConverter"},
    "string": {"value.converter": "org.apache.kafka.connect.storage.StringConverter",
               "key.converter": "org.apache.kafka.connect.storage.StringConverter"},
}
CHAINS: dict[str, dict[str, str]] = {
    "none": {},
    "smts": {
        "transforms": "drop2,route,hdr",
        "transforms.drop2.type": "org.apache.kafka.connect.transforms.Filter",
        "transforms.drop2.predicate": "is2",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": "t(.*)", "transforms.route.replacement": "routed-$1",
        "transforms.hdr.type": "org.apache.kafka.connect.transforms.InsertHeader",
        "transforms.hdr.header": "via", "transforms.hdr.value.literal": "batch",
        "transforms.hdr.predicate": "is2", "transforms.hdr.negate": "true",
        "predicates": "is2", "predicates.is2.type": "com.example.TopicIs", "predicates.is2.topic": "t2",
    },
    "failing": {
        "transforms": "boom", "transforms.boom.type": "com.example.Explode", "transforms.boom.times": "1",
        "transforms.boom.predicate": "is2",
        "predicates": "is2", "predicates.is2.type": "com.example.TopicIs", "predicates.is2.topic": "t2",
    },
}


def run(seed: int, batch: bool, config: Mapping[str, str], fail: Any = None, polls: int = 4,
        notify: bool = False, **worker: Any) -> dict[str, Any]:
    name = f"s{seed}"
    SCRIPTS[name] = script(seed, polls)
    COMMITS.pop(name, None)
    connector_class = NotifyingScriptedSourceConnector if notify else ScriptedSourceConnector
    store, cluster = InMemoryStateStore(), FakeCluster()
    if fail is not None:
        cluster.fail = fail
    runner = SourceWorker(store, registry(), cluster.factory, sleep=lambda s: None, batch=batch, **worker)
    store.create_connector(name, {"name": name, "connector.class": connector_class.name, "script": name, **config})
    result = runner.run_task(name, 0, BUDGET_MS, "inv")
    logs = {t: [(m["key"], m["value"], m["headers"], m["partition"], m["timestamp"]) for m in ms]
            for t, ms in cluster.logs.items()}
    offsets = sorted((str(sorted(p.items())), o["n"]) for p, o in store.get_offsets(name))
    summary = result.to_dict()
    summary.pop("duration_ms")
    return {"result": summary, "logs": logs, "offsets": offsets, "commits": sorted(COMMITS.get(name, [])),
            "overrides": cluster.producers[0].overrides if cluster.producers else None}


def cases() -> Iterator[Any]:
    combos = ((c, ch, t, e, n) for c in CONVERTERS for ch in CHAINS for t in ("all", "none") for e in (False, True)
              for n in (False, True))
    for i, (conv, chain, tolerance, eos, notify) in enumerate(combos):
        yield pytest.param(i, conv, chain, tolerance, eos, notify,
                           id=f"{conv}-{chain}-{tolerance}-{'eos' if eos else 'alo'}{'-notify' if notify else ''}")


@pytest.mark.parametrize(("seed", "conv", "chain", "tolerance", "eos", "notify"), list(cases()))
def test_batch_path_equals_per_record_path(seed: int, conv: str, chain: str, tolerance: str, eos: bool,
                                           notify: bool) -> None:
    """Equal outcomes; a task with ``commit_record`` hears of the same records (the order in which
    skipped records are announced within one poll may differ: transforms run before converters)."""
    config = {**CONVERTERS[conv], **CHAINS[chain], "errors.tolerance": tolerance}
    if eos:
        config["exactly.once.support"] = "required"
    for s in range(seed * 10, seed * 10 + 3):
        fast, plain = run(s, True, config, notify=notify), run(s, False, config, notify=notify)
        if notify:
            assert fast["overrides"] == {}
        else:  # failures only, through one producer-wide callback
            assert fast["overrides"].pop("delivery.report.only.error") is True
            assert callable(fast["overrides"].pop("on_delivery")) and not fast["overrides"]
        assert plain["overrides"] == {}
        assert fast["commits"] == plain["commits"], f"seed {s}: commit_record calls differ"
        assert fast["logs"] == plain["logs"], f"seed {s}: Kafka logs differ"
        assert fast["result"] == plain["result"], f"seed {s}"
        assert fast["offsets"] == plain["offsets"], f"seed {s}"


def test_the_random_polls_exercise_every_outcome() -> None:
    """The cases above are not vacuous: tolerated runs skip records, intolerant ones fail, and
    both paths produce and commit."""
    config = {**CONVERTERS["json-off"], **CHAINS["smts"], "errors.tolerance": "all"}
    tolerant = run(3, True, config)["result"]
    assert tolerant["outcome"] == "completed"
    assert tolerant["records_produced"] > 30 and tolerant["records_failed"] > 0
    assert tolerant["records_filtered"] > 0 and tolerant["offsets_committed"] > 0
    commits = run(3, True, config, notify=True)["commits"]
    assert any(delivered for _, delivered in commits) and not all(delivered for _, delivered in commits)
    strict = run(3, True, {**config, "errors.tolerance": "none"})
    assert strict["result"]["outcome"] == "failed" and strict["result"]["records_produced"] > 0


def _fail_some(topic: str, value: bytes | None) -> str | None:
    return "Broker: Message size too large" if value is not None and value.endswith(b"7}") else None


@pytest.mark.parametrize("eos", [False, True], ids=["alo", "eos"])
def test_delivery_failures_tolerated_match_and_intolerant_commit_no_more(eos: bool) -> None:
    base = {**CONVERTERS["json-off"]}
    if eos:
        base["exactly.once.support"] = "required"
    for s in range(5):
        tolerant = {**base, "errors.tolerance": "all"}
        if not eos:  # a transaction never tolerates a failed delivery
            fast, plain = run(s, True, tolerant, _fail_some), run(s, False, tolerant, _fail_some)
            assert fast == {**plain, "overrides": fast["overrides"]}
            assert fast["result"]["records_failed"] > 0
        strict = {**base, "errors.tolerance": "none"}
        fast, plain = run(s, True, strict, _fail_some), run(s, False, strict, _fail_some)
        assert fast["logs"] == plain["logs"]
        assert fast["result"]["outcome"] == plain["result"]["outcome"] == "failed"
        committed_fast, committed_plain = dict(fast["offsets"]), dict(plain["offsets"])
        assert set(committed_fast) <= set(committed_plain)
        assert all(committed_fast[p] <= committed_plain[p] for p in committed_fast), (committed_fast, committed_plain)


def test_batch_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDA_CONNECT_SOURCE_BATCH", "off")
    store, cluster = InMemoryStateStore(), FakeCluster()
    assert not SourceWorker(store, registry(), cluster.factory).batch_enabled()
    monkeypatch.setenv("LAMBDA_CONNECT_SOURCE_BATCH", "on")
    assert SourceWorker(store, registry(), cluster.factory).batch_enabled()


class _Refusing(FakeCluster):
    """A twin whose producers refuse calls: every 7th with a full queue (accepted once retried)
    and values ending in ``3}`` outright (a record the client rejects)."""

    def factory(self, overrides: Mapping[str, Any], transactional_id: str | None) -> Any:
        producer = super().factory(overrides, transactional_id)
        produce, calls = producer.produce, [0]

        def refusing(topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None:
            calls[0] += 1
            if calls[0] % 7 == 0:
                raise BufferError("Local: Queue full")
            if value is not None and value.endswith(b"3}"):
                raise ValueError("Broker: Message size too large")
            produce(topic, value, key, **kwargs)

        producer.produce = refusing
        return producer


@pytest.mark.parametrize("tolerance", ["all", "none"])
def test_full_queue_and_refused_records_as_on_the_per_record_path(tolerance: str, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    monkeypatch.setattr(f"{__name__}.FakeCluster", _Refusing)
    config = {**CONVERTERS["json-off"], "errors.tolerance": tolerance}
    for s in range(4):
        fast, plain = run(s, True, config), run(s, False, config)
        assert fast["logs"] == plain["logs"] and fast["result"] == plain["result"]
        assert fast["offsets"] == plain["offsets"]
        if tolerance == "all":
            assert fast["result"]["records_failed"] > 0 and fast["result"]["outcome"] == "completed"


@pytest.mark.parametrize("tolerance", ["all", "none"])
def test_commits_while_polling_as_on_the_per_record_path(tolerance: str) -> None:
    """A commit at every poll (``commit_interval_s=0``): the batch path flushes and settles first."""
    config = {**CONVERTERS["json-off"], **CHAINS["smts"], "errors.tolerance": tolerance}
    for s in range(6):
        fast = run(s, True, config, commit_interval_s=0.0, polls=6)
        plain = run(s, False, config, commit_interval_s=0.0, polls=6)
        assert fast["logs"] == plain["logs"] and fast["result"] == plain["result"]
        assert fast["offsets"] == plain["offsets"]


class _Vanishing(FakeCluster):
    """A twin whose broker stops acknowledging anything after the producer's third ``poll``."""

    def factory(self, overrides: Mapping[str, Any], transactional_id: str | None) -> Any:
        producer = super().factory(overrides, transactional_id)
        deliver, polls = producer._deliver, [0]

        def poll(timeout: float = 0) -> int:
            polls[0] += 1
            return deliver() if polls[0] <= 3 else 0

        def flush(timeout: float | None = None) -> int:
            if polls[0] < 3:
                deliver()
            return len(producer.pending)

        producer.poll, producer.flush = poll, flush
        return producer


def test_what_was_settled_before_the_broker_vanished_is_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch path settles every ``settle_interval_s`` (here: every poll), so a broker lost later
    in the run still leaves the acknowledged prefix committed — no further than the per-record path."""
    monkeypatch.setattr(f"{__name__}.FakeCluster", _Vanishing)
    config = {**CONVERTERS["string"], "errors.tolerance": "all"}
    for s in range(3):
        fast = run(s, True, config, polls=8, settle_interval_s=0.0)
        plain = run(s, False, config, polls=8)
        assert fast["result"]["outcome"] == plain["result"]["outcome"] == "failed"
        assert "did not acknowledge" in (fast["result"]["error"] or "")
        committed_fast, committed_plain = dict(fast["offsets"]), dict(plain["offsets"])
        assert committed_fast, "nothing settled before the broker went away"
        assert all(committed_fast[p] <= committed_plain.get(p, -1) for p in committed_fast)
