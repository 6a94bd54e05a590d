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
    _k("name", ConfigType.STRING, REQUIRED, "Globally unique name to use for this connector.", COMMON_GROUP, 1,
       "Connector name", validator=LambdaValidator(_check_name, "non-empty string without ISO control characters")),
    _k("connector.class", ConfigType.STRING, REQUIRED,
       "Name or alias of the class for this connector. Must be a subclass of SinkConnector or SourceConnector. "
       "The full class name (e.g. org.apache.kafka.connect.file.FileStreamSinkConnector), its simple name "
       "(FileStreamSinkConnector) or the simple name without the Connector suffix (FileStreamSink) is accepted.",
       COMMON_GROUP, 2, "Connector class", width=Width.LONG),
    _k("tasks.max", ConfigType.INT, "1", "Maximum number of tasks to use for this connector.", COMMON_GROUP, 3,
       "Tasks max", validator=Range.at_least(1), width=Width.SHORT),
    _k("tasks.max.enforce", ConfigType.BOOLEAN, "true",
       "(Deprecated) Whether to enforce that the tasks.max property is respected by the connector. "
       "By default, connectors that generate too many tasks will fail.",
       COMMON_GROUP, 4, "Enforce tasks max", importance=Importance.LOW, width=Width.SHORT),
    _k("key.converter", ConfigType.CLASS, None,
       "Converter class used to convert between Kafka Connect format and the serialized form that is written to "
       "Kafka. This controls the format of the keys in messages written to or read from Kafka. Unset: env "
       "LAMBDA_CONNECT_KEY_CONVERTER, else org.apache.kafka.connect.json.JsonConverter.",
       COMMON_GROUP, 5, "Key converter class", importance=Importance.LOW, width=Width.SHORT),
    _k("value.converter", ConfigType.CLASS, None,
       "Converter class used to convert between Kafka Connect format and the serialized form that is written to "
       "Kafka. This controls the format of the values in messages written to or read from Kafka. Unset: env "
       "LAMBDA_CONNECT_VALUE_CONVERTER, else org.apache.kafka.connect.json.JsonConverter.",
       COMMON_GROUP, 6, "Value converter class", importance=Importance.LOW, width=Width.SHORT),
    _k("header.converter", ConfigType.CLASS, None,
       "HeaderConverter class used to convert between Kafka Connect format and the serialized form that is written "
       "to Kafka. Unset: org.apache.kafka.connect.storage.SimpleHeaderConverter.",
       COMMON_GROUP, 7, "Header converter class", importance=Importance.LOW, width=Width.SHORT),
    _k("config.action.reload", ConfigType.STRING, "restart",
       "The action that Connect should take on the connector when changes in external configuration providers "
       "result in a change in the connector's configuration properties. A value of 'none' indicates that Connect "
       "will do nothing. A value of 'restart' indicates that Connect should restart/reload the connector with the "
       "updated configuration properties.",
       COMMON_GROUP, 8, "Reload Action", validator=ValidString("none", "restart"), importance=Importance.LOW),
    _k("transforms", ConfigType.LIST, "", "Aliases for the transformations to be applied to records.",
       TRANSFORMS_GROUP, 1, "Transforms", importance=Importance.LOW, width=Width.LONG,
       validator=LambdaValidator(_unique_list, "unique transformation aliases")),
    _k("predicates", ConfigType.LIST, "", "Aliases for the predicates used by transformations.",
       PREDICATES_GROUP, 1, "Predicates", importance=Importance.LOW, width=Width.LONG,
       validator=LambdaValidator(_unique_list, "unique predicate aliases")),
    _k("errors.retry.timeout", ConfigType.LONG, "0",
       "The maximum duration in milliseconds that a failed operation will be reattempted. The default is 0, which "
       "means no retries will be attempted. Use -1 for infinite retries.",
       ERROR_GROUP, 1, "Retry Timeout for Errors", importance=Importance.MEDIUM),
    _k("errors.retry.delay.max.ms", ConfigType.LONG, "60000",
       "The maximum duration in milliseconds between consecutive retry attempts. Jitter will be added to the delay "
       "once this limit is reached to prevent thundering herd issues.",
       ERROR_GROUP, 2, "Maximum Delay Between Retries for Errors", importance=Importance.MEDIUM),
    _k("errors.tolerance", ConfigType.STRING, "none",
       "Behavior for tolerating errors during connector operation. 'none' is the default value and signals that any "
       "error will result in an immediate connector task failure; 'all' changes the behavior to skip over "
       "problematic records.",
       ERROR_GROUP, 3, "Error Tolerance", validator=ValidString("none", "all"), importance=Importance.MEDIUM,
       width=Width.SHORT),
    _k("errors.log.enable", ConfigType.BOOLEAN, "false",
       "If true, write each error and the details of the failed operation and problematic record to the Connect "
       "application log. This is 'false' by default, so that only errors that are not tolerated are reported.",
       ERROR_GROUP, 4, "Log Errors", importance=Importance.MEDIUM, width=Width.SHORT),
    _k("errors.log.include.messages", ConfigType.BOOLEAN, "false",
       "Whether to include in the log the Connect record that resulted in a failure. For sink records, the topic, "
       "partition, offset, and timestamp will be logged. For source records, the key and value (and their schemas), "
       "all headers, and the timestamp, Kafka topic, Kafka partition, source partition, and source offset will be "
       "logged. This is 'false' by default, which will prevent record keys, values, and headers from being written "
       "to log files.",
       ERROR_GROUP, 5, "Log Error Details", importance=Importance.MEDIUM, width=Width.SHORT),
)

SINK = ConfigDef(
    _k("topics", ConfigType.LIST, "",
       "List of topics to consume, separated by commas", COMMON_GROUP, 4, "Topics", width=Width.LONG),
    _k("topics.regex", ConfigType.STRING, "",
       "Regular expression giving topics to consume. Under the hood, the regex is compiled to a pattern and matched "
       "against whole topic names. Only one of topics or topics.regex should be specified.",
       COMMON_GROUP, 4, "Topics regex", validator=ValidRegex(), width=Width.LONG),
    _k("errors.deadletterqueue.topic.name", ConfigType.STRING, "",
       "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error when "
       "processed by this sink connector, or its transformations or converters. The topic name is blank by default, "
       "which means that no messages are to be recorded in the DLQ.",
       ERROR_GROUP, 6, "Dead Letter Queue Topic Name", importance=Importance.MEDIUM),
    _k("errors.deadletterqueue.topic.replication.factor", ConfigType.SHORT, "3",
       "Replication factor used to create the dead letter queue topic when it doesn't already exist.",
       ERROR_GROUP, 7, "Dead Letter Queue Topic Replication Factor", importance=Importance.MEDIUM),
    _k("errors.deadletterqueue.context.headers.enable", ConfigType.BOOLEAN, "false",
       "If true, add headers containing error context to the messages written to the dead letter queue. To avoid "
       "clashing with headers from the original record, all error context header keys, all error context header "
       "keys will start with __connect.errors.",
       ERROR_GROUP, 8, "Enable Error Context Headers", importance=Importance.MEDIUM),
)


def _at_least_minus_one_or_positive(name: str, value: Any) -> None:
    if value is not None and value != -1 and value < 1:
        raise ConfigException.for_key(name, value, "Value must be -1 or at least 1")


SOURCE = ConfigDef(
    _k("topic.creation.groups", ConfigType.LIST, "",
       "Groups of configurations for topics created by source connectors", TOPIC_CREATION_GROUP, 1,
       "Topic Creation Groups", importance=Importance.LOW, width=Width.LONG,
       validator=LambdaValidator(_unique_list, "unique topic creation groups")),
    _k("exactly.once.support", ConfigType.STRING, "requested",
       "Permitted values are requested, required. If set to \"required\", forces a preflight check for the "
       "connector to ensure that it can provide exactly-once semantics with the given configuration.",
       EXACTLY_ONCE_GROUP, 1, "Exactly once support", importance=Importance.MEDIUM,
       validator=CaseInsensitiveValidString("requested", "required")),
    _k("transaction.boundary", ConfigType.STRING, "poll",
       "Permitted values are: poll, interval, connector. If set to 'poll', a new producer transaction will be "
       "started and committed for every batch of records that each task from this connector provides to Connect.",
       EXACTLY_ONCE_GROUP, 2, "Transaction Boundary", importance=Importance.MEDIUM,
       validator=CaseInsensitiveValidString("poll", "interval", "connector")),
    _k("transaction.boundary.interval.ms", ConfigType.LONG, None,
       "If 'transaction.boundary' is set to 'interval', determines the interval for producer transaction commits "
       "by connector tasks. If unset, defaults to the value of the worker-level 'offset.flush.interval.ms' property.",
       EXACTLY_ONCE_GROUP, 3, "Transaction boundary interval", importance=Importance.LOW,
       validator=Range.at_least(0)),
    _k("offsets.storage.topic", ConfigType.STRING, None,
       "The name of a separate offsets topic to use for this connector. If empty or not specified, the worker's "
       "global offsets topic name will be used.",
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
