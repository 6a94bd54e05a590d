"""``validate`` (CLI offline, CLI against the REST API) runs the checks a task runs at start.

A RegexRouter whose replacement names ``$2`` of a one-group regex passes its ConfigDef, but
the transform refuses it when built: before, validation said "valid" and every task then
failed on its first record.
"""

from __future__ import annotations

import json
from pathlib import Path

from lambda_connect.runtime.validation import validate_connector_config

from tests.unit.cli.test_plugins_validate_remote import Endpoint, Run, _write, endpoint, run  # noqa: F401

_ROUTER = "org.apache.kafka.connect.transforms.RegexRouter"


def _config(replacement: str) -> dict[str, str]:
    return {"name": "f", "connector.class": "FileStreamSink", "topics": "orders", "transforms": "route",
            "transforms.route.type": _ROUTER, "transforms.route.regex": "orders-(.*)",
            "transforms.route.replacement": replacement}


def _errors(result: dict) -> dict[str, list[str]]:
    return {c["value"]["name"]: c["value"]["errors"] for c in result["configs"] if c["value"]["errors"]}


def test_a_replacement_naming_a_missing_group_is_refused_with_the_group_count() -> None:
    result = validate_connector_config(_config("archive-$2"))
    assert result["error_count"] == 1
    (message,) = _errors(result)["transforms.route.replacement"]
    assert "No group 2" in message and "has 1 group(s)" in message


def test_a_replacement_the_regex_can_fill_is_valid() -> None:
    assert validate_connector_config(_config("archive-$1"))["error_count"] == 0


def test_a_bad_converter_setting_is_reported_once_under_its_key() -> None:
    props = {"name": "f", "connector.class": "FileStreamSink", "topics": "t",
             "value.converter": "org.apache.kafka.connect.storage.StringConverter",
             "value.converter.converter.encoding": "no-such-charset"}
    errors = _errors(validate_connector_config(props))
    assert list(errors) == ["value.converter.converter.encoding"], errors


def test_cli_validate_offline_and_remote_both_name_the_bad_replacement(
    endpoint: Endpoint, run: Run, tmp_path: Path  # noqa: F811
) -> None:
    path = _write(tmp_path, "router.json", _config("archive-$2"))
    offline = run(["validate", "--config", path])
    remote = run(["validate", "--config", path, "--url", endpoint.url])
    assert offline == remote
    code, out, _ = offline
    assert code == 2
    assert "transforms.route.replacement:" in out and "No group 2" in out
    code, out, _ = run(["validate", "--config", path, "--output", "json"])
    assert code == 2 and json.loads(out)["error_count"] == 1


def test_a_fractional_batching_window_is_refused_with_the_range_lambda_accepts() -> None:
    props = {"name": "f", "connector.class": "FileStreamSink", "topics": "t",
             "lambda.maximum.batching.window.seconds": "0.5"}
    (message,) = _errors(validate_connector_config(props))["lambda.maximum.batching.window.seconds"]
    assert "Not a number of type INT" in message
    assert "takes whole numbers in [0,...,300]" in message
