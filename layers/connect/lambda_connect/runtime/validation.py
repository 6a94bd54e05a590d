"""The effective definition of a connector config, and its validation in Kafka's shapes.

One code path serves ``PUT /connector-plugins/{p}/config/validate``, ``POST /connectors``,
the workers' cold-start parsing and ``lambda-connect validate``: the common keys, the sink
or source keys, the connector's own ``config_def``, every ``transforms.<alias>.`` and
``predicates.<alias>.`` definition (Kafka's ``ConnectorConfig.enrich``), and the converters'
keys under ``key.converter.`` / ``value.converter.`` / ``header.converter.``. What the API
accepts is therefore exactly what a worker runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambda_connect.api.config import (
    Config,
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConfigValue,
    Importance,
    Password,
    Width,
    parse_type,
    to_config_string,
)
from lambda_connect.api.connector import Connector
from lambda_connect.api.errors import ConfigException

from .chain import TransformChain, negate_without_predicate
from .connector_config import (
    COMMON,
    COMMON_GROUP,
    DEFAULT_HEADER_CONVERTER,
    ERROR_GROUP,
    EXACTLY_ONCE_GROUP,
    OFFSETS_TOPIC_GROUP,
    PREDICATES_GROUP,
    TOPIC_CREATION_GROUP,
    TRANSFORMS_GROUP,
    base_definition,
    default_converter,
)
from .conversion import RecordConverters
from .errors import ErrorPolicy
from .lambda_config import LAMBDA_CONFIG, lambda_config_errors
from .registry import Registry, kinds_of

__all__ = [
    "ConnectorConfig",
    "config_errors",
    "config_key_info",
    "effective_definition",
    "parse_connector_config",
    "validate_connector_config",
]

_BASE_GROUPS = (
    COMMON_GROUP,
    TRANSFORMS_GROUP,
    PREDICATES_GROUP,
    ERROR_GROUP,
    TOPIC_CREATION_GROUP,
    EXACTLY_ONCE_GROUP,
    OFFSETS_TOPIC_GROUP,
)
_PIPELINE_ONLY_SKIP = frozenset({"name", "connector.class", "tasks.max", "tasks.max.enforce"})


def _list(props: Mapping[str, Any], key: str) -> list[str]:
    try:
        return parse_type(key, props.get(key, ""), ConfigType.LIST) or []
    except ConfigException:
        return []


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class _Resolution:
    """What the plugin names in a config resolve to, and the errors found doing so."""

    connector: type[Connector] | None
    kinds: set[str]
    errors: dict[str, list[str]]


def _resolve_plugins(
    props: Mapping[str, Any], registry: Registry, pipeline_only: bool
) -> tuple[ConfigDef, _Resolution]:
    errors: dict[str, list[str]] = {}
    connector: type[Connector] | None = None
    kinds: set[str] = set()
    cc = props.get("connector.class")
    if cc is not None and str(cc).strip():
        try:
            connector = registry.resolve(str(cc), {"source", "sink"})
            kinds = kinds_of(connector) & {"source", "sink"}
        except Exception as e:
            errors.setdefault("connector.class", []).append(
                f"Invalid value {cc} for configuration connector.class: {e}"
            )
    if pipeline_only and connector is None:
        definition = ConfigDef(*(k for k in COMMON if k.name not in _PIPELINE_ONLY_SKIP))
    else:
        definition = base_definition(kinds, props)
    if "sink" in kinds:
        definition = definition + LAMBDA_CONFIG  # the sink's event source mapping (group Lambda)
    if connector is not None:
        definition = definition + connector.config_def

    for alias in _unique(_list(props, "transforms")):
        prefix, group = f"transforms.{alias}.", f"Transforms: {alias}"
        definition = definition + ConfigDef(
            ConfigKey(name=prefix + "type", type=ConfigType.CLASS, importance=Importance.HIGH,
                      doc=f"Class for the '{alias}' transformation.", group=group, order_in_group=0,
                      width=Width.LONG, display_name=f"Transformation type for {alias}"),
            ConfigKey(name=prefix + "predicate", type=ConfigType.STRING, default=None, importance=Importance.MEDIUM,
                      doc="Name of a predicate from 'predicates': the transform runs only on records it matches.",
                      group=group, order_in_group=1, width=Width.LONG, display_name=f"Predicate for {alias}"),
            ConfigKey(name=prefix + "negate", type=ConfigType.BOOLEAN, default="false", importance=Importance.MEDIUM,
                      doc="true: run the transform on the records the predicate does not match.", group=group,
                      order_in_group=2,
                      width=Width.SHORT, display_name=f"Negate predicate for {alias}"),
        )
        definition = _embed_plugin(definition, props, registry, prefix, group, "transformation", errors, 2)
        if props.get(prefix + "negate") is not None and not str(props.get(prefix + "predicate") or "").strip():
            errors.setdefault(prefix + "negate", []).append(negate_without_predicate(prefix))
        pred = str(props.get(prefix + "predicate") or "").strip()
        if pred and pred not in _list(props, "predicates"):
            errors.setdefault(prefix + "predicate", []).append(
                f"Invalid value {pred} for configuration {prefix}predicate: "
                f"no predicate with alias '{pred}' is listed in 'predicates'"
            )

    for alias in _unique(_list(props, "predicates")):
        prefix, group = f"predicates.{alias}.", f"Predicates: {alias}"
        definition = definition + ConfigDef(
            ConfigKey(name=prefix + "type", type=ConfigType.CLASS, importance=Importance.HIGH,
                      doc=f"Class for the '{alias}' predicate.", group=group, order_in_group=0,
                      width=Width.LONG, display_name=f"Predicate type for {alias}"),
        )
        definition = _embed_plugin(definition, props, registry, prefix, group, "predicate", errors, 0)

    for key, default, kind in (
        ("key.converter", default_converter(True), "converter"),
        ("value.converter", default_converter(False), "converter"),
        ("header.converter", DEFAULT_HEADER_CONVERTER, "header_converter"),
    ):
        name = str(props.get(key) or "").strip() or default
        try:
            conv = registry.resolve(name, {kind})
        except Exception as e:
            errors.setdefault(key, []).append(f"Invalid value {name} for configuration {key}: {e}")
            continue
        definition = definition.embed(key + ".", None, conv.config_def)
    return definition, _Resolution(connector, kinds, errors)


def _embed_plugin(
    definition: ConfigDef,
    props: Mapping[str, Any],
    registry: Registry,
    prefix: str,
    group: str,
    kind: str,
    errors: dict[str, list[str]],
    start_order: int,
) -> ConfigDef:
    name = props.get(prefix + "type")
    if name is None or not str(name).strip():
        return definition  # the required ``type`` key reports it
    try:
        cls = registry.resolve(str(name), {kind})
    except Exception as e:
        errors.setdefault(prefix + "type", []).append(f"Invalid value {name} for configuration {prefix}type: {e}")
        return definition
    return definition.embed(prefix, group, cls.config_def, start_order)


def effective_definition(props: Mapping[str, Any], registry: Registry | None = None, *,
                         pipeline_only: bool = False) -> ConfigDef:
    """Every key that applies to ``props``: base + connector + transforms + predicates + converters.

    ``pipeline_only`` (used by ``lambda-connect transform``) drops the connector identity
    keys when no ``connector.class`` is given, so a bare converter/transform config checks.
    """
    definition, _ = _resolve_plugins(props, registry or Registry.default(), pipeline_only)
    return definition


def _cross_checks(
    props: Mapping[str, Any], results: dict[str, ConfigValue], res: _Resolution, registry: Registry
) -> None:
    """Kafka's checks that span keys: sink topics, DLQ, exactly-once, plugin validate()."""
    def add(key: str, message: str) -> None:
        cv = results.get(key)
        if cv is None:
            cv = results[key] = ConfigValue(key, props.get(key))
        if message not in cv.errors:
            cv.errors.append(message)

    for key, msgs in res.errors.items():
        for m in msgs:
            add(key, m)
    if "sink" in res.kinds:
        for key, msgs in lambda_config_errors(props).items():
            for m in msgs:
                add(key, m)
        topics = _list(props, "topics")
        regex = str(props.get("topics.regex") or "").strip()
        if topics and regex:
            msg = "topics and topics.regex are mutually exclusive options, but both are set."
            add("topics", msg)
            add("topics.regex", msg)
        elif not topics and not regex:
            msg = "Must configure one of topics or topics.regex"
            add("topics", msg)
            add("topics.regex", msg)
        dlq = str(props.get("errors.deadletterqueue.topic.name") or "").strip()
        if dlq and dlq in topics:
            add("errors.deadletterqueue.topic.name",
                f"The DLQ topic '{dlq}' may not be included in the list of topics "
                f"('topics=[{', '.join(topics)}]') consumed by the connector")
        if dlq and regex:
            try:
                if re.fullmatch(regex, dlq):
                    add("errors.deadletterqueue.topic.name",
                        f"The DLQ topic '{dlq}' may not be included in the regex matching the topics "
                        f"('topics.regex={regex}') consumed by the connector")
            except re.error:
                pass
    if "source" in res.kinds:
        _exactly_once_checks(props, res, add)
    _start_checks(props, results, add, registry)
    if res.connector is not None:
        try:
            extra = res.connector.validate(props)
        except Exception as e:
            add("connector.class", f"{type(e).__name__}: {e}")
            extra = {}
        for key, cv in extra.items():
            for m in cv.errors:
                add(key, m)


def _start_checks(
    props: Mapping[str, Any], results: dict[str, ConfigValue], add: Any, registry: Registry
) -> None:
    """Build the transforms, predicates and converters as a task would at start.

    A plugin's constructor may refuse what its ConfigDef lets through (a RegexRouter
    replacement naming a group its regex lacks, say); validating without building would
    accept a config whose task then fails on its first record. Keys that already carry an
    error keep only that one.
    """
    for build in (TransformChain.from_config, RecordConverters.from_config):
        try:
            build(props, registry)
        except ConfigException as e:
            for key, messages in e.errors.items():
                cv = results.get(key)
                if cv is not None and cv.errors:
                    continue
                for message in messages:
                    add(key, message)
        except Exception:
            continue


_EOS_UNKNOWN = (
    "This connector cannot tell in advance whether it delivers exactly once (it has no exactly-once "
    "check). Look up its documentation; if it does, set exactly.once.support=requested, which skips the "
    "check and lets the connector be created."
)
_EOS_UNSUPPORTED = "With this config the connector cannot deliver exactly once (its own check says so)."
_BOUNDARY_UNSUPPORTED = (
    "With this config the connector cannot define its own transaction boundaries: set "
    "transaction.boundary to poll or interval."
)


def _exactly_once_checks(props: Mapping[str, Any], res: _Resolution, add: Any) -> None:
    """Kafka's preflight checks for exactly-once sources (KIP-618): ``required`` asks the
    connector's ``exactly_once_support``; connector-defined boundaries are not supported."""
    if str(props.get("transaction.boundary", "")).strip().lower() == "connector":
        add("transaction.boundary", _BOUNDARY_UNSUPPORTED)
    if str(props.get("exactly.once.support", "")).strip().lower() != "required" or res.connector is None:
        return
    try:
        supported = res.connector().exactly_once_support(dict(props))
    except Exception as e:
        add("exactly.once.support", f"An unexpected error occurred during validation: {e}")
        return
    if supported is None:
        add("exactly.once.support", _EOS_UNKNOWN)
    elif not supported:
        add("exactly.once.support", _EOS_UNSUPPORTED)


def _validate(
    props: Mapping[str, Any], registry: Registry, pipeline_only: bool
) -> tuple[ConfigDef, dict[str, ConfigValue], _Resolution]:
    definition, res = _resolve_plugins(props, registry, pipeline_only)
    results = definition.validate(props)
    _cross_checks(props, results, res, registry)
    return definition, results, res


def config_key_info(key: ConfigKey) -> dict[str, Any]:
    """Kafka's ConfigKeyInfo JSON for one key (``order``, not ``order_in_group``)."""
    if key.required:
        default = None
    elif key.type is ConfigType.PASSWORD and key.default is not None:
        default = Password.HIDDEN
    else:
        default = to_config_string(key.default, key.type)
    return {
        "name": key.name,
        "type": key.type.value,
        "required": key.required,
        "default_value": default,
        "importance": key.importance.value,
        "documentation": key.doc,
        "group": key.group,
        "order": key.order_in_group,
        "width": key.width.value,
        "display_name": key.display_name or key.name,
        "dependents": list(key.dependents),
    }


def _value_info(cv: ConfigValue, key: ConfigKey | None) -> dict[str, Any]:
    value = cv.value
    if isinstance(value, Password) or (key is not None and key.type is ConfigType.PASSWORD and value is not None):
        shown: str | None = Password.HIDDEN
    else:
        shown = to_config_string(value)
    return {
        "name": cv.name,
        "value": shown,
        "recommended_values": [str(v) for v in cv.recommended_values],
        "errors": list(cv.errors),
        "visible": cv.visible,
    }


def _ordered_groups(definition: ConfigDef, kinds: set[str]) -> list[str]:
    base = [COMMON_GROUP, TRANSFORMS_GROUP, PREDICATES_GROUP, ERROR_GROUP]
    if "source" in kinds:
        base += [TOPIC_CREATION_GROUP, EXACTLY_ONCE_GROUP, OFFSETS_TOPIC_GROUP]
    rest = [g for g in definition.groups() if g not in base and g not in _BASE_GROUPS]
    aliased = [g for g in rest if g.startswith(("Transforms: ", "Predicates: "))]
    return base + aliased + [g for g in rest if g not in aliased]


def validate_connector_config(props: Mapping[str, Any], registry: Registry | None = None, *,
                              pipeline_only: bool = False) -> dict[str, Any]:
    """Kafka's ConfigInfos: ``name``, ``error_count``, ``groups``, ``configs``; never raises
    for a bad config. Keys no definition knows are ignored, as Kafka does."""
    registry = registry or Registry.default()
    definition, results, res = _validate(props, registry, pipeline_only)
    keys = definition.keys
    configs = []
    for name, cv in results.items():
        key = keys.get(name)
        configs.append({"definition": config_key_info(key) if key else None, "value": _value_info(cv, key)})
    return {
        "name": props.get("connector.class"),
        "error_count": sum(len(c["value"]["errors"]) for c in configs),
        "groups": _ordered_groups(definition, res.kinds),
        "configs": configs,
    }


def config_errors(infos: Mapping[str, Any]) -> dict[str, list[str]]:
    """The non-empty error lists of a ConfigInfos, by key (for 400 messages and the CLI)."""
    return {c["value"]["name"]: c["value"]["errors"] for c in infos["configs"] if c["value"]["errors"]}


@dataclass(frozen=True)
class ConnectorConfig:
    """A validated connector config: what a worker needs to build tasks and the pipeline."""

    name: str
    connector_class: type[Connector]
    type: str
    props: dict[str, str]
    values: Config

    @property
    def class_name(self) -> str:
        return self.connector_class.name or self.connector_class.__qualname__

    @property
    def topics(self) -> list[str]:
        return list(self.values.get("topics") or [])

    @property
    def topics_regex(self) -> str:
        return str(self.values.get("topics.regex") or "")

    @property
    def dlq_topic(self) -> str:
        return str(self.values.get("errors.deadletterqueue.topic.name") or "")

    @property
    def tasks_max(self) -> int:
        return int(self.values["tasks.max"])

    def error_policy(self) -> ErrorPolicy:
        return ErrorPolicy.from_config(self.props)


def parse_connector_config(props: Mapping[str, Any], registry: Registry | None = None) -> ConnectorConfig:
    """Validate fully and return the parsed config, or raise one ConfigException naming
    every bad key (the message lists them one per line, like Kafka's 400 on create)."""
    registry = registry or Registry.default()
    definition, results, _ = _validate(props, registry, False)
    errors = {k: cv.errors for k, cv in results.items() if cv.errors}
    if errors:
        count = sum(len(v) for v in errors.values())
        lines = "\n".join(m for msgs in errors.values() for m in msgs)
        raise ConfigException(
            f"The connector config has {count} error(s):\n{lines}", errors
        )
    connector = registry.resolve(str(props["connector.class"]), {"source", "sink"})
    kind = "source" if "source" in kinds_of(connector) else "sink"
    values = Config(definition, {k: cv.value for k, cv in results.items()}, props)
    return ConnectorConfig(str(values["name"]), connector, kind, {k: str(v) for k, v in props.items()}, values)
