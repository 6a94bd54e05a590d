"""Schemaless plans (api/plans.py): sources renamed apart, constants inlined, bad sources refused.

A plan is Python source that edits a map in place; ``compile_plans`` pastes several of them
into one function. These tests pin the compiler's promises: each source keeps its own
scratch variables and constants, literal constants become literals, forbidden constructs
and reads of unknown names are refused with a ValueError naming the problem, and
``run_plan`` hands a record's metadata to the plan.
"""

from __future__ import annotations

import ast
import dis
import re
import types
from typing import Any

import pytest
from lambda_connect.api.plans import PLAN_PARAMETERS, PlanSource, compile_plans, plan_body, run_plan
from lambda_connect.api.records import SinkRecord, SourceRecord


def global_names(code: types.CodeType) -> set[str]:
    """Names a compiled plan looks up outside its locals, nested code (comprehensions) included."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= global_names(const)
    return names


def run(sources: list[PlanSource], value: dict[str, Any], topic: str = "orders", partition: int | None = 3,
        offset: int | None = 42, timestamp: int | None = 1000) -> dict[str, Any]:
    plan = compile_plans(sources)
    assert plan(value, topic, partition, offset, timestamp) is None  # edits in place, returns nothing
    return value


# --- renaming apart ----------------------------------------------------------------------------

def test_same_scratch_and_constant_names_in_two_sources_do_not_clash() -> None:
    first = PlanSource("tmp = value.get('a', 0) + STEP\nvalue['a'] = tmp\nvalue['label_a'] = LABEL",
                       {"STEP": 1, "LABEL": "first"})
    # Reading ``tmp`` before assigning it must not see the first source's variable.
    second = PlanSource(
        "try:\n    seen = tmp\nexcept NameError:\n    seen = 'unbound'\n"
        "value['seen'] = seen\ntmp = value.get('b', 0) * STEP\nvalue['b'] = tmp\nvalue['label_b'] = LABEL",
        {"STEP": 10, "LABEL": "second"},
    )
    assert run([first, second], {"a": 5, "b": 2}) == {
        "a": 6, "b": 20, "label_a": "first", "seen": "unbound", "label_b": "second",
    }
    # The other order: each source still uses its own constants.
    assert run([second, first], {"a": 5, "b": 2}) == {
        "a": 6, "b": 20, "label_a": "first", "seen": "unbound", "label_b": "second",
    }


def test_non_literal_constants_of_the_same_name_stay_apart() -> None:
    first = PlanSource("value['x'] = TABLE[value['x']]", {"TABLE": {1: "one"}})
    second = PlanSource("value['y'] = TABLE(value['x'])", {"TABLE": str.upper})
    assert run([first, second], {"x": 1}) == {"x": "one", "y": "ONE"}
    body, namespace = plan_body([first, second])
    assert namespace == {"_p0_TABLE": {1: "one"}, "_p1_TABLE": str.upper}
    assert len(body) == 2


def test_exception_handler_names_and_comprehension_variables_are_renamed_apart() -> None:
    source = PlanSource(
        "try:\n    int(value['n'])\nexcept ValueError as err:\n    value['error'] = type(err).__name__\n"
        "value['keys'] = sorted([name for name in value if name != 'keys'])"
    )
    out = run([source, source], {"n": "x"})
    assert out == {"n": "x", "error": "ValueError", "keys": ["error", "n"]}
    body, _ = plan_body([source, source])
    names = {node.id for stmt in body for node in ast.walk(stmt) if isinstance(node, ast.Name)}
    handlers = {node.name for stmt in body for node in ast.walk(stmt) if isinstance(node, ast.ExceptHandler)}
    assert {"_p0_name", "_p1_name"} <= names and "name" not in names
    assert handlers == {"_p0_err", "_p1_err"}


def test_builtins_and_parameters_are_not_renamed() -> None:
    source = PlanSource("value['size'] = len(value)\nvalue['meta'] = (topic, partition, offset, timestamp)")
    assert run([source], {"a": 1}, "t", 1, 2, 3) == {"a": 1, "size": 1, "meta": ("t", 1, 2, 3)}


def test_indented_source_is_dedented() -> None:
    source = PlanSource("""
        if 'a' in value:
            value['b'] = value.pop('a')
    """)
    assert run([source], {"a": 1}) == {"b": 1}


# --- constants ---------------------------------------------------------------------------------

LITERALS: dict[str, Any] = {
    "S": "field", "I": -7, "BIG": 2**70, "F": 2.5, "T": True, "N": None, "B": b"\x00bytes",
}


def test_literal_constants_are_written_into_the_code() -> None:
    code = "\n".join(f"value[{name!r}] = {name}" for name in LITERALS)
    plan = compile_plans([PlanSource(code, LITERALS)])
    value: dict[str, Any] = {}
    plan(value, "t", 0, 0, None)
    assert value == LITERALS
    assert all(type(value[k]) is type(v) for k, v in LITERALS.items())
    loaded = global_names(plan.__code__)
    assert not loaded & {f"_p0_{name}" for name in LITERALS}, loaded
    consts = set(plan.__code__.co_consts) - {None}
    assert {"field", -7, 2**70, 2.5, b"\x00bytes"} <= consts
    body, _ = plan_body([PlanSource(code, LITERALS)])
    assert not [n.id for stmt in body for n in ast.walk(stmt) if isinstance(n, ast.Name) and n.id.startswith("_p")]


def test_non_literal_constants_are_looked_up_and_work() -> None:
    seen: list[Any] = []

    class Text(str):
        """A str subclass is not a literal type: it must keep its class."""

    constants = {"LOOKUP": {"a": 1}, "RECORD": seen.append, "KEEP": frozenset({"a"}), "TAG": Text("t")}
    source = PlanSource(
        "RECORD(topic)\nvalue['n'] = LOOKUP[value['k']]\n"
        "for name in [name for name in value if name not in KEEP and name != 'n']:\n    del value[name]\n"
        "value['tag'] = TAG",
        constants,
    )
    plan = compile_plans([source])
    value = {"k": "a", "a": 0}
    plan(value, "orders", None, None, None)
    assert value == {"a": 0, "n": 1, "tag": "t"} and type(value["tag"]) is Text
    assert seen == ["orders"]
    loaded = global_names(plan.__code__)
    assert {"_p0_LOOKUP", "_p0_RECORD", "_p0_KEEP", "_p0_TAG"} <= loaded
    constants["LOOKUP"]["a"] = 2  # looked up, not copied: the object itself is used
    value = {"k": "a"}
    plan(value, "orders", None, None, None)
    assert value["n"] == 2


def test_compiled_plan_has_the_requested_name_and_the_sources_as_doc() -> None:
    plan = compile_plans([PlanSource("  value['a'] = 1  "), PlanSource("value['b'] = 2")], "my_plan")
    assert plan.__name__ == "my_plan"
    assert plan.__doc__ == "value['a'] = 1\n\nvalue['b'] = 2"


# --- refused sources ---------------------------------------------------------------------------

FORBIDDEN = {
    "return": ("if value:\n    return", "Return"),
    "yield": ("value['a'] = yield 1", "Yield"),
    "yield_from": ("yield from value", "YieldFrom"),
    "global": ("global counter\ncounter = 1", "Global"),
    "nonlocal": ("nonlocal counter", "Nonlocal"),
    "def": ("def helper():\n    pass", "FunctionDef"),
    "async_def": ("async def helper():\n    pass", "AsyncFunctionDef"),
    "lambda": ("value['f'] = lambda: 1", "Lambda"),
    "class": ("class Helper:\n    pass", "ClassDef"),
    "await": ("await value", "Await"),
}


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_forbidden_constructs_are_refused(name: str) -> None:
    code, node = FORBIDDEN[name]
    with pytest.raises(ValueError, match=rf"plan source may not contain {node}\b"):
        compile_plans([PlanSource(code)])
    # Also when hidden in a second source, after a valid first one.
    with pytest.raises(ValueError, match=rf"may not contain {node}\b"):
        plan_body([PlanSource("value['ok'] = 1"), PlanSource(code)])


REBINDING = {
    "assign": ("value = {}", "value"),
    "augmented": ("timestamp += 1", "timestamp"),
    "for_target": ("for offset in range(3):\n    pass", "offset"),
    "with_target": ("with open('x') as partition:\n    pass", "partition"),
    "except_name": ("try:\n    pass\nexcept Exception as topic:\n    pass", "topic"),
    "walrus": ("value['x'] = (offset := 1)", "offset"),
    "delete": ("del partition", "partition"),
    "tuple_target": ("a, topic = 1, 2", "topic"),
}


@pytest.mark.parametrize("name", sorted(REBINDING))
def test_assignments_to_the_parameters_are_refused(name: str) -> None:
    code, parameter = REBINDING[name]
    with pytest.raises(ValueError, match=re.escape(f"plan source assigns to its parameters ['{parameter}']")):
        compile_plans([PlanSource(code)])


def test_reads_of_undefined_names_are_refused_and_listed() -> None:
    with pytest.raises(ValueError, match=re.escape("plan source reads undefined names ['missing', 'other']")):
        compile_plans([PlanSource("value['a'] = missing\nvalue['b'] = other(value)")])
    # A constant of another source is not visible.
    with pytest.raises(ValueError, match=re.escape("reads undefined names ['LIMIT']")):
        plan_body([PlanSource("x = LIMIT", {"LIMIT": 3}), PlanSource("value['a'] = LIMIT")])
    # The same names are fine once given as constants or assigned first.
    plan = compile_plans([PlanSource("value['a'] = missing\nother = len\nvalue['b'] = other(value)",
                                     {"missing": 1})])
    value: dict[str, Any] = {}
    plan(value, "t", None, None, None)
    assert value == {"a": 1, "b": 1}


def test_syntax_errors_surface() -> None:
    with pytest.raises(SyntaxError):
        compile_plans([PlanSource("value['a'] = (")])


# --- empty input, errors, run_plan ---------------------------------------------------------------

def test_no_sources_is_a_no_op() -> None:
    assert plan_body([]) == ([], {})
    plan = compile_plans([], "nothing")
    value = {"a": [1], "b": None}
    assert plan(value, "t", 0, 1, 2) is None
    assert value == {"a": [1], "b": None}
    assert plan.__name__ == "nothing"
    assert run([PlanSource("")], {"a": 1}) == {"a": 1}


def test_an_exception_in_a_source_propagates_after_the_earlier_edits() -> None:
    class Boom(Exception):
        pass

    first = PlanSource("value['first'] = True")
    failing = PlanSource("if value.get('fail'):\n    raise BOOM('no good')\nvalue['second'] = True", {"BOOM": Boom})
    third = PlanSource("value['third'] = True")
    plan = compile_plans([first, failing, third])
    value: dict[str, Any] = {"fail": 1}
    with pytest.raises(Boom, match="no good"):
        plan(value, "t", 0, 0, None)
    assert value == {"fail": 1, "first": True}  # the caller re-runs one by one from its own copy
    with pytest.raises(KeyError, match="'absent'"):
        compile_plans([PlanSource("value['x'] = value['absent']")])({}, "t", 0, 0, None)
    value = {"fail": 0}
    plan(value, "t", 0, 0, None)
    assert value == {"fail": 0, "first": True, "second": True, "third": True}


METADATA = PlanSource("value['meta'] = {'topic': topic, 'partition': partition, 'offset': offset, 'ts': timestamp}")


def test_run_plan_passes_the_offset_of_a_sink_record() -> None:
    value: dict[str, Any] = {}
    run_plan(compile_plans([METADATA]), value, SinkRecord("orders", 2, None, None, None, {}, 77, 1234))
    assert value == {"meta": {"topic": "orders", "partition": 2, "offset": 77, "ts": 1234}}


def test_run_plan_passes_no_offset_for_a_source_record() -> None:
    value: dict[str, Any] = {}
    record = SourceRecord({"file": "f"}, {"pos": 9}, "payments", None, None, None, None, {}, None)
    run_plan(compile_plans([METADATA]), value, record)
    assert value == {"meta": {"topic": "payments", "partition": None, "offset": None, "ts": None}}
    value = {}
    run_plan(compile_plans([METADATA]), value, SourceRecord(None, None, "p", 5, timestamp=8))
    assert value == {"meta": {"topic": "p", "partition": 5, "offset": None, "ts": 8}}


def test_run_plan_edits_the_given_map_not_the_records() -> None:
    record = SinkRecord("orders", 0, None, None, None, {"a": 1}, 5)
    mine = dict(record.value)
    run_plan(compile_plans([PlanSource("value['a'] += 1")]), mine, record)
    assert mine == {"a": 2} and record.value == {"a": 1}


def test_parameters_are_the_documented_five() -> None:
    assert PLAN_PARAMETERS == ("value", "topic", "partition", "offset", "timestamp")
    plan = compile_plans([PlanSource("pass")])
    assert plan.__code__.co_varnames[:5] == PLAN_PARAMETERS
