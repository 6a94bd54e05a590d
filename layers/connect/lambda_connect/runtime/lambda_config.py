"""The ``lambda.*`` keys of a sink connector: how its Kafka event source mapping polls and fails.

Kafka Connect has no such keys: a worker's consumer settings play this part there. In
lambda-connect the event source mapping (ESM) *is* the consumer, so its knobs live in the
connector config, validated with the rest of it (group ``Lambda`` in
``PUT /connector-plugins/{p}/config/validate``) and applied by the reconciler.

Ranges and cross-field rules follow the Lambda API (reference aws-serverless.md §2.1, §2.4):
the error-handling controls — retry attempts, record age, bisect, partial batch responses and
a ``kafka://`` failure destination — only exist for ESMs in *provisioned* mode, so setting one
without ``lambda.provisioned.pollers.min``/``.max`` is a config error naming the key rather than
an ESM that AWS rejects at reconcile time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambda_connect.api.config import (
    CaseInsensitiveValidString,
    ConfigDef,
    ConfigKey,
    ConfigType,
    Importance,
    LambdaValidator,
    Range,
    Width,
    parse_type,
)
from lambda_connect.api.errors import ConfigException

__all__ = [
    "LAMBDA_CONFIG",
    "LAMBDA_GROUP",
    "ON_FAILURE_DESTINATION_ENV",
    "LambdaSettings",
    "lambda_config_errors",
    "lambda_settings",
]

LAMBDA_GROUP = "Lambda"
ON_FAILURE_DESTINATION_ENV = "LAMBDA_CONNECT_ON_FAILURE_DESTINATION"

BATCH_SIZE = "lambda.batch.size"
BATCHING_WINDOW = "lambda.maximum.batching.window.seconds"
STARTING_POSITION = "lambda.starting.position"
STARTING_TIMESTAMP = "lambda.starting.position.timestamp"
POLLERS_MIN = "lambda.provisioned.pollers.min"
POLLERS_MAX = "lambda.provisioned.pollers.max"
POLLER_GROUP = "lambda.poller.group"
RETRY_ATTEMPTS = "lambda.maximum.retry.attempts"
RECORD_AGE = "lambda.maximum.record.age.seconds"
BISECT = "lambda.bisect.batch.on.error"
REPORT_FAILURES = "lambda.report.batch.item.failures"
ON_FAILURE = "lambda.on.failure.destination"

_DESTINATION = re.compile(r"^(arn:aws[a-zA-Z-]*:(sqs|sns|s3):.+|kafka://[a-zA-Z0-9._-]+)$")
_POLLER_GROUP = re.compile(r"^[a-zA-Z0-9._-]{1,128}$")


def _record_age(name: str, value: Any) -> None:
    if value is not None and value != -1 and not 60 <= value <= 604_800:
        raise ConfigException.for_key(name, value, "Value must be -1 or between 60 and 604800")


def _destination(name: str, value: Any) -> None:
    if value and not _DESTINATION.match(str(value)):
        raise ConfigException.for_key(
            name, value, "Must be an SQS queue, SNS topic or S3 bucket ARN, or kafka://<topic>"
        )


def _poller_group(name: str, value: Any) -> None:
    if value and not _POLLER_GROUP.match(str(value)):
        raise ConfigException.for_key(name, value, "Must be 1-128 characters of letters, digits, '.', '_' or '-'")


def _key(name: str, type_: ConfigType, default: Any, order: int, display: str, doc: str, **kw: Any) -> ConfigKey:
    return ConfigKey(
        name=name, type=type_, default=default, doc=doc, group=LAMBDA_GROUP, order_in_group=order,
        display_name=display, importance=kw.pop("importance", Importance.MEDIUM),
        width=kw.pop("width", Width.SHORT), **kw,
    )


LAMBDA_CONFIG = ConfigDef(
    _key(BATCH_SIZE, ConfigType.INT, "100", 1, "Batch size",
         "Maximum number of records the event source mapping hands to one sink invocation (Lambda "
         "BatchSize; the 6 MB invoke payload also caps a batch).", validator=Range.between(1, 10_000)),
    _key(BATCHING_WINDOW, ConfigType.INT, None, 2, "Maximum batching window (s)",
         "Seconds the event source mapping gathers records before invoking (Lambda "
         "MaximumBatchingWindowInSeconds). Unset keeps Lambda's Kafka default of 0.5 s, which cannot be "
         "restored once another value was set.", validator=Range.between(0, 300)),
    _key(STARTING_POSITION, ConfigType.STRING, "TRIM_HORIZON", 3, "Starting position",
         "Where a new consumer group starts: TRIM_HORIZON (Kafka Connect's auto.offset.reset=earliest), "
         "LATEST or AT_TIMESTAMP. Ignored when the consumer group already has committed offsets. Changing it "
         "re-creates the event source mapping.",
         validator=CaseInsensitiveValidString("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")),
    _key(STARTING_TIMESTAMP, ConfigType.LONG, None, 4, "Starting position timestamp",
         "Epoch milliseconds to start from when lambda.starting.position=AT_TIMESTAMP.",
         validator=Range.at_least(0)),
    _key(POLLERS_MIN, ConfigType.INT, None, 5, "Minimum pollers",
         "Provisioned mode: minimum event pollers (1-200). Setting this or lambda.provisioned.pollers.max "
         "switches the mapping from on-demand to provisioned mode.", validator=Range.between(1, 200)),
    _key(POLLERS_MAX, ConfigType.INT, None, 6, "Maximum pollers",
         "Provisioned mode: maximum event pollers (1-2000; Lambda caps it at the partition count).",
         validator=Range.between(1, 2000)),
    _key(POLLER_GROUP, ConfigType.STRING, None, 7, "Poller group",
         "Provisioned mode: PollerGroupName, letting up to 100 mappings in one VPC share event poller units.",
         validator=LambdaValidator(_poller_group, "1-128 of [a-zA-Z0-9._-]")),
    _key(RETRY_ATTEMPTS, ConfigType.INT, None, 8, "Maximum retry attempts",
         "Provisioned mode: retries of a failed batch (-1 = until the records expire).",
         validator=Range.between(-1, 10_000)),
    _key(RECORD_AGE, ConfigType.INT, None, 9, "Maximum record age (s)",
         "Provisioned mode: records older than this are sent to the failure destination (-1 = no limit).",
         validator=LambdaValidator(_record_age, "-1 or [60,...,604800]")),
    _key(BISECT, ConfigType.BOOLEAN, "false", 10, "Bisect batch on error",
         "Provisioned mode: split a failed batch in two and retry each half."),
    _key(REPORT_FAILURES, ConfigType.BOOLEAN, "false", 11, "Report batch item failures",
         "Provisioned mode: the sink returns the first failed record and Lambda commits the records before it "
         "(FunctionResponseTypes=ReportBatchItemFailures)."),
    _key(ON_FAILURE, ConfigType.STRING, None, 12, "On-failure destination",
         "Where Lambda sends a batch it gave up on: an SQS, SNS or S3 ARN, or kafka://<topic> (provisioned mode, "
         "same cluster, not a consumed topic). Unset: env LAMBDA_CONNECT_ON_FAILURE_DESTINATION, else none.",
         validator=LambdaValidator(_destination, "SQS/SNS/S3 ARN or kafka://<topic>"), width=Width.LONG),
)

_PROVISIONED_ONLY = (RETRY_ATTEMPTS, RECORD_AGE, BISECT, REPORT_FAILURES)


@dataclass(frozen=True)
class LambdaSettings:
    """The parsed ``lambda.*`` keys; what an event source mapping (real or emulated) needs."""

    batch_size: int = 100
    batching_window_seconds: int | None = None
    starting_position: str = "TRIM_HORIZON"
    starting_position_timestamp_ms: int | None = None
    pollers_min: int | None = None
    pollers_max: int | None = None
    poller_group: str | None = None
    maximum_retry_attempts: int | None = None
    maximum_record_age_seconds: int | None = None
    bisect_batch_on_error: bool = False
    report_batch_item_failures: bool = False
    on_failure_destination: str | None = None

    @property
    def provisioned(self) -> bool:
        """Provisioned mode is on as soon as any poller setting is given."""
        return self.pollers_min is not None or self.pollers_max is not None or self.poller_group is not None


def _topics(props: Mapping[str, Any]) -> tuple[list[str], str]:
    try:
        topics = parse_type("topics", props.get("topics", ""), ConfigType.LIST) or []
    except ConfigException:
        topics = []
    return topics, str(props.get("topics.regex") or "").strip()


def _cross_errors(props: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    provisioned = any(values.get(k) is not None for k in (POLLERS_MIN, POLLERS_MAX, POLLER_GROUP))
    for key in _PROVISIONED_ONLY:
        value = values.get(key)
        if key in props and value is not None and value is not False and not provisioned:
            errors.setdefault(key, []).append(
                f"Invalid value {props[key]} for configuration {key}: event source mapping error handling "
                f"needs provisioned mode; set {POLLERS_MIN} and/or {POLLERS_MAX}"
            )
    lo, hi = values.get(POLLERS_MIN), values.get(POLLERS_MAX)
    if lo is not None and hi is not None and lo > hi:
        errors.setdefault(POLLERS_MAX, []).append(
            f"Invalid value {hi} for configuration {POLLERS_MAX}: must be at least {POLLERS_MIN} ({lo})"
        )
    position = str(values.get(STARTING_POSITION) or "").upper()
    has_ts = values.get(STARTING_TIMESTAMP) is not None
    if position == "AT_TIMESTAMP" and not has_ts:
        errors.setdefault(STARTING_TIMESTAMP, []).append(
            f'Missing required configuration "{STARTING_TIMESTAMP}" when {STARTING_POSITION}=AT_TIMESTAMP'
        )
    elif has_ts and position != "AT_TIMESTAMP":
        errors.setdefault(STARTING_TIMESTAMP, []).append(
            f"Invalid value {values[STARTING_TIMESTAMP]} for configuration {STARTING_TIMESTAMP}: "
            f"only used when {STARTING_POSITION}=AT_TIMESTAMP"
        )
    destination = str(values.get(ON_FAILURE) or "")
    if destination.startswith("kafka://"):
        topic = destination[len("kafka://"):]
        if not provisioned:
            errors.setdefault(ON_FAILURE, []).append(
                f"Invalid value {destination} for configuration {ON_FAILURE}: a Kafka topic destination needs "
                f"provisioned mode; set {POLLERS_MIN} and/or {POLLERS_MAX}"
            )
        topics, regex = _topics(props)
        matches_regex = False
        if regex:
            try:
                matches_regex = re.fullmatch(regex, topic) is not None
            except re.error:
                matches_regex = False
        if topic in topics or matches_regex:
            errors.setdefault(ON_FAILURE, []).append(
                f"Invalid value {destination} for configuration {ON_FAILURE}: the failure topic may not be one "
                f"of the topics consumed by the connector"
            )
    return errors


def lambda_config_errors(props: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every problem with the ``lambda.*`` keys of ``props``, by key (range and cross-field rules),
    for ``validate_connector_config`` to merge into its ConfigInfos."""
    results = LAMBDA_CONFIG.validate(props)
    errors = {name: list(cv.errors) for name, cv in results.items() if cv.errors}
    values = {name: cv.value for name, cv in results.items() if not cv.errors}
    for key, messages in _cross_errors(props, values).items():
        errors.setdefault(key, []).extend(messages)
    return errors


def lambda_settings(props: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> LambdaSettings:
    """Parse the ``lambda.*`` keys, or raise one ConfigException naming every bad key."""
    errors = lambda_config_errors(props)
    if errors:
        lines = "\n".join(m for msgs in errors.values() for m in msgs)
        raise ConfigException(lines, errors)
    v = LAMBDA_CONFIG.parse(props)
    destination = v[ON_FAILURE] or env.get(ON_FAILURE_DESTINATION_ENV, "").strip() or None
    return LambdaSettings(
        batch_size=v[BATCH_SIZE],
        batching_window_seconds=v[BATCHING_WINDOW],
        starting_position=str(v[STARTING_POSITION]).upper(),
        starting_position_timestamp_ms=v[STARTING_TIMESTAMP],
        pollers_min=v[POLLERS_MIN],
        pollers_max=v[POLLERS_MAX],
        poller_group=v[POLLER_GROUP] or None,
        maximum_retry_attempts=v[RETRY_ATTEMPTS],
        maximum_record_age_seconds=v[RECORD_AGE],
        bisect_batch_on_error=v[BISECT],
        report_batch_item_failures=v[REPORT_FAILURES],
        on_failure_destination=destination,
    )
