"""The transformation chain: every ``transforms.<alias>`` stage in order, with predicates.

Built once per task (per config version) and applied to every record, so ``apply`` keeps
its per-record work to a tuple unpack, an optional predicate call and the transform call.
A stage applies when it has no predicate or when ``negate XOR predicate.test(record)``;
a transform returning None drops the record and ends the chain (KIP-585 semantics).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambda_connect.api.config import ConfigType, parse_type
from lambda_connect.api.errors import ConfigException, RetriableException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Predicate, Transformation

from ._plugins import class_name_of, instantiate, prefixed
from .errors import ErrorPolicy, Stage, StageError
from .registry import Registry

__all__ = ["TransformChain"]

_Stage = tuple[Callable[[Any], Any], Callable[[Any], bool] | None, bool, str]


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
        self._stages: list[_Stage] = [
            (t.apply, p.test if p is not None else None, negate, class_name_of(type(t)))
            for _, t, p, negate in transforms
        ]

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

    def __len__(self) -> int:
        return len(self._stages)

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        """The transformed record, or None when a stage dropped it.

        Raises ``StageError(TRANSFORMATION, <class>, cause)`` for a failing transform or
        predicate; with a retry budget, a RetriableException is retried from that stage.
        """
        for fn, test, negate, class_name in self._stages:
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
