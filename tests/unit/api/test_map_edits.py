"""The native engine and the generated Python are one behaviour (api/map_edits.py, api/_map_edit.c).

Each builder in ``map_edits`` yields Python code (the specification) and ops for the C
engine. These tests run both on the same maps and require the same map afterwards — key
order included, also when an edit raised halfway — and the same exception type and
message. The maps mix the inputs each fast path takes with every input it must refuse
(signs, whitespace, Unicode digits, underscores, 19 digits, NaN and infinity text, lone
surrogates, subclasses of int/str/float, bools). The engine is built by ``pip install``; in
CI a missing build fails here instead of quietly benchmarking the Python path.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import os
import random
import sys
import tracemalloc
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from lambda_connect.api import map_edits, plans
from lambda_connect.api.map_edits import Fast, Op
from lambda_connect.api.plans import PlanSource, compile_plans, join, native_plan
from lambda_connect.plugins.transforms.cast import Cast
from lambda_connect.plugins.transforms.insert_field import InsertField
from lambda_connect.plugins.transforms.replace_field import ReplaceField
from lambda_connect.plugins.transforms.timestamp_converter import TimestampConverter

try:
    from lambda_connect.api import _map_edit
except ImportError:  # pragma: no cover - depends on the build
    _map_edit = None


@pytest.fixture(autouse=True)
def native_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    if _map_edit is None:
        message = "the native engine lambda_connect.api._map_edit is not built (no C compiler at install?)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the build is required)")
        pytest.skip(message)
    monkeypatch.delenv(plans.NATIVE_SWITCH, raising=False)


class Text(str):
    """A str subclass: no fast path may take it for a str."""


class Number(int):
    """An int subclass."""


class Real(float):
    """A float subclass."""


TRICKY_SCALARS: list[Any] = [
    None, True, False, 0, 7, -1, 127, 128, -129, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1,
    2**100, Number(5), 0.0, -0.0, 2.5, 1e300, float("inf"), float("-inf"), float("nan"), Real(1.5),
    "", "0", "7", "007", "42", "123456789012345678", "1234567890123456789", "9223372036854775808",
    "2147483647", "2147483648", "-5", "+5", " 5", "5 ", "\t5\n", "1e5", "1E-5", ".5", "5.", "1.5e", "e5", "1-2",
    "nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1e400", "-1e400", "1_0", "1__0", "0x1p3", "1d", "1.5f",
    "١٢٣", "٣", "\u00a05", "5\x00", "\x00", "\x1c5", "\ud800", "abc", "true", "TRUE", Text("12"), Text("1.5"),
    "2024-11-25 08:00:00.000", b"\x00\x01", bytearray(b"ab"), [1, "2"], {"nested": 1}, (1, 2),
    1_732_521_600_000, -62_135_596_800_000,
]
FIELD_NAMES = ("a", "b", "c", "x", "amount", "qty", "created", "ts", "cust", "debug", "origin", "p")


def smt(cls: type[Any], **props: str) -> Any:
    return cls(cls.config_def.parse(props))


def random_map(rng: random.Random) -> dict[str, Any]:
    names = rng.sample(FIELD_NAMES, rng.randrange(len(FIELD_NAMES) + 1))
    return {name: rng.choice(TRICKY_SCALARS) for name in names}


def outcome(plan: Callable[..., None], value: dict[str, Any], meta: tuple[Any, ...]) -> tuple[str, ...]:
    """What a run leaves: the map as items (order kept; repr so NaN equals NaN), and the error."""
    edited = dict(value)
    try:
        plan(edited, *meta)
    except Exception as e:
        return repr(list(edited.items())), type(e).__qualname__, str(e)
    return (repr(list(edited.items())),)


def assert_same(sources: list[PlanSource], rounds: int = 400, seed: str = "edits") -> dict[str, int]:
    python, native = compile_plans(sources, native=False), native_plan(sources)
    assert native is not None, "every source here has ops: the engine must take them"
    assert type(native).__name__ == "builtin_function_or_method"
    rng = random.Random(seed)
    seen = {"ok": 0, "error": 0}
    metas = [("orders", 3, 42, 1000), ("orders", None, None, None), ("t", 0, 0, -5)]
    for _ in range(rounds):
        value, meta = random_map(rng), rng.choice(metas)
        before = copy.deepcopy(value)
        expected, actual = outcome(python, value, meta), outcome(native, value, meta)
        assert actual == expected, f"input {before!r} meta {meta}"
        assert repr(value) == repr(before), "the input map is the caller's: run on a copy"
        seen["error" if len(expected) > 1 else "ok"] += 1
    return seen


# --- each builder --------------------------------------------------------------------------------

def test_insertions() -> None:
    sources = [map_edits.insert_topic("a"), map_edits.insert_partition("p"), map_edits.insert_timestamp("ts"),
               map_edits.insert_constant("origin", "bench"), map_edits.insert_offset("x", LookupError)]
    seen = assert_same(sources)
    assert seen["ok"] and seen["error"]  # records without an offset raise, halfway


def test_insertion_of_a_missing_offset_raises_the_given_exception_instance_or_class() -> None:
    for missing in (LookupError, LookupError("no offset here")):
        source = map_edits.insert_offset("o", missing)  # type: ignore[arg-type]
        native = native_plan([source])
        assert native is not None
        with pytest.raises(LookupError) as info:
            native({}, "t", 0, None, None)
        assert str(info.value) == str(missing() if isinstance(missing, type) else missing)


def test_drops_keeps_and_renames() -> None:
    assert_same([map_edits.drop_fields({"debug", "a", "zzz"})])
    assert_same([map_edits.keep_fields({"a", "b", "amount", "nothing"})])
    assert_same([map_edits.keep_fields(set())])
    assert_same([map_edits.rename_fields([("cust", "customer_id")])])
    assert_same([map_edits.rename_fields([("a", "b"), ("b", "c"), ("x", "amount")])])  # chains and collisions
    assert_same([map_edits.rename_fields([("a", "b"), ("a", "c")])])  # the same old name twice
    assert_same([map_edits.rename_fields([(f"f{i}", f"g{i}") for i in range(12)] + [("a", "x")])])  # > 8 pairs
    assert map_edits.rename_fields([]).code == ""


CAST_TARGETS = ["int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string"]


@pytest.mark.parametrize("target", CAST_TARGETS)
def test_cast_fields_with_kafkas_tables(target: str) -> None:
    source = smt(Cast.Value, spec=f"amount:{target},qty:{target},x:{target}").schemaless_source()
    assert source is not None and source.ops is not None
    seen = assert_same([source], rounds=600, seed=f"cast-{target}")
    assert seen["ok"] and seen["error"]


TIMESTAMP_CONFIGS = [
    {"target.type": "unix"},
    {"target.type": "unix", "unix.precision": "seconds"},
    {"target.type": "unix", "unix.precision": "microseconds"},
    {"target.type": "string", "format": "yyyy-MM-dd HH:mm:ss.SSS"},
    {"target.type": "Timestamp"},
    {"target.type": "Date"},
]


@pytest.mark.parametrize("config", TIMESTAMP_CONFIGS, ids=lambda c: "-".join(c.values()))
def test_timestamp_conversions(config: dict[str, str]) -> None:
    source = smt(TimestampConverter.Value, field="created", **config).schemaless_source()
    assert source is not None and source.ops is not None
    assert_same([source], rounds=600, seed=f"ts-{config}")


def test_convert_field_overflow_and_unsupported_factories() -> None:
    def grow(x: int) -> int:
        if x > 10**6:
            raise OverflowError("too big")
        return x * 2

    source = map_edits.convert_field("a", {int: grow, str: str.upper}, lambda x: TypeError(f"no {type(x).__name__}"),
                                     overflow=lambda x: ValueError(f"overflow for {x}"))
    seen = assert_same([source], rounds=600)
    assert seen["error"]
    python, native = compile_plans([source], native=False), native_plan([source])
    for value in ({"a": 10**7}, {"a": 2.5}, {"a": "s"}, {"a": None}, {}):
        assert outcome(native, value, ("t", 0, 0, 0)) == outcome(python, value, ("t", 0, 0, 0))  # type: ignore[arg-type]
    assert outcome(native, {"a": 10**7}, ("t", 0, 0, 0))[1:] == ("ValueError", "overflow for 10000000")  # type: ignore[arg-type]


def test_a_converter_that_mutates_the_map_or_returns_an_exception_class() -> None:
    """Converters are Python: the engine must hold its references across their calls."""
    table: dict[type, Callable[[Any], Any]] = {}

    def rude(x: Any) -> Any:
        table.clear()  # drops the engine's converter from the table mid-call
        return f"seen {x}"

    table[int] = rude
    source = map_edits.convert_field("a", table, lambda x: KeyError)  # a class, as `raise KeyError` allows
    native = native_plan([source])
    assert native is not None
    value: dict[str, Any] = {"a": 1}
    native(value, "t", 0, 0, 0)
    assert value == {"a": "seen 1"}
    with pytest.raises(KeyError):
        native({"a": 2}, "t", 0, 0, 0)


# --- whole chains ----------------------------------------------------------------------------------

def test_the_bench_chain_and_a_mixed_chain_run_the_same_natively() -> None:
    insert = smt(InsertField.Value, **{"topic.field": "a", "offset.field": "x", "partition.field": "p",
                                       "static.field": "origin", "static.value": "bench"})
    replace = smt(ReplaceField.Value, exclude="debug", renames="cust:c,c:b")
    keep = smt(ReplaceField.Value, include="a,b,amount,qty,created,x,p,origin")
    cast = smt(Cast.Value, spec="amount:float64,qty:int32,b:string")
    ts = smt(TimestampConverter.Value, field="created", **{"target.type": "unix", "unix.precision": "milliseconds"})
    sources = [t.schemaless_source() for t in (insert, replace, keep, cast, ts)]
    assert all(s is not None and s.ops is not None for s in sources)
    seen = assert_same(sources, rounds=3000, seed="chain")  # type: ignore[arg-type]
    assert seen["ok"] > 100 and seen["error"] > 100, seen


def test_the_bench_record() -> None:
    native = native_plan([smt(Cast.Value, spec="amount:float64,qty:int32").schemaless_source()])  # type: ignore[list-item]
    assert native is not None
    value = {"amount": "123.45", "qty": "7", "other": "x"}
    native(value, "orders", 0, 1, 2)
    assert value == {"amount": 123.45, "qty": 7, "other": "x"}
    assert type(value["amount"]) is float and type(value["qty"]) is int


# --- the contract between the two halves -----------------------------------------------------------

def test_op_codes_and_fast_flags_match_the_c_engine() -> None:
    assert {op.name: op.value for op in Op} == _map_edit.OPS
    assert {flag.name: flag.value for flag in Fast} == _map_edit.FAST


def test_join_keeps_ops_only_when_every_part_has_them() -> None:
    both = join([map_edits.insert_topic("a"), map_edits.drop_fields(["b"])])
    assert both.ops == ((Op.PUT_TOPIC, "a"), (Op.DROP, "b"))
    assert join([map_edits.insert_topic("a"), PlanSource("value['z'] = 1")]).ops is None
    assert join([]).ops == ()
    value = {"b": 1}
    compile_plans([both], native=False)(value, "orders", 0, 0, 0)
    assert value == {"a": "orders"}


def test_hand_written_sources_never_take_the_engine() -> None:
    assert native_plan([map_edits.insert_topic("a"), PlanSource("value['z'] = 1")]) is None
    plan = compile_plans([PlanSource("value['z'] = 1")])
    assert plan.__name__ == "plan"  # generated Python


def test_the_switch_turns_the_engine_off(monkeypatch: pytest.MonkeyPatch) -> None:
    sources = [map_edits.insert_topic("a")]
    assert plans.native_available() and native_plan(sources) is not None
    for off in ("off", "FALSE", " 0 ", "no"):
        monkeypatch.setenv(plans.NATIVE_SWITCH, off)
        assert not plans.native_available()
        assert native_plan(sources) is None
        assert compile_plans(sources).__name__ == "plan"
    monkeypatch.setenv(plans.NATIVE_SWITCH, "on")
    assert native_plan(sources) is not None


BAD_OPS = {
    "not_a_tuple": ([Op.DROP, "a"], "op 0: not a (code, field, ...) tuple"),
    "too_short": ((Op.DROP,), "op 0: not a (code, field, ...) tuple"),
    "unknown_code": ((99, "a"), "op 0: unknown op code"),
    "key_not_str": ((Op.DROP, 5), "op 0: the field name must be a str"),
    "offset_without_exception": ((Op.PUT_OFFSET, "o", "nope"), "op 0: PUT_OFFSET needs an exception to raise"),
    "keep_without_set": ((Op.KEEP, None, ["a"]), "op 0: KEEP needs a set or frozenset of names"),
    "rename_without_pairs": ((Op.RENAME, None, [("a", "b")]), "op 0: RENAME needs a tuple of (old, new) pairs"),
    "rename_bad_pair": ((Op.RENAME, None, (("a", "b", "c"),)), "op 0: RENAME pairs must be (old, new)"),
    "convert_without_table": ((Op.CONVERT, "a", [], None, str, None, 0, None, None), "op 0: CONVERT needs a dict"),
    "convert_without_parse": ((Op.CONVERT, "a", {}, None, str, None, int(Fast.DIGITS), 0, 9),
                              "op 0: DIGITS and DECIMAL_TEXT need a parse callable"),
    "convert_bad_overflow": ((Op.CONVERT, "a", {}, None, str, 5, 0, None, None), "op 0: CONVERT overflow must be"),
    "convert_bad_low": ((Op.CONVERT, "a", {}, None, str, None, int(Fast.INT_RANGE), 2**64, 9), None),
}


@pytest.mark.parametrize("name", sorted(BAD_OPS))
def test_malformed_ops_are_refused_when_built(name: str) -> None:
    op, message = BAD_OPS[name]
    with pytest.raises((ValueError, OverflowError, TypeError)) as info:
        _map_edit.MapEdit((op,))
    if message is not None:
        assert message in str(info.value)
    with pytest.raises(TypeError):
        _map_edit.MapEdit([op])  # a tuple of ops, not a list


def test_run_checks_its_arguments() -> None:
    run = _map_edit.MapEdit(((Op.PUT_TOPIC, "a"),)).run
    with pytest.raises(TypeError, match="takes 5 arguments, 2 given"):
        run({}, "t")
    with pytest.raises(TypeError, match="exactly a dict"):
        run([], "t", 0, 0, 0)

    class Mapping(dict):  # type: ignore[type-arg]
        pass

    with pytest.raises(TypeError, match="exactly a dict"):
        run(Mapping(), "t", 0, 0, 0)
    with pytest.raises(TypeError):
        _map_edit.MapEdit(ops=())


def test_no_reference_or_memory_leaks() -> None:
    """Every path (fast, table, error) run many times leaves reference counts and traced
    memory as they were: a refcount slip in C shows up here, not in production."""
    cast = smt(Cast.Value, spec="amount:float64,qty:int32,s:string,b:boolean")
    sources = [map_edits.insert_topic("t"), map_edits.insert_offset("o", LookupError),
               map_edits.insert_constant("k", "v"), map_edits.drop_fields(["debug"]),
               map_edits.rename_fields([("cust", "c"), ("c", "d")]), map_edits.keep_fields({"amount", "qty", "s", "b",
                                                                                         "t", "o", "k", "d"}),
               cast.schemaless_source()]
    native = native_plan(sources)  # type: ignore[arg-type]
    assert native is not None
    shared = ["123.45", "7", "99999999999", 1.5, "x", True, "1e999", "abc", "co", [1]]
    inputs = [{"amount": a, "qty": q, "s": s, "b": b, "debug": 1, "cust": "co", "zz": 0}
              for a in shared for q in shared for s in shared[:3] for b in shared[:2]]
    watched = [*shared, "t", "o", "k", "v", "debug", "cust", "c", "d", "orders"]

    def run_all() -> None:
        for value in inputs:
            with contextlib.suppress(Exception):  # errors are part of what is checked
                native(dict(value), "orders", 0, 5 if value["b"] is True else None, 0)

    run_all()
    gc.collect()
    counts = [sys.getrefcount(o) for o in watched]
    tracemalloc.start()
    try:
        run_all()
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(20):
            run_all()
        gc.collect()
        last, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(o) for o in watched] == counts
    assert last - first < 64 * 1024, f"traced memory grew by {last - first} bytes over {20 * len(inputs)} runs"


def test_an_engine_in_a_reference_cycle_is_collected() -> None:
    class Marker:
        engine: Any = None

    marker = Marker()
    alive = weakref.ref(marker)
    native = native_plan([map_edits.insert_constant("k", marker)])
    assert native is not None
    marker.engine = native  # engine -> marker -> engine
    del marker, native
    gc.collect()
    assert alive() is None
