"""Cold start is a feature: each Lambda handler, imported as Lambda imports it (fresh interpreter,
the template's environment), loads only what its first invocation needs and touches no network.

Heavy libraries that only some connectors or converters use (SQLAlchemy and the database
drivers, Avro, the schema-registry client and its HTTP stack, X-Ray, pydantic) must wait for the
plugin that needs them; the Kafka client waits for the first DLQ write, offsets request or topic
listing; the AWS SDK is loaded only when the state store or the platform is an AWS service.
The environments and the probe come from ``bench/cold_start.py``, the benchmark that reports
the numbers, so the contract and the measurements always see the same start-up.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from dataclasses import replace
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Never needed before a connector's plugin runs.
PLUGIN_ONLY = (
    "sqlalchemy", "psycopg", "pymysql", "fastavro", "avro", "jsonschema", "confluent_kafka.schema_registry",
    "httpx", "requests", "aws_xray_sdk", "pydantic", "lambda_connect.plugins.connectors",
)
#: Powertools utilities the handlers do without: the package reads Kafka events, HTTP API events and
#: secrets itself (aws/kafka_event.py, rest/http_api.py, aws/secrets.py), and these pull in boto3 or
#: pydantic or cost 70-130 ms each (reference/aws-serverless.md 5.5).
POWERTOOLS_UNUSED = tuple(f"aws_lambda_powertools.{m}" for m in (
    "event_handler", "utilities.parameters", "utilities.idempotency", "utilities.data_classes", "utilities.batch",
    "utilities.kafka", "utilities.parser", "utilities.validation",
))
#: librdkafka: needed by these functions only for a DLQ write, sink offsets or ``topics.regex``.
KAFKA_CLIENT = ("confluent_kafka",)
#: The AWS SDK proper (Powertools imports the bare ``botocore`` package to tag its user agent).
AWS_SDK = ("boto3", "botocore.client", "botocore.session", "s3transfer")

FORBIDDEN = {
    "sink_task": PLUGIN_ONLY + POWERTOOLS_UNUSED + KAFKA_CLIENT,
    "source_task": PLUGIN_ONLY + POWERTOOLS_UNUSED,
    "connector_api": PLUGIN_ONLY + POWERTOOLS_UNUSED + KAFKA_CLIENT,
    "reconciler": PLUGIN_ONLY + POWERTOOLS_UNUSED + KAFKA_CLIENT,
}
#: With ``memory://`` state nothing but the reconciler (Lambda and Scheduler clients) needs AWS.
NEEDS_AWS_WITHOUT_DYNAMODB = {"reconciler"}


@cache
def bench() -> ModuleType:
    path = ROOT / "bench" / "cold_start.py"
    spec = importlib.util.spec_from_file_location("lambda_connect_bench_cold_start", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@cache
def targets(profile: str) -> dict[str, object]:
    return {t.name: t for t in bench().handler_targets(profile)}


@cache
def probed(profile: str, name: str) -> object:
    return bench().probe(targets(profile)[name])


CASES = [(profile, name) for profile in ("template", "memory") for name in sorted(FORBIDDEN)]


def test_every_template_function_is_covered() -> None:
    assert set(targets("template")) == set(FORBIDDEN), "a function was added or renamed: give it its import contract"


@pytest.mark.parametrize("profile", ["template", "memory"])
def test_environments_are_the_templates_and_stay_on_loopback(profile: str) -> None:
    for name, target in targets(profile).items():
        env = target.environment
        assert all(isinstance(v, str) and "${" not in v for v in env.values()), (name, env)
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "lambda-connect"
        assert env["LAMBDA_CONNECT_BOOTSTRAP_SERVERS"] == "127.0.0.1:9"
        assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        expected_state = "dynamodb://" if profile == "template" else "memory://"
        assert env["LAMBDA_CONNECT_STATE_URL"].startswith(expected_state), (name, env["LAMBDA_CONNECT_STATE_URL"])
    reconciler = targets(profile)["reconciler"].environment
    assert reconciler["LAMBDA_CONNECT_SOURCE_FUNCTION_ARN"].startswith("arn:aws:lambda:")  # a !GetAtt stand-in


@pytest.mark.parametrize(("profile", "name"), CASES)
def test_handler_import_touches_no_network(profile: str, name: str) -> None:
    assert probed(profile, name).network == ()


@pytest.mark.parametrize(("profile", "name"), CASES)
def test_handler_import_loads_no_module_it_does_not_need(profile: str, name: str) -> None:
    found = probed(profile, name)
    assert "lambda_connect" in found.modules  # the probe really saw the handler's imports
    assert found.loaded(FORBIDDEN[name]) == []


@pytest.mark.parametrize("name", sorted(set(FORBIDDEN) - NEEDS_AWS_WITHOUT_DYNAMODB))
def test_aws_sdk_is_loaded_only_for_an_aws_state_store(name: str) -> None:
    assert probed("memory", name).loaded(AWS_SDK) == []


def _fake_function(tmp_path: Path, body: str) -> object:
    code_dir = tmp_path / "fn"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(textwrap.dedent(body))
    return replace(targets("memory")["sink_task"], code_dir=code_dir, logical_id="FakeFunction")


def test_probe_reports_a_network_attempt_at_import(tmp_path: Path) -> None:
    target = _fake_function(tmp_path, """
        import socket
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=1).close()
        except OSError:
            pass
    """)
    events = [event for event, _ in bench().probe(target).network]
    assert "socket.connect" in events


def test_probe_reports_a_heavy_module_loaded_at_import(tmp_path: Path) -> None:
    target = _fake_function(tmp_path, "import sqlalchemy\n")
    found = bench().probe(target)
    assert "sqlalchemy" in found.loaded(PLUGIN_ONLY)
    assert found.network == ()
