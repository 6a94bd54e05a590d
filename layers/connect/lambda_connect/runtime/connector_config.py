"""The connector-level configuration keys, with Kafka Connect's names, groups and docs.

``COMMON`` is Kafka's ``ConnectorConfig``, ``SINK`` its ``SinkConnectorConfig`` additions,
``SOURCE`` its ``SourceConnectorConfig`` additions. A connector's own ``config_def`` is
added on top (plugin definitions win on a name clash, as in Kafka).

Converter defaults differ from Kafka on purpose: Kafka falls back to the worker's
``key.converter``/``value.converter``, and lambda-connect has no worker config. An unset
converter therefore comes from env ``LAMBDA_CONNECT_KEY_CONVERTER`` /
``LAMBDA_CONNECT_VALUE_CONVERTER`` (the Lambda function's environment plays the worker),
else ``org.apache.kafka.connect.json.JsonConverter``; the header converter defaults to
``org.apache.kafka.connect.storage.SimpleHeaderConverter`` exactly as Kafka's worker does.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lambda_connect.api.config import (
    REQUIRED,
    CaseInsensitiveValidString,
    ConfigDef,
    ConfigKey,
    ConfigType,
    Importance,
    LambdaValidator,
    NonEmptyString,
    Range,
    ValidRegex,
    ValidString,
    Width,
)
from lambda_connect.api.errors import ConfigException

__all__ = [
    "COMMON",
    "COMMON_GROUP",
    "DEFAULT_CONVERTER",
    "DEFAULT_HEADER_CONVERTER",
    "ERROR_GROUP",
    "EXACTLY_ONCE_GROUP",
    "OFFSETS_TOPIC_GROUP",
    "PREDICATES_GROUP",
    "SINK",
    "SOURCE",
    "TOPIC_CREATION_GROUP",
    "TRANSFORMS_GROUP",
    "base_definition",
    "default_converter",
]

COMMON_GROUP = "Common"
TRANSFORMS_GROUP = "Transforms"
PREDICATES_GROUP = "Predicates"
ERROR_GROUP = "Error Handling"
TOPIC_CREATION_GROUP = "Topic Creation"
EXACTLY_ONCE_GROUP = "Exactly Once Support"
OFFSETS_TOPIC_GROUP = "offsets.topic"

DEFAULT_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
DEFAULT_HEADER_CONVERTER = "org.apache.kafka.connect.storage.SimpleHeaderConverter"


def default_converter(is_key: bool) -> str:
    """The converter used when the connector config names none (see module docstring)."""
    env = "LAMBDA_CONNECT_KEY_CONVERTER" if is_key else "LAMBDA_CONNECT_VALUE_CONVERTER"
    return os.environ.get(env, "").strip() or DEFAULT_CONVERTER


def _check_name(name: str, value: Any) -> None:
    """Kafka's connector-name rule: non-empty, no ISO control characters."""
    if value is None or not str(value).strip():
        raise ConfigException.for_key(name, value, "String may not be empty")
    if any(unicodedata.category(ch) == "Cc" for ch in str(value)):
        raise ConfigException.for_key(name, value, "String may not contain control sequences")


def _unique_list(name: str, value: Any) -> None:
    seen: set[str] = set()
    for alias in value or []:
        if alias in seen:
            raise ConfigException.for_key(name, ",".join(value), "Duplicate alias provided.")
        seen.add(alias)


def _k(
    name: str, type_: ConfigType, default: Any, doc: str, group: str, order: int, display: str, **kw: Any
) -> ConfigKey:
    return ConfigKey(
        name=name,
        type=type_,
        default=default,
        doc=doc,
        group=group,
        order_in_group=order,
        display_name=display,
        width=kw.pop("width", Width.MEDIUM),
        importance=kw.pop("importance", Importance.HIGH),
        **kw,
    )


COMMON = ConfigDef(
    _k("name", ConfigType.STRING, REQUIRED, "The connector's name; no two connectors of one deployment share it.",
       COMMON_GROUP, 1, "Connector name",
       validator=LambdaValidator(_check_name, "non-empty string without ISO control characters")),
    _k("connector.class", ConfigType.STRING, REQUIRED,
       "Which connector plugin to run, a sink or a source. Give the full Kafka class name "
       "(org.apache.kafka.connect.file.FileStreamSinkConnector), the simple name (FileStreamSinkConnector) or "
       "the simple name less its Connector suffix (FileStreamSink).",
       COMMON_GROUP, 2, "Connector class", width=Width.LONG),
    _k("tasks.max", ConfigType.INT, "1", "Upper bound on the tasks this connector runs in parallel.", COMMON_GROUP, 3,
       "Tasks max", validator=Range.at_least(1), width=Width.SHORT),
    _k("tasks.max.enforce", ConfigType.BOOLEAN, "true",
       "(Deprecated) true: a connector that asks for more tasks than tasks.max fails; false: the surplus "
       "is tolerated.",
       COMMON_GROUP, 4, "Enforce tasks max", importance=Importance.LOW, width=Width.SHORT),
    _k("key.converter", ConfigType.CLASS, None,
       "Converter between record keys and the bytes of Kafka message keys, both ways. Unset: the env "
       "LAMBDA_CONNECT_KEY_CONVERTER, else org.apache.kafka.connect.json.JsonConverter.",
       COMMON_GROUP, 5, "Key converter class", importance=Importance.LOW, width=Width.SHORT),
    _k("value.converter", ConfigType.CLASS, None,
       "Converter between record values and the bytes of Kafka message values, both ways. Unset: the env "
       "LAMBDA_CONNECT_VALUE_CONVERTER, else org.apache.kafka.connect.json.JsonConverter.",
       COMMON_GROUP, 6, "Value converter class", importance=Importance.LOW, width=Width.SHORT),
    _k("header.converter", ConfigType.CLASS, None,
       "Converter between record header values and Kafka header bytes. Unset: "
       "org.apache.kafka.connect.storage.SimpleHeaderConverter.",
       COMMON_GROUP, 7, "Header converter class", importance=Importance.LOW, width=Width.SHORT),
    _k("config.action.reload", ConfigType.STRING, "restart",
       "What happens when a value that came from a config provider changes: 'restart' reloads the connector "
       "with the new values, 'none' leaves it running as it is.",
       COMMON_GROUP, 8, "Reload Action", validator=ValidString("none", "restart"), importance=Importance.LOW),
    _k("transforms", ConfigType.LIST, "", "Names of the SMTs to run on each record, in order; each is set up under "
       "transforms.<name>.*.",
       TRANSFORMS_GROUP, 1, "Transforms", importance=Importance.LOW, width=Width.LONG,
       validator=LambdaValidator(_unique_list, "unique transformation aliases")),
    _k("predicates", ConfigType.LIST, "", "Names of the predicates the SMTs refer to; each is set up under "
       "predicates.<name>.*.",
       PREDICATES_GROUP, 1, "Predicates", importance=Importance.LOW, width=Width.LONG,
       validator=LambdaValidator(_unique_list, "unique predicate aliases")),
    _k("errors.retry.timeout", ConfigType.LONG, "0",
       "How long, in ms, a failing operation keeps being retried: 0 (the default) retries nothing, -1 "
       "retries without end.",
       ERROR_GROUP, 1, "Retry Timeout for Errors", importance=Importance.MEDIUM),
    _k("errors.retry.delay.max.ms", ConfigType.LONG, "60000",
       "Cap, in ms, on the pause between two retries; the pause doubles up to it, and random jitter is added "
       "at the cap so that many tasks do not retry in step.",
       ERROR_GROUP, 2, "Maximum Delay Between Retries for Errors", importance=Importance.MEDIUM),
    _k("errors.tolerance", ConfigType.STRING, "none",
       "'none' (the default): the first failing record fails the task. 'all': failing records are skipped "
       "(and dead-lettered when a DLQ topic is set) and the rest go on.",
       ERROR_GROUP, 3, "Error Tolerance", validator=ValidString("none", "all"), importance=Importance.MEDIUM,
       width=Width.SHORT),
    _k("errors.log.enable", ConfigType.BOOLEAN, "false",
       "true: every failure is logged with the operation and the record it hit, tolerated ones included; "
       "false (the default): only failures that stop the task are logged.",
       ERROR_GROUP, 4, "Log Errors", importance=Importance.MEDIUM, width=Width.SHORT),
    _k("errors.log.include.messages", ConfigType.BOOLEAN, "false",
       "true: error logs also show the failing record (sink records: topic, partition, offset, timestamp; "
       "source records: key, value, schemas, headers, timestamp, target topic and partition, source partition "
       "and offset). false (the default) keeps record contents out of the logs.",
       ERROR_GROUP, 5, "Log Error Details", importance=Importance.MEDIUM, width=Width.SHORT),
)

SINK = ConfigDef(
    _k("topics", ConfigType.LIST, "",
       "Comma list of the topics this sink reads.", COMMON_GROUP, 4, "Topics", width=Width.LONG),
    _k("topics.regex", ConfigType.STRING, "",
       "Regular expression for the topics this sink reads; it must match a whole topic name. Set either "
       "this or topics, not both.",
       COMMON_GROUP, 4, "Topics regex", validator=ValidRegex(), width=Width.LONG),
    _k("errors.deadletterqueue.topic.name", ConfigType.STRING, "",
       "Topic that receives the records this sink could not convert, transform or write, when "
       "errors.tolerance=all. Empty (the default): no dead letter queue.",
       ERROR_GROUP, 6, "Dead Letter Queue Topic Name", importance=Importance.MEDIUM),
    _k("errors.deadletterqueue.topic.replication.factor", ConfigType.SHORT, "3",
       "Replication factor for the dead letter queue topic if it has to be created.",
       ERROR_GROUP, 7, "Dead Letter Queue Topic Replication Factor", importance=Importance.MEDIUM),
    _k("errors.deadletterqueue.context.headers.enable", ConfigType.BOOLEAN, "false",
       "true: each dead-lettered record carries headers saying where and why it failed (original topic, "
       "partition, offset, stage, exception); their names all start with __connect.errors., apart from the "
       "record's own headers.",
       ERROR_GROUP, 8, "Enable Error Context Headers", importance=Importance.MEDIUM),
)


def _at_least_minus_one_or_positive(name: str, value: Any) -> None:
    if value is not None and value != -1 and value < 1:
        raise ConfigException.for_key(name, value, "Value must be -1 or at least 1")


SOURCE = ConfigDef(
    _k("topic.creation.groups", ConfigType.LIST, "",
       "Names of extra topic-creation groups (topic.creation.<group>.*), checked in order before the "
       "default.", TOPIC_CREATION_GROUP, 1,
       "Topic Creation Groups", importance=Importance.LOW, width=Width.LONG,
       validator=LambdaValidator(_unique_list, "unique topic creation groups")),
    _k("exactly.once.support", ConfigType.STRING, "requested",
       "requested or required. required: the connector must confirm, before it starts, that it can deliver "
       "exactly once with this config, or the config is refused.",
       EXACTLY_ONCE_GROUP, 1, "Exactly once support", importance=Importance.MEDIUM,
       validator=CaseInsensitiveValidString("requested", "required")),
    _k("transaction.boundary", ConfigType.STRING, "poll",
       "poll, interval or connector: where exactly-once producer transactions begin and end. poll: one "
       "transaction per batch a task returns; interval: one per transaction.boundary.interval.ms; connector: "
       "the connector decides.",
       EXACTLY_ONCE_GROUP, 2, "Transaction Boundary", importance=Importance.MEDIUM,
       validator=CaseInsensitiveValidString("poll", "interval", "connector")),
    _k("transaction.boundary.interval.ms", ConfigType.LONG, None,
       "With transaction.boundary=interval, how often (ms) a task commits its transaction. Unset: the "
       "offset flush interval.",
       EXACTLY_ONCE_GROUP, 3, "Transaction boundary interval", importance=Importance.LOW,
       validator=Range.at_least(0)),
    _k("offsets.storage.topic", ConfigType.STRING, None,
       "Accepted so that configs copied from Kafka Connect load; source offsets live in the state table "
       "here, so no topic is read or written.",
       OFFSETS_TOPIC_GROUP, 1, "Offsets topic", importance=Importance.LOW,
       validator=NonEmptyString()),
)

TOPIC_CREATION_DEFAULT = ConfigDef(
    _k("topic.creation.default.replication.factor", ConfigType.SHORT, None,
       "Replication factor of topics created by source connectors (-1 = broker default).",
       TOPIC_CREATION_GROUP, 2, "Default replication factor",
       validator=LambdaValidator(_at_least_minus_one_or_positive, "-1 or [1,...]")),
    _k("topic.creation.default.partitions", ConfigType.INT, None,
       "Number of partitions of topics created by source connectors (-1 = broker default).",
       TOPIC_CREATION_GROUP, 3, "Default partition count",
       validator=LambdaValidator(_at_least_minus_one_or_positive, "-1 or [1,...]")),
)


def base_definition(kinds: set[str], props: Mapping[str, Any] | None = None) -> ConfigDef:
    """COMMON plus the sink or source additions for a connector of those kinds.

    For sources, the default topic-creation keys become required as soon as any
    ``topic.creation.*`` key is present (Kafka: topic creation is enabled by default).
    """
    definition = COMMON
    if "sink" in kinds:
        definition = definition + SINK
    if "source" in kinds:
        definition = definition + SOURCE
        creation = TOPIC_CREATION_DEFAULT
        if props is not None and any(k.startswith("topic.creation.") for k in props):
            creation = ConfigDef(*(replace(k, default=REQUIRED) for k in TOPIC_CREATION_DEFAULT))
        definition = definition + creation
    return definition
