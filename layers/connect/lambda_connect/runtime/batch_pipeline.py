"""Kafka bytes in, Kafka bytes out, for a whole batch: converters and transform chain in one loop.

The per-record path (``RecordConverters.to_sink_record`` → ``TransformChain.apply`` →
``RecordConverters.serialize``) builds two record objects and makes about fifteen Python
calls per record; on CPython that costs several times the JSON parsing and writing itself.
For the common case — a schemaless JSON value edited by transforms that offer plan sources
(``lambda_connect.api.plans``) — this module generates ONE loop over the batch with the
value converter's reader and writer calls and the chain's edits inline (one call of the
native engine when every edit has ops and it is built, else the edits' Python pasted in),
and builds no record at all.

Exactness: the loop takes a record only when it is plainly the common case (no headers, a
value that reads as a map; a null value makes the reader raise), and any exception inside
it sends the record down the per-record path, which then reports the failing stage and plugin as always (and applies
the error policy's retries). So every outcome, error message included, is the per-record
path's; ``tests/unit/runtime/test_batch_pipeline.py`` compares both on the shared vectors
and on random records. Chains that are not one value-side group of plan sources, and value
converters without direct paths, run every record down the per-record path.

Ownership: the value a converter's ``direct_reader`` returns is a fresh object (its
contract), so the edits run on it without a copy. Keys pass through untouched when the key
converter vouches that its round trip keeps them byte for byte (``identity_check``), and
otherwise round-trip through the key converter.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence

from lambda_connect.api.plans import PlanSource, native_plan, plan_body

from .chain import TransformChain
from .conversion import RecordConverters
from .errors import StageError

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
        loop = ast.parse(_LOOP)
        native = native_plan(sources)
        if native is not None:  # one C call does every edit
            body, namespace = ast.parse("NATIVE(value, topic, partition, offset, timestamp)").body, {"NATIVE": native}
        else:  # the edits' Python, pasted into the loop
            body, namespace = plan_body(sources)
        #: Whether the edits run in the native engine (``lambda_connect.api.plans``).
        self.native = native is not None
        _replace_placeholder(loop, "PLANS", body)
        # Plans edit maps (the engine raises TypeError for anything but a dict itself); with no
        # transforms any value but null (JSON null: no bytes, as in Kafka) is written back as read.
        check = _NOT_NULL if not sources else "" if native is not None else _MAP_ONLY
        _replace_placeholder(loop, "MAP_CHECK", ast.parse(check).body)
        key_same = converters.key_identity_check()
        _replace_placeholder(loop, "KEY_CHECK", ast.parse(_KEY_KEPT if key_same is not None else _KEY_CONVERTED).body)
        write = _unwrap_partial(loop, "VALUE_WRITE", writer[1], namespace)
        namespace.update({
            "SLOW": self.one, "VALUE_READ": reader[1], "VALUE_WRITE": write,
            "KEY_SAME": key_same, "KEY_ROUNDTRIP": converters.key_roundtrip, "NO_HEADERS": _NO_HEADERS,
        })
        exec(compile(ast.fix_missing_locations(loop), "<batch pipeline>", "exec"), namespace)  # built from sources
        run: Callable[[Iterable[ConsumedTuple]], Iterator[Outcome]] = namespace["run"]
        return run


def _unwrap_partial(tree: ast.Module, name: str, fn: Callable[..., object], namespace: dict[str, object]) -> object:
    """For a ``functools.partial`` of keyword arguments only (JsonConverter's writer), write
    its keywords into every call of ``name`` and return the wrapped function: a partial
    merges its keywords into a new dict on every call, about as costly as the JSON write
    itself, while literal keywords cost nothing."""
    if not isinstance(fn, functools.partial) or fn.args:
        return fn
    keywords = []
    for i, (key, value) in enumerate(fn.keywords.items()):
        namespace[f"_KW_{name}_{i}"] = value
        keywords.append(ast.keyword(arg=key, value=ast.Name(id=f"_KW_{name}_{i}", ctx=ast.Load())))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
            node.keywords.extend(keywords)
    return fn.func


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

