"""template.yaml: lint-clean, handlers importable, routes and settings wired to the code."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def _load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build = _load_script("build")
import_graph = _load_script("import_graph")

#: Fixed by the design: logical id → code directory (handler app.lambda_handler in each).
FUNCTIONS = {
    "ConnectorApiFunction": "functions/connector_api/",
    "ReconcilerFunction": "functions/reconciler/",
    "SinkTaskFunction": "functions/sink_task/",
    "SourceTaskFunction": "functions/source_task/",
}
#: events/ file name patterns that hold sample events for each function.
EVENTS = {
    "ConnectorApiFunction": "api-*.json",
    "ReconcilerFunction": "dynamodb-stream*.json",
    "SinkTaskFunction": "msk*.json",
    "SourceTaskFunction": "schedule*.json",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return build.load_template(TEMPLATE)


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    return subprocess.run([str(cfn_lint), "--", str(path)], capture_output=True, text=True, timeout=120, check=False)


def test_cfn_lint_reports_nothing() -> None:
    result = _lint(TEMPLATE)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_cfn_lint_does_catch_mistakes_in_this_template(tmp_path: Path) -> None:
    """The clean result above means something: the same linter flags a broken copy."""
    broken = TEMPLATE.read_text().replace("Runtime: python3.13", "Runtime: python3.9", 1)
    broken = broken.replace("StreamViewType: NEW_AND_OLD_IMAGES", "StreamViewType: EVERYTHING", 1)
    path = tmp_path / "template.yaml"
    path.write_text(broken)
    result = _lint(path)
    assert result.returncode != 0
    assert "python3.9" in result.stdout and "EVERYTHING" in result.stdout


def test_globals_are_python313_on_arm64_with_the_layer(template: dict[str, Any]) -> None:
    fn = template["Globals"]["Function"]
    assert fn["Runtime"] == "python3.13" and fn["Architectures"] == ["arm64"]
    assert fn["Layers"] == [{"Ref": "ConnectLayer"}]
    assert fn["Environment"]["Variables"]["LAMBDA_CONNECT_STATE_URL"] == {"Fn::Sub": "dynamodb://${StateTable}"}
    layer = template["Resources"]["ConnectLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["ContentUri"] == "layers/connect/"


def test_state_table_is_durable_and_streams_both_images(template: dict[str, Any]) -> None:
    table = template["Resources"]["StateTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionProtectionEnabled"] == {"Ref": "TableDeletionProtection"}
    keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
    assert keys == {"pk": "HASH", "sk": "RANGE"}  # state/dynamodb.py's default key attributes


def test_functions_and_handlers_are_the_designed_ones(template: dict[str, Any]) -> None:
    found = {k: v["Properties"]["CodeUri"] for k, v in build.functions_of(template).items()}
    assert found == FUNCTIONS
    for logical_id in FUNCTIONS:
        default = template["Globals"]["Function"]["Handler"]
        handler = template["Resources"][logical_id]["Properties"].get("Handler", default)
        assert handler == "app.lambda_handler"


def _placeholder_env(template: dict[str, Any], logical_id: str) -> dict[str, str]:
    """The function's environment with intrinsics replaced by values of the right shape."""
    samples = {
        "LAMBDA_CONNECT_STATE_URL": "dynamodb://lambda-connect-StateTable-TEST?region=us-east-1",
        "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "LAMBDA_CONNECT_KAFKA_AUTH": "none",
        "LAMBDA_CONNECT_SINK_FUNCTION": "lambda-connect-SinkTaskFunction-TEST",
        "LAMBDA_CONNECT_SOURCE_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:source",
        "LAMBDA_CONNECT_SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
        "LAMBDA_CONNECT_SCHEDULE_GROUP": "lambda-connect",
        "LAMBDA_CONNECT_ON_FAILURE_DESTINATION": "arn:aws:sqs:us-east-1:123456789012:failures",
    }
    env = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    env.update(template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {}))
    out = {}
    for key, value in env.items():
        out[key] = samples.get(key, value if isinstance(value, str) else "")
    return out


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_handler_imports_and_exposes_lambda_handler(template: dict[str, Any], logical_id: str) -> None:
    """Import each handler as Lambda would: a fresh interpreter, the template's environment.

    AWS endpoints point at a closed loopback port, so an import that talks to AWS fails here
    instead of silently reaching the internet.
    """
    code_dir = ROOT / FUNCTIONS[logical_id]
    app = code_dir / "app.py"
    assert app.is_file(), f"{app.relative_to(ROOT)} is missing"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDA_CONNECT_"))},
        **_placeholder_env(template, logical_id),
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "PYTHONPATH": str(code_dir),
    }
    probe = "import app, inspect; h = app.lambda_handler; print(list(inspect.signature(h).parameters))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=code_dir, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(json.loads(result.stdout.strip().replace("'", '"'))) == 2  # (event, context)


def _env_names_read_by(logical_id: str, template: dict[str, Any]) -> set[str]:
    code_dir = ROOT / FUNCTIONS[logical_id]
    reach = import_graph.reachable_modules(code_dir / "app.py", ROOT / "layers" / "connect")
    names: set[str] = set()
    for info in [reach.entry, *reach.modules.values()]:
        for node in ast.walk(info.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names |= set(re.findall(r"\b(LAMBDA_CONNECT_[A-Z0-9_]+|POWERTOOLS_[A-Z_]+)\b", node.value))
    return names


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_environment_variable_set_is_one_the_code_reads(template: dict[str, Any], logical_id: str) -> None:
    """A misspelt variable would be silently ignored (and LAMBDA_CONNECT_KAFKA_* would even
    become a librdkafka property), so each one set must appear in the code the function runs."""
    if not (ROOT / FUNCTIONS[logical_id] / "app.py").is_file():
        pytest.fail(f"{FUNCTIONS[logical_id]}app.py is missing")
    read = _env_names_read_by(logical_id, template)
    env = set(_placeholder_env(template, logical_id))
    powertools = {n for n in env if n.startswith("POWERTOOLS_")}  # read by Powertools itself
    if "${env:" in _config_provider_syntax():
        read |= FOR_CONNECTOR_CONFIGS
    unread = sorted(env - read - powertools)
    assert not unread, f"{logical_id} sets variables no reachable code reads: {unread}"


#: Set for connector configs to reference as ``${env:NAME}`` (runtime/config_providers.py),
#: e.g. ``"value.converter.schema.registry.url": "${env:LAMBDA_CONNECT_SCHEMA_REGISTRY_URL}"``.
FOR_CONNECTOR_CONFIGS = {"LAMBDA_CONNECT_SCHEMA_REGISTRY_URL"}


def _config_provider_syntax() -> str:
    return (ROOT / "layers/connect/lambda_connect/runtime/config_providers.py").read_text()


def _router_routes() -> list[tuple[str, str]]:
    from lambda_connect.rest import router

    routes = []
    for route in router.ROUTES:
        method = route[0] if isinstance(route, tuple) else route.method
        path = route[1] if isinstance(route, tuple) else getattr(route, "path", None) or route.template
        routes.append((str(method).upper(), str(path)))
    return routes


def _route_matches(route_key: str, method: str, path: str) -> bool:
    """API Gateway HTTP API matching for the route keys this stack uses."""
    key_method, key_path = route_key.split(" ", 1)
    if key_method not in {"ANY", method}:
        return False
    if key_path.endswith("/{proxy+}"):
        prefix = key_path[: -len("{proxy+}")]
        return path.startswith(prefix) and len(path) > len(prefix)
    return key_path == path


def test_every_rest_route_is_reachable_through_the_api_and_authorized(template: dict[str, Any]) -> None:
    routes = _router_routes()
    assert routes, "lambda_connect.rest.router.ROUTES is empty"
    api_routes = {
        logical_id: res["Properties"]
        for logical_id, res in template["Resources"].items()
        if res["Type"] == "AWS::ApiGatewayV2::Route"
    }
    console_files = {logical_id: props for logical_id, props in api_routes.items()
                     if props["AuthorizationType"] == "NONE"}
    for logical_id, props in console_files.items():
        # only the console's static files go without the authorizer, only with JWT auth, only GET
        assert template["Resources"][logical_id].get("Condition") == "UseJwt", logical_id
        assert props["RouteKey"] in {"GET /ui", "GET /ui/{proxy+}"}, props["RouteKey"]
    assert len(console_files) == 2
    for logical_id, props in api_routes.items():
        assert props["Target"] == {"Fn::Sub": "integrations/${ConnectApiIntegration}"}
        if logical_id not in console_files:
            assert props["AuthorizationType"] == {"Fn::If": ["UseJwt", "JWT", "AWS_IAM"]}, "API routes are authorized"
    integration = template["Resources"]["ConnectApiIntegration"]["Properties"]
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["ConnectorApiFunction", "Arn"]}
    assert integration["PayloadFormatVersion"] == "2.0"
    unreachable = []
    for method, path in routes:
        concrete = re.sub(r"\{[^}]+\}", "sample", path)
        if not any(_route_matches(p["RouteKey"], method, concrete) for p in api_routes.values()):
            unreachable.append(f"{method} {path}")
    assert not unreachable, f"router routes the HTTP API does not forward: {unreachable}"


def test_route_matching_rejects_what_api_gateway_would_not_forward() -> None:
    assert _route_matches("ANY /{proxy+}", "GET", "/connectors/x/status")
    assert not _route_matches("ANY /{proxy+}", "GET", "/")
    assert _route_matches("ANY /", "GET", "/")
    assert not _route_matches("GET /connectors", "PUT", "/connectors")


@pytest.mark.parametrize("logical_id", sorted(EVENTS))
def test_every_function_has_sample_events(logical_id: str) -> None:
    files = sorted((ROOT / "events").glob(EVENTS[logical_id]))
    assert files, f"events/{EVENTS[logical_id]} (a sample event for {logical_id}) is missing"
    for file in files:
        assert isinstance(json.loads(file.read_text()), dict), file.name


def test_samconfig_deploys_with_iam_capability_and_a_managed_bucket() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]
    assert "CAPABILITY_IAM" in deploy["capabilities"]
    assert deploy["resolve_s3"] is True
    assert config["default"]["global"]["parameters"]["stack_name"]
