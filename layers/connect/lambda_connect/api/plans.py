"""Schemaless plans: a transform's edit of a JSON-style map, given as Python source.

Why source rather than a function: most chains are a few SMTs editing the same schemaless
map (InsertField, ReplaceField, Cast, TimestampConverter). Called one by one, each edit
costs a Python call plus its own dispatch, and on CPython that overhead is larger than the
edits themselves. Given as source, the runtime can paste several edits into ONE generated
function (``compile_plans``) and run a whole chain, or a whole batch of records, with no call
between the transforms. A transform compiles its own source alone for its ``apply``, so the
fused and the one-by-one paths run the same code.

The contract for ``PlanSource.code``:

* it edits ``value``, a ``dict`` the caller owns, IN PLACE, and may read ``topic``,
  ``partition``, ``offset`` and ``timestamp`` (``offset`` is None unless the record is a
  SinkRecord; ``partition`` and ``timestamp`` may be None);
* every other name it reads is one of its ``constants`` or a builtin; names it assigns are
  its own scratch variables (the compiler renames them and the constants apart, so sources
  never clash);
* it may raise for anything unusual: the runtime then re-runs the record through each
  transform's ``apply``, so error messages and their attribution come from there;
* no ``return``, ``yield``, ``global`` or ``nonlocal`` (a fused source must fall through to
  the next one), and no assignment to the five parameters.

Native engine. A source may also carry ``ops``: the same edit as instructions for the C
engine ``lambda_connect.api._map_edit`` (built by ``pip install`` where a C compiler is
found; ``lambda_connect.api.map_edits`` builds sources that have them). When every source of
a plan has ops and the engine is built, ``compile_plans`` returns the engine instead of
generated Python: the same edits, one C call per record. ``LAMBDA_CONNECT_NATIVE_PLANS=off``
turns it off (then, and without the build, everything runs the generated Python).
"""

from __future__ import annotations

import ast
import builtins
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .records import ConnectRecord, SinkRecord

try:  # the C engine is optional: without a compiler at install time, the generated Python does the work
    from ._map_edit import MapEdit as _MapEdit
except ImportError:  # pragma: no cover - depends on the build
    _MapEdit = None

__all__ = [
    "NATIVE_SWITCH", "PLAN_PARAMETERS", "CompiledPlan", "PlanSource", "compile_plans", "join", "native_available",
    "native_plan", "plan_body", "run_plan",
]

#: Environment variable that turns the native engine off (``off``, ``false``, ``0``, ``no``).
NATIVE_SWITCH = "LAMBDA_CONNECT_NATIVE_PLANS"

PLAN_PARAMETERS = ("value", "topic", "partition", "offset", "timestamp")

CompiledPlan = Callable[[dict[str, Any], str, "int | None", "int | None", "int | None"], None]
"""``plan(value, topic, partition, offset, timestamp)``: edits ``value`` in place."""

_BUILTINS = frozenset(dir(builtins))
_FORBIDDEN = (ast.Return, ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal, ast.AsyncFunctionDef,
              ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.Await)


@dataclass(frozen=True)
class PlanSource:
    """Statements editing ``value`` in place (module docstring), and the objects they use."""

    code: str
    constants: Mapping[str, Any] = field(default_factory=dict)
    #: The same edit as native-engine instructions (``map_edits.Op`` tuples), or None.
    ops: tuple[tuple[Any, ...], ...] | None = None


_LITERAL_TYPES = (str, int, float, bool, bytes, type(None))
_OFF = frozenset({"off", "false", "0", "no"})


class _Renamer(ast.NodeTransformer):
    """Gives one source's constants and scratch variables a prefix of their own, and writes
    constants of literal types (str, int, float, bool, bytes, None) into the code as literals:
    a literal dict key or bound is cheaper than a global lookup on every record."""

    def __init__(self, prefix: str, own: frozenset[str], constants: Mapping[str, Any]) -> None:
        self.prefix = prefix
        self.own = own
        self.literals = {k: v for k, v in constants.items() if type(v) in _LITERAL_TYPES}

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in self.literals and isinstance(node.ctx, ast.Load):
            return ast.copy_location(ast.Constant(value=self.literals[node.id]), node)
        if node.id in self.own:
            return ast.copy_location(ast.Name(id=self.prefix + node.id, ctx=node.ctx), node)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.ExceptHandler:
        if node.name is not None and node.name in self.own:
            node.name = self.prefix + node.name
        self.generic_visit(node)
        return node


def _statements(index: int, source: PlanSource) -> tuple[list[ast.stmt], dict[str, Any]]:
    tree = ast.parse(textwrap.dedent(source.code))
    assigned: set[str] = set()
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, _FORBIDDEN):
            raise ValueError(f"plan source may not contain {type(node).__name__}: {source.code!r}")
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else assigned).add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            assigned.add(node.name)
    rebound = assigned & set(PLAN_PARAMETERS)
    if rebound:
        raise ValueError(f"plan source assigns to its parameters {sorted(rebound)}: {source.code!r}")
    unknown = loaded - assigned - set(source.constants) - set(PLAN_PARAMETERS) - _BUILTINS
    if unknown:
        raise ValueError(f"plan source reads undefined names {sorted(unknown)}: {source.code!r}")
    prefix = f"_p{index}_"
    own = frozenset(assigned | set(source.constants))
    renamed = _Renamer(prefix, own, source.constants).visit(tree)
    return renamed.body, {prefix + name: value for name, value in source.constants.items()}


def plan_body(sources: Sequence[PlanSource]) -> tuple[list[ast.stmt], dict[str, Any]]:
    """The statements of ``sources`` in order, renamed apart, and the namespace their
    constants need: for code generators that inline plans into a loop of their own (the
    five parameters must then be variables of that loop)."""
    body: list[ast.stmt] = []
    namespace: dict[str, Any] = {}
    for index, source in enumerate(sources):
        statements, constants = _statements(index, source)
        body.extend(statements)
        namespace.update(constants)
    return body, namespace


def join(sources: Sequence[PlanSource]) -> PlanSource:
    """One source doing ``sources`` in order: for a transform whose edit is several edits.
    It has ops when every part has them."""
    body, namespace = plan_body(sources)
    ops = None if any(s.ops is None for s in sources) else tuple(op for s in sources for op in s.ops or ())
    return PlanSource(ast.unparse(ast.Module(body=body, type_ignores=[])), namespace, ops)


def native_available() -> bool:
    """Whether ``compile_plans`` may use the C engine: it is built and not switched off."""
    return _MapEdit is not None and os.environ.get(NATIVE_SWITCH, "on").strip().lower() not in _OFF


def native_plan(sources: Sequence[PlanSource]) -> CompiledPlan | None:
    """The C engine running the ops of ``sources`` in order, or None when a source has no
    ops or the engine is not available (``native_available``)."""
    if not native_available() or any(s.ops is None for s in sources):
        return None
    ops = tuple(op for s in sources for op in s.ops or ())
    if not ops:
        return None  # nothing to do: the generated no-op is as cheap
    engine = _MapEdit(ops)  # type: ignore[misc]
    run: CompiledPlan = engine.run
    return run


def compile_plans(sources: Sequence[PlanSource], name: str = "plan", *, native: bool = True) -> CompiledPlan:
    """One function running ``sources`` in order on the same map (see the module docstring):
    the native engine when it can run them all (unless ``native`` is False), else generated
    Python."""
    engine = native_plan(sources) if native else None
    if engine is not None:
        return engine
    body, namespace = plan_body(sources)
    module = ast.parse(f"def {name}({', '.join(PLAN_PARAMETERS)}):\n    pass\n")
    module.body[0].body = body or [ast.Pass()]  # type: ignore[attr-defined]
    module = ast.fix_missing_locations(module)
    exec(compile(module, f"<schemaless plan {name}>", "exec"), namespace)  # code built from PlanSources only
    compiled: CompiledPlan = namespace[name]
    compiled.__doc__ = "\n\n".join(textwrap.dedent(s.code).strip() for s in sources)
    return compiled


def run_plan(plan: CompiledPlan, value: dict[str, Any], record: ConnectRecord) -> None:
    """Run a compiled plan on ``value`` with ``record``'s metadata as its parameters."""
    offset = record.kafka_offset if isinstance(record, SinkRecord) else None
    plan(value, record.topic, record.kafka_partition, offset, record.timestamp)
