"""The transformation chain: every ``transforms.<alias>`` stage in order, with predicates.

Built once per task (per config version) and applied to every record, so ``apply`` keeps
its per-record work to a tuple unpack, an optional predicate call and the transform call.
A stage applies when it has no predicate or when ``negate XOR predicate.test(record)``;
a transform returning None drops the record and ends the chain (KIP-585 semantics).

Fused stages. Most chains edit schemaless JSON maps (InsertField, ReplaceField, Cast,
TimestampConverter on ``$Value``). Run one by one, each SMT copies the map and the record.
A transform may offer ``schemaless_source()``: an in-place edit of a map the caller owns, as
source code its own ``apply`` also runs (``lambda_connect.api.plans``). Consecutive
predicate-free transforms of one side (key or value) that offer sources become one stage (a
lone one too) whose edits are compiled into ONE function: for a schemaless dict it copies the
map once, runs that function and builds one record (``apply_owned``, for a record the caller
hands over, stores the map into that record instead). ``value_plan_sources()`` hands the
sources of a chain that is one value-side group to the batch pipeline, which inlines them
into its own loop. Anything else (a schema, null, a non-map) and any
exception go through the transforms' own ``apply`` one by one, so results, errors and
their attribution to a transform class are those of the unfused chain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambda_connect.api.config import ConfigType, parse_type
from lambda_connect.api.errors import ConfigException, RetriableException
from lambda_connect.api.plans import PlanSource, compile_plans
from lambda_connect.api.records import ConnectRecord, SinkRecord, SourceRecord
from lambda_connect.api.transform import Predicate, Transformation

from ._plugins import class_name_of, instantiate, prefixed
from .errors import ErrorPolicy, Stage, StageError
from .registry import Registry

__all__ = ["TransformChain"]

_Stage = tuple[Callable[[Any], Any], Callable[[Any], bool] | None, bool, str]
_Copy = Callable[[ConnectRecord, Any], ConnectRecord]


def _aliases(props: Mapping[str, Any], key: str) -> list[str]:
    try:
        return parse_type(key, props.get(key, ""), ConfigType.LIST) or []
    except ConfigException:
        return []


class TransformChain:
    """An ordered list of configured transforms and the predicates they share."""

    def __init__(
        self,
        transforms: list[tuple[str, Transformation[Any], Predicate[Any] | None, bool]],
        predicates: Mapping[str, Predicate[Any]] | None = None,
        policy: ErrorPolicy | None = None,
    ) -> None:
        self.transforms = transforms
        self.predicates = dict(predicates or {})
        self.policy = policy if policy is not None and policy.retry_timeout_ms != 0 else None
        self._stages, self._owned_stages, only_fused, self._value_sources = _fuse(
            [(t, (t.apply, p.test if p is not None else None, negate, class_name_of(type(t))))
             for _, t, p, negate in transforms],
            self._run,
        )
        if only_fused:
            # The fused stage reports its own errors (through _run), so it is the whole chain.
            self.apply = self._stages[0][0]  # type: ignore[method-assign]
            self.apply_owned = self._owned_stages[0][0]  # type: ignore[method-assign]

    @classmethod
    def from_config(
        cls, props: Mapping[str, Any], registry: Registry | None = None, policy: ErrorPolicy | None = None
    ) -> TransformChain:
        """Build every predicate, then every transform; one ConfigException lists all problems."""
        registry = registry or Registry.default()
        errors: dict[str, list[str]] = {}
        predicates: dict[str, Predicate[Any]] = {}
        for alias in _aliases(props, "predicates"):
            prefix = f"predicates.{alias}."
            try:
                pcls = _resolve(registry, props, prefix, "predicate")
                predicates[alias] = instantiate(pcls, prefixed(props, prefix, ("type",)), prefix, pcls)
            except ConfigException as e:
                _merge(errors, e)
        stages: list[tuple[str, Transformation[Any], Predicate[Any] | None, bool]] = []
        for alias in _aliases(props, "transforms"):
            prefix = f"transforms.{alias}."
            try:
                predicate, negate = _predicate_of(props, prefix, predicates, errors)
                tcls = _resolve(registry, props, prefix, "transformation")
                sub = prefixed(props, prefix, ("type", "predicate", "negate"))
                stages.append((alias, instantiate(tcls, sub, prefix, tcls), predicate, negate))
            except ConfigException as e:
                _merge(errors, e)
        if errors:
            raise ConfigException(errors=errors)
        return cls(stages, predicates, policy)

    def value_plan_sources(self) -> list[PlanSource] | None:
        """The plan sources of this chain when it is exactly one fused group on the value
        side (every transform predicate-free, offering a source, operating on the value); None
        otherwise. The batch pipeline compiles them into its loop; for a map value with no
        value schema, running them on a copy of the map is what ``apply`` does."""
        return self._value_sources

    def __len__(self) -> int:
        return len(self._stages)

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        """The transformed record, or None when a stage dropped it.

        Raises ``StageError(TRANSFORMATION, <class>, cause)`` for a failing transform or
        predicate; with a retry budget, a RetriableException is retried from that stage.
        """
        return self._run(self._stages, record)

    def apply_owned(self, record: ConnectRecord) -> ConnectRecord | None:
        """``apply`` for a record the caller built for this call and hands over: nobody else
        holds it (the sink worker's freshly converted records). A leading fused stage then
        stores the edited map into it instead of copying all of its slots into a new record.
        The map itself is still copied, since the converter may share it."""
        return self._run(self._owned_stages, record)

    def _run(self, stages: list[_Stage], record: ConnectRecord) -> ConnectRecord | None:
        for fn, test, negate, class_name in stages:
            try:
                if test is None or negate is not bool(test(record)):
                    record = fn(record)
                    if record is None:
                        return None
            except StageError:
                raise
            except RetriableException as e:
                if self.policy is None:
                    raise StageError(Stage.TRANSFORMATION, class_name, e) from e
                record = self.policy.execute(
                    lambda r=record, f=fn, t=test, n=negate: f(r) if t is None or n is not bool(t(r)) else r,
                    Stage.TRANSFORMATION,
                    class_name,
                    first_failure=e,
                )
                if record is None:
                    return None
            except Exception as e:
                raise StageError(Stage.TRANSFORMATION, class_name, e) from e
        return record

    def close(self) -> None:
        """Close every transform and predicate; one failing close does not skip the others."""
        for _, t, _, _ in self.transforms:
            _quiet_close(t)
        for p in self.predicates.values():
            _quiet_close(p)


def _fused_stage(
    on_key: bool,
    members: list[tuple[PlanSource, _Stage]],
    run: Callable[[list[_Stage], ConnectRecord], ConnectRecord | None],
) -> tuple[Callable[[ConnectRecord], ConnectRecord | None], Callable[[ConnectRecord], ConnectRecord | None]]:
    """Consecutive predicate-free transforms of one side, run as one stage (module docstring):
    the stage that returns a new record, and the one for a record the caller owns, which
    stores the edited map into that record (``TransformChain.apply_owned``).

    Closures rather than objects with ``__call__``: they run once per record, and calling
    a plain function with its state in cells is measurably cheaper than a bound ``__call__``."""
    plan = compile_plans([source for source, _ in members], "fused")
    stages = [stage for _, stage in members]
    copies: dict[type, _Copy] = {}

    def make(owned: bool) -> Callable[[ConnectRecord], ConnectRecord | None]:
        def fused(record: ConnectRecord) -> ConnectRecord | None:
            if on_key:
                value, schema = record.key, record.key_schema
            else:
                value, schema = record.value, record.value_schema
            if schema is not None or type(value) is not dict:
                return run(stages, record)
            updated = value.copy()  # value is exactly a dict here; copy() is cheaper than dict(value)
            try:
                plan(updated, record.topic, record.kafka_partition,
                     record.kafka_offset if isinstance(record, SinkRecord) else None, record.timestamp)
            except Exception:  # re-run one by one, so the failing transform reports it as apply would
                return run(stages, record)
            if owned:  # the record is the caller's to give: store the map (its schema is None already)
                if on_key:
                    record.key = updated
                else:
                    record.value = updated
                return record
            cls = type(record)
            copy = copies.get(cls)
            if copy is None:
                copy = copies[cls] = _copy_with(cls, on_key)
            return copy(record, updated)

        return fused

    return make(False), make(True)


def _fuse(
    stages: list[tuple[Transformation[Any], _Stage]],
    run: Callable[[list[_Stage], ConnectRecord], ConnectRecord | None],
) -> tuple[list[_Stage], list[_Stage], bool, list[PlanSource] | None]:
    """Group runs of predicate-free transforms with plan sources on the same side into fused stages.

    Returns the stages, the same stages for an owned record (a leading fused stage in its
    owned form: only the first stage sees the caller's record), whether the result is a
    single fused stage, and the sources of that stage when it is on the value side."""
    out: list[_Stage] = []
    owned_first: _Stage | None = None
    fused_count = 0
    group: list[tuple[PlanSource, _Stage]] = []
    single_group: list[PlanSource] = []
    group_on_key = False

    def close_group() -> None:
        # A group of one is worth it too: the generated record copy beats new_record.
        nonlocal fused_count, owned_first
        if group:
            fused_count += 1
            fused, fused_owned = _fused_stage(group_on_key, list(group), run)
            if not group_on_key:
                single_group[:] = [source for source, _ in group]
            name = "+".join(stage[3] for _, stage in group)
            if not out:
                owned_first = (fused_owned, None, False, name)
            out.append((fused, None, False, name))
        group.clear()

    for transform, stage in stages:
        source = _source_of(transform) if stage[1] is None else None
        on_key = bool(getattr(transform, "operates_on_key", False))
        if source is None or (group and on_key is not group_on_key):
            close_group()
        if source is None:
            out.append(stage)
        else:
            group.append((source, stage))
            group_on_key = on_key
    close_group()
    owned = out if owned_first is None else [owned_first, *out[1:]]
    only_fused = len(out) == 1 and fused_count == 1
    return out, owned, only_fused, (single_group if only_fused and single_group else None)


def _source_of(transform: Transformation[Any]) -> PlanSource | None:
    offer = getattr(transform, "schemaless_source", None)
    return offer() if callable(offer) else None


# Records the fused stage copies with generated code: the record classes of the contract,
# whose ``_all_slots`` name every field. Any other class goes through ``new_record``.
_FAST_COPY_CLASSES = (SinkRecord, SourceRecord, ConnectRecord)


def _copy_with(cls: type, on_key: bool) -> _Copy:
    """A function returning a copy of a ``cls`` record with a schemaless key or value.

    Why generated: a record has 8 to 13 slots, and copying them as straight-line attribute
    loads and stores is the cheapest copy CPython offers (``new_record`` costs about twice as
    much for its keyword handling); the slot list comes from the class, so it cannot drift."""
    schema_slot, value_slot = ("key_schema", "key") if on_key else ("value_schema", "value")
    if cls not in _FAST_COPY_CLASSES or "_all_slots" not in cls.__dict__:
        if on_key:
            return lambda record, key: record.new_record(key_schema=None, key=key)
        return lambda record, value: record.new_record(value_schema=None, value=value)
    lines = ["def copy(record, replacement):", "    new = new_instance(cls)"]
    for slot in cls._all_slots:
        source = "None" if slot == schema_slot else "replacement" if slot == value_slot else f"record.{slot}"
        lines.append(f"    new.{slot} = {source}")
    lines.append("    return new")
    namespace: dict[str, Any] = {"new_instance": cls.__new__, "cls": cls}
    exec("\n".join(lines), namespace)  # the source is built from the class's slot names only
    copy: _Copy = namespace["copy"]
    return copy


def _resolve(registry: Registry, props: Mapping[str, Any], prefix: str, kind: str) -> type[Any]:
    key = prefix + "type"
    name = props.get(key)
    if name is None or not str(name).strip():
        raise ConfigException(errors={key: [f'Missing required configuration "{key}" which has no default value.']})
    try:
        return registry.resolve(str(name), {kind})
    except Exception as e:
        raise ConfigException(errors={key: [f"Invalid value {name} for configuration {key}: {e}"]}) from e


def _predicate_of(
    props: Mapping[str, Any], prefix: str, predicates: Mapping[str, Predicate[Any]], errors: dict[str, list[str]]
) -> tuple[Predicate[Any] | None, bool]:
    pkey, nkey = prefix + "predicate", prefix + "negate"
    alias = str(props.get(pkey) or "").strip()
    negate_raw = props.get(nkey)
    try:
        negate = bool(parse_type(nkey, negate_raw, ConfigType.BOOLEAN)) if negate_raw is not None else False
    except ConfigException as e:
        raise ConfigException(errors=e.errors) from e
    if not alias:
        if negate_raw is not None:
            raise ConfigException(errors={nkey: [negate_without_predicate(prefix)]})
        return None, False
    predicate = predicates.get(alias)
    if predicate is None:
        if alias in _aliases(props, "predicates"):
            return None, negate  # the predicate itself failed; its error is reported already
        raise ConfigException(errors={pkey: [f"Invalid value {alias} for configuration {pkey}: "
                                              f"no predicate with alias '{alias}' is listed in 'predicates'"]})
    return predicate, negate


def negate_without_predicate(prefix: str) -> str:
    """Kafka's message, verbatim."""
    return (f"Config '{prefix}negate' was provided but there is no config '{prefix}predicate' "
            "defining a predicate to be negated.")


def _merge(into: dict[str, list[str]], e: ConfigException) -> None:
    for k, msgs in (e.errors or {"": [str(e)]}).items():
        into.setdefault(k, []).extend(msgs)


def _quiet_close(plugin: Any) -> None:
    try:
        plugin.close()
    except Exception:  # close is best effort, as Kafka's Utils.closeQuietly
        import logging

        logging.getLogger(__name__).warning("Failed to close %s", type(plugin).__name__, exc_info=True)
