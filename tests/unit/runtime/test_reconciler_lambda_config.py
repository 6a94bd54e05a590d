"""The ``lambda.*`` keys: parsing, ranges, cross-field rules, and their place in connector validation."""

from __future__ import annotations

import pytest
from lambda_connect.api.errors import ConfigException
from lambda_connect.runtime.lambda_config import LambdaSettings, lambda_config_errors, lambda_settings
from lambda_connect.runtime.platform import (
    assign_consumer_groups,
    connector_alias,
    consumer_group,
    schedule_name,
    schedule_rate_minutes,
)
from lambda_connect.runtime.validation import config_errors, validate_connector_config

PROVISIONED = {"lambda.provisioned.pollers.min": "1", "lambda.provisioned.pollers.max": "4"}


def test_defaults_match_lambda_and_kafka_connect() -> None:
    s = lambda_settings({}, env={})
    assert s == LambdaSettings()
    assert s.batch_size == 100 and s.starting_position == "TRIM_HORIZON" and not s.provisioned
    assert s.batching_window_seconds is None and s.on_failure_destination is None


def test_every_key_is_parsed() -> None:
    s = lambda_settings({
        **PROVISIONED, "lambda.batch.size": "10000", "lambda.maximum.batching.window.seconds": "300",
        "lambda.starting.position": "at_timestamp", "lambda.starting.position.timestamp": "1764028800000",
        "lambda.poller.group": "team-a", "lambda.maximum.retry.attempts": "0",
        "lambda.maximum.record.age.seconds": "60", "lambda.bisect.batch.on.error": "true",
        "lambda.report.batch.item.failures": "true",
        "lambda.on.failure.destination": "arn:aws:sqs:us-east-1:123456789012:dlq",
    }, env={})
    assert s.provisioned and (s.pollers_min, s.pollers_max, s.poller_group) == (1, 4, "team-a")
    assert s.starting_position == "AT_TIMESTAMP" and s.starting_position_timestamp_ms == 1764028800000
    assert s.maximum_retry_attempts == 0 and s.maximum_record_age_seconds == 60
    assert s.bisect_batch_on_error and s.report_batch_item_failures
    assert s.on_failure_destination == "arn:aws:sqs:us-east-1:123456789012:dlq"


def test_failure_destination_falls_back_to_the_environment() -> None:
    s = lambda_settings({}, env={"LAMBDA_CONNECT_ON_FAILURE_DESTINATION": "arn:aws:sns:us-east-1:1:t"})
    assert s.on_failure_destination == "arn:aws:sns:us-east-1:1:t"


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("lambda.batch.size", "0", "no less than 1"),
    ("lambda.batch.size", "10001", "no more than 10000"),
    ("lambda.maximum.batching.window.seconds", "301", "no more than 300"),
    ("lambda.starting.position", "EARLIEST", "TRIM_HORIZON, LATEST, AT_TIMESTAMP"),
    ("lambda.provisioned.pollers.min", "201", "no more than 200"),
    ("lambda.provisioned.pollers.max", "2001", "no more than 2000"),
    ("lambda.maximum.record.age.seconds", "59", "-1 or between 60 and 604800"),
    ("lambda.on.failure.destination", "https://example.com", "SQS queue, SNS topic or S3 bucket ARN"),
    ("lambda.poller.group", "bad name!", "1-128 characters"),
])
def test_out_of_range_values_name_the_key(key: str, value: str, fragment: str) -> None:
    errors = lambda_config_errors({**PROVISIONED, key: value})
    assert key in errors and any(fragment in m for m in errors[key]), errors


@pytest.mark.parametrize("key", [
    "lambda.maximum.retry.attempts", "lambda.maximum.record.age.seconds",
    "lambda.bisect.batch.on.error", "lambda.report.batch.item.failures",
])
def test_error_handling_controls_need_provisioned_mode(key: str) -> None:
    value = "true" if "batch" in key else "120"
    errors = lambda_config_errors({key: value})
    assert "needs provisioned mode" in errors[key][0]
    assert key not in lambda_config_errors({**PROVISIONED, key: value})


def test_switching_error_controls_off_needs_no_provisioned_mode() -> None:
    assert lambda_config_errors({"lambda.bisect.batch.on.error": "false"}) == {}


def test_cross_field_rules() -> None:
    errors = lambda_config_errors({"lambda.provisioned.pollers.min": "5", "lambda.provisioned.pollers.max": "2"})
    assert "must be at least lambda.provisioned.pollers.min" in errors["lambda.provisioned.pollers.max"][0]
    errors = lambda_config_errors({"lambda.starting.position": "AT_TIMESTAMP"})
    assert "Missing required configuration" in errors["lambda.starting.position.timestamp"][0]
    errors = lambda_config_errors({"lambda.starting.position.timestamp": "5"})
    assert "only used when" in errors["lambda.starting.position.timestamp"][0]
    errors = lambda_config_errors({"lambda.on.failure.destination": "kafka://failed"})
    assert "needs provisioned mode" in errors["lambda.on.failure.destination"][0]
    errors = lambda_config_errors({**PROVISIONED, "topics": "orders,failed",
                                   "lambda.on.failure.destination": "kafka://failed"})
    assert "may not be one of the topics" in errors["lambda.on.failure.destination"][0]


def test_lambda_settings_raise_one_exception_naming_every_key() -> None:
    with pytest.raises(ConfigException) as info:
        lambda_settings({"lambda.batch.size": "0", "lambda.bisect.batch.on.error": "true"}, env={})
    assert set(info.value.errors) == {"lambda.batch.size", "lambda.bisect.batch.on.error"}


def test_sink_validation_shows_the_lambda_group_and_its_errors() -> None:
    props = {"name": "s", "connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/x",
             "lambda.batch.size": "0", "lambda.report.batch.item.failures": "true"}
    infos = validate_connector_config(props)
    assert "Lambda" in infos["groups"]
    keys = {c["definition"]["name"]: c["definition"] for c in infos["configs"] if c["definition"]}
    assert keys["lambda.batch.size"]["group"] == "Lambda" and keys["lambda.batch.size"]["default_value"] == "100"
    errors = config_errors(infos)
    assert set(errors) >= {"lambda.batch.size", "lambda.report.batch.item.failures"}
    assert infos["error_count"] == 2


def test_source_validation_has_no_lambda_keys() -> None:
    props = {"name": "s", "connector.class": "FileStreamSource", "topic": "t", "file": "/tmp/x"}
    infos = validate_connector_config(props)
    assert "Lambda" not in infos["groups"] and infos["error_count"] == 0


def test_alias_names_are_valid_and_distinct() -> None:
    assert connector_alias("orders-sink") == "connect-orders-sink"
    odd = connector_alias("orders/eu sink")
    assert odd.startswith("connect-orders_eu_sink-") and len(odd) == len("connect-orders_eu_sink-") + 8
    assert connector_alias("orders_eu_sink") != odd
    long = connector_alias("x" * 300)
    assert len(long) == 128 and long != connector_alias("x" * 301)
    assert connector_alias("123") == "connect-123"  # never all digits


def test_consumer_groups_and_schedules_fit_aws_limits() -> None:
    assert consumer_group("orders") == "connect-orders"
    assert consumer_group("orders", "eu.orders") == "connect-orders-eu.orders"
    assert len(consumer_group("o" * 250)) == 200
    assert consumer_group("a b") != consumer_group("a_b")
    assert schedule_name("connect-lines", 3) == "connect-lines-task-3"
    long = schedule_name(connector_alias("l" * 100), 9999)
    assert len(long) <= 64 and long.endswith("-task-9999")
    assert [schedule_rate_minutes(ms) for ms in (0, 5000, 60000, 60001, 300000)] == [1, 1, 1, 2, 5]


def test_group_assignment_keeps_live_groups() -> None:
    assert assign_consumer_groups("c", ["a"], {}) == {"a": "connect-c"}
    assert assign_consumer_groups("c", ["a", "b"], {"a": "connect-c"}) == {"a": "connect-c", "b": "connect-c-b"}
    assert assign_consumer_groups("c", ["b"], {"a": "connect-c"}) == {"b": "connect-c"}
    assert assign_consumer_groups("c", ["a", "b"], {}) == {"a": "connect-c-a", "b": "connect-c-b"}
