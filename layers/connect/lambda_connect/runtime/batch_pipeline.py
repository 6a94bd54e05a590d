"""Kafka bytes in, Kafka bytes out, for a whole batch: converters and transform chain in one loop.

The per-record path (``RecordConverters.to_sink_record`` → ``TransformChain.apply`` →
``RecordConverters.serialize``) builds two record objects and makes about fifteen Python
calls per record; on CPython that costs several times the JSON parsing and writing itself.
For the common case — a schemaless JSON value edited by transforms that offer plan sources
(``lambda_connect.api.plans``) — this module runs ONE loop over the batch with the value
converter's reader and writer and the chain's edits, and builds no record at all. The loop
comes in two builds with the same steps:

* native: ``_batch_loop.BatchRun`` (C) calling the plan engine (``api/_map_edit.c``) for the
  edits, when both are built and every edit has engine instructions;
* generated: a Python generator with the edits' Python pasted in (``_LOOP``), otherwise and
  under ``LAMBDA_CONNECT_NATIVE_PLANS=off``.

Exactness: the loop takes a record only when it is plainly the common case (no headers, a
value that reads as a map; a null value makes the reader raise), and any exception inside
it sends the record down the per-record path, which then reports the failing stage and
plugin as always (and applies the error policy's retries). So every outcome, error message
included, is the per-record path's; ``tests/unit/runtime/test_batch_pipeline.py`` compares
both builds with it on random records (the shared vectors run through ``lambda-connect
transform``, which uses this). Chains that are not one value-side group of plan sources,
and value converters without direct paths, run every record down the per-record path.

Ownership: the value a converter's ``direct_reader`` returns is a fresh object (its
contract), so the edits run on it without a copy. Keys pass through untouched when the key
converter vouches that its round trip keeps them byte for byte (``identity_check``), and
otherwise round-trip through the key converter.
"""

from __future__ import annotations

import ast
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from lambda_connect.api.plans import PlanSource, native_available, native_plan, plan_body

from .chain import TransformChain
from .conversion import RecordConverters
from .errors import StageError

try:  # built with the plan engine by pip install; without it the generated loop below runs
    from ._batch_loop import BatchRun as _BatchRun
except ImportError:  # pragma: no cover - depends on the build
    _BatchRun = None

__all__ = ["BatchPipeline", "ConsumedTuple", "Outcome", "Produced"]

_RawHeaders = Sequence[tuple[str, "bytes | None"]]
ConsumedTuple = tuple[str, int, int, "int | None", str, "bytes | None", "bytes | None", _RawHeaders]
"""A consumed record: ``(topic, partition, offset, timestamp, timestamp_type, key, value, headers)``."""

Produced = tuple[str, "int | None", "int | None", "bytes | None", "bytes | None", _RawHeaders]
"""What to produce: ``(topic, partition, timestamp, key, value, headers)``."""

Outcome = Produced | StageError | None
"""Per record: what to produce, the error that stopped it, or None when the chain dropped it."""

_NO_HEADERS: tuple[tuple[str, bytes | None], ...] = ()

# The generated loop. Names in capitals are bound in its namespace; ``value``, ``topic``,
# ``partition``, ``offset`` and ``timestamp`` are the plan parameters (api.plans).
_LOOP = """
def run(records):
    for item in records:
        topic, partition, offset, timestamp, timestamp_type, key, raw, headers = item
        if headers:
            yield SLOW(item)
            continue
        try:
            value = VALUE_READ(raw)
            MAP_CHECK
            PLANS
            raw_out = VALUE_WRITE(value)
            KEY_CHECK
        except Exception:
            yield SLOW(item)
            continue
        yield topic, partition, timestamp, key, raw_out, NO_HEADERS
"""

# The values the loop takes; anything else raises and goes down the per-record path.
_MAP_ONLY = "if type(value) is not dict:\n    raise LookupError"
_NOT_NULL = "if value is None:\n    raise LookupError"

# Keys: forwarded as they are when the key converter vouches for their round trip (null
# keys included), converted there and back otherwise.
_KEY_KEPT = "if key is not None and not KEY_SAME(key):\n    key = KEY_ROUNDTRIP(topic, key)"
_KEY_CONVERTED = "key = KEY_ROUNDTRIP(topic, key)"


class BatchPipeline:
    """A connector's converters and chain over batches of consumed records (module docstring)."""

    def __init__(self, converters: RecordConverters, chain: TransformChain) -> None:
        self.converters = converters
        self.chain = chain
        #: Whether the loop and the edits run natively (``_batch_loop.c``, ``api/_map_edit.c``).
        self.native = False
        generated = self._compile()
        #: Whether records can take the generated loop (else all take the per-record path).
        self.compiled = generated is not None
        self._run = generated if generated is not None else self._run_each

    def run(self, records: Iterable[ConsumedTuple]) -> Iterator[Outcome]:
        """The outcome of each consumed record, in order, as each one is done (``zip`` them
        with the records where both are needed).

        A generator, so a caller that hands each result on (to a producer, a file) keeps no
        batch of outputs alive; outcomes are described at ``Outcome``. Never raises for a bad
        record; a StageError outcome names the stage and plugin, as the per-record path does."""
        return self._run(records)

    def _run_each(self, records: Iterable[ConsumedTuple]) -> Iterator[Outcome]:
        return map(self.one, records)

    def one(self, item: ConsumedTuple) -> Outcome:
        """One record down the per-record path: what the generated loop falls back to."""
        topic, partition, offset, timestamp, timestamp_type, key, value, headers = item
        converters = self.converters
        try:
            record = converters.to_sink_record(topic, partition, offset, timestamp, timestamp_type, key, value,
                                               headers)
            out = self.chain.apply(record)
            if out is None:
                return None
            key_out, value_out, headers_out = converters.serialize(out)
        except StageError as e:
            return e
        return out.topic, out.kafka_partition, out.timestamp, key_out, value_out, headers_out

    def _compile(self) -> Callable[[Iterable[ConsumedTuple]], Iterator[Outcome]] | None:
        converters = self.converters
        reader, writer = converters.value_direct_paths()
        sources: list[PlanSource] | None = [] if len(self.chain) == 0 else self.chain.value_plan_sources()
        if reader is None or writer is None or reader[0] is not None or writer[0] is not None or sources is None:
            return None
        key_same = converters.key_identity_check()
        write, write_kwargs = _split_partial(writer[1])
        plan = native_plan(sources) if _BatchRun is not None else None
        if _BatchRun is not None and native_available() and (plan is not None or not sources):
            self.native = True
            write_args = _as_positional(write, write_kwargs)
            return functools.partial(
                _BatchRun, read=reader[1], write=write, write_args=write_args or (),
                write_kwargs=None if write_args is not None else write_kwargs, plan=plan, key_same=key_same,
                key_roundtrip=converters.key_roundtrip, slow=self.one, no_headers=_NO_HEADERS, maps_only=bool(sources),
            )
        loop = ast.parse(_LOOP)
        body, namespace = plan_body(sources)  # the edits' Python, pasted into the loop
        _replace_placeholder(loop, "PLANS", body)
        # Plans edit maps; with no transforms any value but null (JSON null: no bytes, as in
        # Kafka) is written back as it was read.
        _replace_placeholder(loop, "MAP_CHECK", ast.parse(_MAP_ONLY if sources else _NOT_NULL).body)
        _replace_placeholder(loop, "KEY_CHECK", ast.parse(_KEY_KEPT if key_same is not None else _KEY_CONVERTED).body)
        if write_kwargs:  # literal keywords in the call cost nothing; a partial builds a dict per call
            for i, (key, value) in enumerate(write_kwargs.items()):
                namespace[f"_WRITE_KW_{i}"] = value
                _call_of(loop, "VALUE_WRITE").keywords.append(
                    ast.keyword(arg=key, value=ast.Name(id=f"_WRITE_KW_{i}", ctx=ast.Load())))
        namespace.update({
            "SLOW": self.one, "VALUE_READ": reader[1], "VALUE_WRITE": write,
            "KEY_SAME": key_same, "KEY_ROUNDTRIP": converters.key_roundtrip, "NO_HEADERS": _NO_HEADERS,
        })
        exec(compile(ast.fix_missing_locations(loop), "<batch pipeline>", "exec"), namespace)  # built from sources
        run: Callable[[Iterable[ConsumedTuple]], Iterator[Outcome]] = namespace["run"]
        return run


def _split_partial(fn: Callable[..., bytes]) -> tuple[Callable[..., bytes], dict[str, Any] | None]:
    """A ``functools.partial`` of keyword arguments only (JsonConverter's writer) as the
    wrapped function and its keywords, which both loops pass in the call itself: a partial
    merges its keywords into a new dict on every call, about as costly as the write."""
    if isinstance(fn, functools.partial) and not fn.args and fn.keywords:
        return fn.func, dict(fn.keywords)
    return fn, None


def _as_positional(fn: Callable[..., bytes], kwargs: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """``kwargs`` as the positional arguments that follow the value in ``fn``'s signature
    (orjson.dumps: ``(obj, /, default=None, option=None)``), filling gaps with the defaults;
    None when the signature is unknown or does not allow it. The C loop passes positional
    arguments without building a dict per call."""
    if not kwargs:
        return ()
    try:
        parameters = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    positional, left = [], dict(kwargs)
    for parameter in parameters:
        if not left:
            break
        if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            return None
        if parameter.name in left:
            positional.append(left.pop(parameter.name))
        elif parameter.default is not parameter.empty:
            positional.append(parameter.default)
        else:
            return None
    return tuple(positional) if not left and len(positional) <= 3 else None


def _call_of(tree: ast.Module, name: str) -> ast.Call:
    """The one call of ``name`` in ``tree``."""
    return next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id == name)


def _replace_placeholder(tree: ast.Module, name: str, statements: list[ast.stmt]) -> None:
    """Swap the expression statement ``name`` in ``tree`` for ``statements`` (or ``pass``)."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for i, stmt in enumerate(block):
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Name) and stmt.value.id == name:
                    block[i:i + 1] = statements or [ast.Pass()]
                    return
    raise ValueError(f"placeholder {name} not found")

