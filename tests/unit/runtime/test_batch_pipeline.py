"""``BatchPipeline`` must give, record for record, what the per-record path gives.

The generated loop (runtime/batch_pipeline.py) skips record objects for the common case and
sends everything else down ``BatchPipeline.one`` — the converters → chain → converters path a
worker takes. These tests feed both the same consumed records, with the edits in the native
engine and in generated Python, and require equal outcomes: equal bytes to produce, equal
drops, and errors with the same stage, plugin class and message.
"""

from __future__ import annotations

import gc
import json
import os
import random
import sys
from typing import Any

import pytest
from lambda_connect.api import plans
from lambda_connect.runtime import batch_pipeline
from lambda_connect.runtime.batch_pipeline import BatchPipeline, ConsumedTuple
from lambda_connect.runtime.chain import TransformChain
from lambda_connect.runtime.conversion import RecordConverters
from lambda_connect.runtime.errors import StageError

T = "org.apache.kafka.connect.transforms."
STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"
BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"

CHAIN = {
    "transforms": "insert,replace,cast,ts",
    "transforms.insert.type": T + "InsertField$Value",
    "transforms.insert.topic.field": "src_topic",
    "transforms.insert.offset.field": "src_offset",
    "transforms.insert.partition.field": "src_partition",
    "transforms.replace.type": T + "ReplaceField$Value",
    "transforms.replace.exclude": "debug",
    "transforms.replace.renames": "cust:customer_id",
    "transforms.cast.type": T + "Cast$Value",
    "transforms.cast.spec": "amount:float64,qty:int32",
    "transforms.ts.type": T + "TimestampConverter$Value",
    "transforms.ts.field": "created",
    "transforms.ts.target.type": "unix",
}
VALUE_JSON = {"value.converter": JSON, "value.converter.schemas.enable": "false"}
CONFIGS: dict[str, dict[str, str]] = {
    "string_keys": {"key.converter": STRING, **VALUE_JSON, **CHAIN},
    "bytes_keys": {"key.converter": BYTES, **VALUE_JSON, **CHAIN},
    "json_keys": {"key.converter": JSON, "key.converter.schemas.enable": "false", **VALUE_JSON, **CHAIN},
    "latin1_keys": {"key.converter": STRING, "key.converter.converter.encoding": "ISO-8859-1", **VALUE_JSON,
                    **CHAIN},
    "no_transforms": {"key.converter": STRING, **VALUE_JSON},
    "hand_written_source": {"key.converter": STRING, **VALUE_JSON, "transforms": "flat",
                            "transforms.flat.type": T + "Flatten$Value"},
    "predicate": {"key.converter": STRING, **VALUE_JSON, **CHAIN, "transforms.cast.predicate": "p",
                  "predicates": "p", "predicates.p.type": T + "predicates.TopicNameMatches",
                  "predicates.p.pattern": "orders"},
    "schemas_on": {"key.converter": STRING, "value.converter": JSON, **CHAIN},
}


@pytest.fixture(params=["native", "python"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "native" and not plans.native_available():
        pytest.skip("the native engine is not built (test_map_edits.py fails for this in CI)")
    monkeypatch.setenv(plans.NATIVE_SWITCH, "on" if request.param == "native" else "off")
    return str(request.param)


def build(config: dict[str, str]) -> BatchPipeline:
    return BatchPipeline(RecordConverters.from_config(config), TransformChain.from_config(config))


def comparable(outcome: Any) -> Any:
    if isinstance(outcome, StageError):
        return ("error", outcome.stage, outcome.plugin_class, outcome.message)
    if outcome is None:
        return None
    *produced, headers = outcome  # headers as any sequence of pairs (the paths use list and tuple)
    return (*produced, tuple(tuple(h) for h in headers))


def random_value(rng: random.Random) -> bytes | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.08:
        return rng.choice([b"", b"{not json", b"\xff\xfe", b"[1,2]", b'"text"', b"3", b"null", b"{\"a\":NaN}"])
    fields: dict[str, Any] = {"order_id": rng.randrange(10**6)}
    for name, choices in {
        "cust": ["c-1", "ключ", None, 5],
        "amount": ["12.50", "1e400", "x", 7, 2.5, "Infinity", " 3 ", None, True],
        "qty": ["3", "007", "99999999999", "-1", 3, 2**40, "٣", None, 1.5],
        "created": [1_732_521_600_000, "2024-01-01", 2**70, -5, None, 2.5],
        "debug": ["zz", {"nested": [1]}],
        "big": [2**64, 1],  # orjson refuses ints above 64 bits when writing
    }.items():
        if rng.random() < 0.85:
            fields[name] = rng.choice(choices)
    if rng.random() < 0.02:
        return json.dumps(fields).encode() + b" "  # trailing whitespace is still JSON
    try:
        return json.dumps(fields).encode()
    except ValueError:
        return b"{}"


def random_records(n: int, seed: str) -> list[ConsumedTuple]:
    rng = random.Random(seed)
    out: list[ConsumedTuple] = []
    for offset in range(n):
        key = rng.choice([b"k-1", None, "ключ".encode(), b"\xff\x00", b"", b'{"id":1}', b"{bad"])
        headers = [("h", b"v")] if rng.random() < 0.05 else []
        topic = rng.choice(["orders", "payments"])
        out.append((topic, rng.choice([0, 2]), offset, rng.choice([None, 1_700_000_000_000]), "CREATE_TIME", key,
                    random_value(rng), headers))
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_batch_outcomes_equal_the_per_record_path(name: str, engine: str) -> None:
    pipeline = build(CONFIGS[name])
    records = random_records(1500, f"batch-{name}")
    expected = [comparable(pipeline.one(record)) for record in records]
    got = [comparable(outcome) for outcome in pipeline.run(records)]
    assert len(got) == len(records)
    for record, want, have in zip(records, expected, got):
        assert have == want, f"record {record!r}"
    kinds = {"error" if isinstance(o, tuple) and o[0] == "error" else "ok" for o in got}
    assert kinds == {"ok", "error"}, kinds


def test_which_configs_take_the_generated_loop_and_the_engine(engine: str) -> None:
    compiled = {name: build(config).compiled for name, config in CONFIGS.items()}
    assert compiled == {name: name not in ("hand_written_source", "predicate", "schemas_on") for name in CONFIGS}
    assert build(CONFIGS["string_keys"]).native is (engine == "native")
    assert build(CONFIGS["no_transforms"]).native is (engine == "native")  # the C loop, with nothing to edit
    assert build(CONFIGS["hand_written_source"]).native is False


def test_the_bench_record_and_keys_as_they_come(engine: str) -> None:
    pipeline = build(CONFIGS["string_keys"])
    value = b'{"order_id":1,"cust":"c-1","amount":"12.50","qty":"3","created":1732521600000,"debug":"x"}'
    records = [("orders", 2, 42, 1000, "CREATE_TIME", key, value, []) for key in (b"k", None, "ключ".encode())]
    outcomes = list(pipeline.run(records))
    expected_value = (b'{"order_id":1,"amount":12.5,"qty":3,"created":1732521600000,"src_topic":"orders",'
                      b'"src_partition":2,"src_offset":42,"customer_id":"c-1"}')
    assert outcomes == [("orders", 2, 1000, key, expected_value, ()) for key in (b"k", None, "ключ".encode())]


def test_a_bad_record_in_the_middle_costs_only_itself(engine: str) -> None:
    pipeline = build(CONFIGS["string_keys"])
    good = b'{"qty":"1","created":5}'
    records = [("orders", 0, i, None, "CREATE_TIME", None, b'{"qty":"x"}' if i == 1 else good, []) for i in range(3)]
    first, bad, last = pipeline.run(records)
    assert isinstance(bad, StageError)
    assert (bad.plugin_class, bad.message) == (T + "Cast$Value", "Value (x) was out of range for requested data type")
    for outcome, offset in ((first, 0), (last, 2)):
        assert outcome[:4] == ("orders", 0, None, None) and outcome[5] == ()  # type: ignore[index]
        assert json.loads(outcome[4]) == {"qty": 1, "created": 5, "amount": None, "src_topic": "orders",  # type: ignore[index]
                                          "src_offset": offset, "src_partition": 0}


def test_undecodable_key_bytes_fail_in_the_key_converter(engine: str) -> None:
    pipeline = build(CONFIGS["string_keys"])
    (outcome,) = pipeline.run([("orders", 0, 0, None, "CREATE_TIME", b"\xff", b'{"qty":"1"}', [])])
    assert isinstance(outcome, StageError)
    assert outcome.stage.name == "KEY_CONVERTER"


# --- the C loop's own contract ------------------------------------------------------------------

@pytest.fixture
def batch_run() -> Any:
    try:
        from lambda_connect.runtime._batch_loop import BatchRun
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("lambda_connect.runtime._batch_loop is not built (CI=true: the build is required)")
        pytest.skip("lambda_connect.runtime._batch_loop is not built (no C compiler at install?)")
    return BatchRun


def loop_args(**over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"read": json.loads, "write": lambda v: json.dumps(v).encode(), "write_args": (),
                            "write_kwargs": None, "plan": None, "key_same": None,
                            "key_roundtrip": lambda topic, key: key, "slow": lambda item: "slow",
                            "no_headers": (), "maps_only": True}
    return args | over


def record(value: bytes | None, headers: Any = (), key: bytes | None = b"k") -> ConsumedTuple:
    return ("t", 0, 1, 2, "CREATE_TIME", key, value, headers)


def test_c_loop_takes_maps_and_sends_the_rest_down_the_slow_path(batch_run: Any) -> None:
    out = list(batch_run([record(b'{"a":1}'), record(b"[1]"), record(b"{bad"), record(b'{"a":2}', [("h", b"v")])],
                         **loop_args()))
    assert out == [("t", 0, 2, b"k", b'{"a": 1}', ()), "slow", "slow", "slow"]
    out = list(batch_run([record(b"[1]"), record(b"null")], **loop_args(maps_only=False)))
    assert out == [("t", 0, 2, b"k", b"[1]", ()), "slow"]


def test_c_loop_passes_write_arguments_and_checks_keys(batch_run: Any) -> None:
    calls: list[Any] = []

    def write(value: Any, *args: Any, **kwargs: Any) -> bytes:
        calls.append((args, kwargs))
        return b"w"

    list(batch_run([record(b"{}")], **loop_args(write=write, write_args=(1, 2, 3))))
    list(batch_run([record(b"{}")], **loop_args(write=write, write_kwargs={"option": 4})))
    assert calls == [((1, 2, 3), {}), ((), {"option": 4})]
    with pytest.raises(ValueError, match="at most 3"):
        batch_run([], **loop_args(write_args=(1, 2, 3, 4)))
    keys = [b"same", b"other", None]
    out = list(batch_run([record(b"{}", key=k) for k in keys],
                         **loop_args(key_same=lambda k: k == b"same", key_roundtrip=lambda t, k: b"converted")))
    assert [o[3] for o in out] == [b"same", b"converted", None]  # null keys are kept with a check
    out = list(batch_run([record(b"{}", key=None)], **loop_args(key_roundtrip=lambda t, k: b"converted")))
    assert out[0][3] == b"converted"  # without a check every key is converted


def test_c_loop_ends_like_a_generator_on_errors_outside_the_try(batch_run: Any) -> None:
    def slow(item: Any) -> Any:
        raise RuntimeError("plugin bug")

    run = batch_run([record(b"{bad"), record(b"{}")], **loop_args(slow=slow))
    with pytest.raises(RuntimeError, match="plugin bug"):
        next(run)
    assert list(run) == []
    run = batch_run([("short",), record(b"{}")], **loop_args())
    with pytest.raises(ValueError, match="a consumed record is an 8-tuple"):
        next(run)
    assert list(run) == []

    def interrupted(raw: bytes) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # not an Exception: not a bad record either
        next(batch_run([record(b"{}")], **loop_args(read=interrupted)))


def test_c_loop_refuses_bad_arguments(batch_run: Any) -> None:
    with pytest.raises(TypeError, match="must be callable"):
        batch_run([], **loop_args(read=None))
    with pytest.raises(TypeError, match="callable or None"):
        batch_run([], **loop_args(plan=5))
    with pytest.raises(TypeError, match="write_kwargs must be a dict"):
        batch_run([], **loop_args(write_kwargs=[("a", 1)]))
    with pytest.raises(TypeError):
        batch_run(5, **loop_args())


def test_c_loop_leaks_no_references(batch_run: Any) -> None:
    pipeline = build(CONFIGS["string_keys"])
    records = random_records(300, "leaks")
    watched = [r for r in records] + [r[6] for r in records if r[6] is not None]
    list(pipeline.run(records))
    gc.collect()
    before = [sys.getrefcount(o) for o in watched]
    for _ in range(20):
        list(pipeline.run(records))
    gc.collect()
    assert [sys.getrefcount(o) for o in watched] == before


def test_keyword_writers_become_positional_where_the_signature_allows() -> None:
    import orjson

    def keyword_only(value: Any, *, option: int = 0) -> bytes:
        return b""

    def required(value: Any, sep: str, option: int = 0) -> bytes:
        return b""

    assert batch_pipeline._as_positional(orjson.dumps, {"option": 3}) == (None, 3)
    assert batch_pipeline._as_positional(orjson.dumps, {"option": 3, "default": str}) == (str, 3)
    assert batch_pipeline._as_positional(orjson.dumps, None) == ()
    assert batch_pipeline._as_positional(keyword_only, {"option": 1}) is None
    assert batch_pipeline._as_positional(required, {"option": 1}) is None
    assert batch_pipeline._as_positional(orjson.dumps, {"unknown": 1}) is None
