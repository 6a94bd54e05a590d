"""Every function's IAM policies cover the AWS calls its code makes — derived from the code.

For each function in template.yaml the test walks the import graph from its handler file
through ``lambda_connect`` (scripts/import_graph.py), finds the boto3 clients the reachable
code creates (``boto3.client("svc")`` / ``session.client("svc")``) and every call of one of
those services' operations (names from botocore's own service models, so a new call is picked
up without editing this file), maps each to its IAM action, adds the Kafka data-plane actions
MSK IAM authorization checks for the confluent-kafka calls the code makes, and the needs of
the event sources wired to the function. Each required action must be allowed by the
function's policies after SAM policy-template expansion. A second test keeps the grants least
privilege: no wildcard actions, and ``Resource: "*"`` only where IAM offers nothing narrower.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = ROOT / "layers" / "connect"


def _load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


import_graph = _load_script("import_graph")
build = _load_script("build")

# --------------------------------------------------------------------------- what code reaches

#: Code a function can import but never runs in Lambda, with the reason.
NOT_RUN_IN_LAMBDA = {
    "lambda_connect.state.dynamodb.create_table": "CloudFormation creates the state table (StateTable)",
}
#: Connector plugins run only inside task invocations; the control plane validates configs
#: (pure functions of the config) but never starts a connector or a task.
TASK_ONLY = ("lambda_connect.plugins.connectors",)
CONTROL_PLANE = {"ConnectorApiFunction", "ReconcilerFunction"}

#: API operations whose IAM authorization uses other action names.
IAM_ACTIONS_OF = {
    "dynamodb:TransactWriteItems": [
        "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem",
    ],
    "dynamodb:TransactGetItems": ["dynamodb:GetItem"],
    "s3:ListObjectsV2": ["s3:ListBucket"],
    "s3:ListObjects": ["s3:ListBucket"],
    "s3:HeadObject": ["s3:GetObject"],
    "s3:HeadBucket": ["s3:ListBucket"],
    "s3:CreateMultipartUpload": ["s3:PutObject"],
    "s3:UploadPart": ["s3:PutObject"],
    "s3:CompleteMultipartUpload": ["s3:PutObject"],
    "s3:ListParts": ["s3:ListMultipartUploadParts"],
    "s3:DeleteObjects": ["s3:DeleteObject"],
    "s3:GetBucketLocation": ["s3:GetBucketLocation"],
}
#: boto3's hand-written helpers (not in the service model) and what they call.
BOTO3_HELPERS = {
    "s3": {
        "upload_file": ["s3:PutObject", "s3:AbortMultipartUpload"],
        "upload_fileobj": ["s3:PutObject", "s3:AbortMultipartUpload"],
        "download_file": ["s3:GetObject"],
        "download_fileobj": ["s3:GetObject"],
    },
}
#: confluent-kafka calls → the MSK IAM (kafka-cluster) actions the broker checks for them.
KAFKA_CALLS = {
    "produce": ["Connect", "DescribeTopic", "WriteData"],
    "init_transactions": ["Connect", "DescribeTransactionalId", "AlterTransactionalId"],
    "begin_transaction": ["AlterTransactionalId"],
    "commit_transaction": ["AlterTransactionalId"],
    "send_offsets_to_transaction": ["AlterTransactionalId", "AlterGroup"],
    "create_topics": ["Connect", "CreateTopic"],
    "list_topics": ["Connect", "DescribeTopic"],
    "describe_topics": ["Connect", "DescribeTopic"],
    "describe_cluster": ["Connect", "DescribeCluster"],
    "list_consumer_group_offsets": ["Connect", "DescribeGroup", "DescribeTopic"],
    "alter_consumer_group_offsets": ["Connect", "AlterGroup", "DescribeTopic"],
    "delete_consumer_groups": ["Connect", "DeleteGroup"],
    "describe_consumer_groups": ["Connect", "DescribeGroup"],
}
#: The Lambda poller of a Kafka event source mapping uses the target function's role.
KAFKA_MAPPING_NEEDS = [
    "kafka-cluster:Connect", "kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup",
    "kafka-cluster:DescribeTopic", "kafka-cluster:ReadData", "kafka-cluster:DescribeClusterDynamicConfiguration",
    "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers",
    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
    "ec2:DeleteNetworkInterface", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
    "secretsmanager:GetSecretValue", "kms:Decrypt",  # SASL/SCRAM secret (CMK-encrypted for MSK)
    "sqs:SendMessage",  # on-failure destination of the mappings (LAMBDA_CONNECT_ON_FAILURE_DESTINATION)
]


@dataclass(frozen=True)
class Call:
    action: str
    where: str


def _pascal(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method → API operation name, from botocore's model of ``service``."""
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


def _iam_prefix(service: str) -> str:
    import botocore.session

    return botocore.session.get_session().get_service_model(service).signing_name


def _string_arg(call: ast.Call) -> str | None:
    arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "service_name"), None)
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


class _CallScanner(ast.NodeVisitor):
    """Finds boto3 client creations and attribute calls, skipping code that never runs in Lambda."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.scope: list[str] = []
        self.functions: list[str] = []
        self.services: set[str] = set()
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []  # (method, location, enclosing functions)
        self.paginated: list[tuple[str, str, tuple[str, ...]]] = []
        self.referenced: set[str] = set()
        #: String constants, which name operations when a module dispatches with getattr().
        self.constants: list[tuple[str, str, tuple[str, ...]]] = []
        self.dynamic_dispatch = False

    def _skip(self) -> bool:
        qualnames = (f"{self.module}.{'.'.join(self.scope[: i + 1])}" for i in range(len(self.scope)))
        return any(q in NOT_RUN_IN_LAMBDA for q in qualnames)

    def _scoped(self, node: ast.AST, name: str) -> None:
        self.scope.append(name)
        if not self._skip():
            self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node.name)
        self._scoped(node, node.name)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Name(self, node: ast.Name) -> None:
        self.referenced.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.referenced.add(node.attr)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value.isidentifier() and self.functions:
            self.constants.append((node.value, f"{self.module}:{node.lineno}", tuple(self.functions)))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2:
            self.dynamic_dispatch |= not isinstance(node.args[1], ast.Constant)
        if isinstance(func, ast.Attribute):
            where = f"{self.module}:{node.lineno}"
            enclosing = tuple(self.functions)
            if func.attr == "client" and (service := _string_arg(node)):
                self.services.add(service)
            elif func.attr == "get_paginator" and (op := _string_arg(node)):
                self.paginated.append((op, where, enclosing))
            else:
                self.calls.append((func.attr, where, enclosing))
        self.generic_visit(node)


def _scope(module: str) -> str:
    """Which code can hold a client created in ``module``.

    A connector plugin may import only ``lambda_connect.api`` and third-party libraries, so it
    creates its own clients and never receives the runtime's: each connector package is a
    scope of its own. Runtime, state and aws code pass clients around among themselves.
    """
    parts = module.split(".")
    if parts[:3] == ["lambda_connect", "plugins", "connectors"] and len(parts) > 3:
        return ".".join(parts[:4])
    return "lambda_connect.plugins" if parts[:2] == ["lambda_connect", "plugins"] else "core"


@dataclass
class _ScopeScan:
    services: set[str]
    calls: list[tuple[str, str]]
    paginated: list[tuple[str, str]]


def _live(enclosing: tuple[str, ...], referenced: set[str]) -> bool:
    """A call inside functions nobody names (no call, no reference) is dead code here.

    Reachability is per module; this drops e.g. ``ensure_topic`` from a function that imports
    the Kafka client module only for its admin client. Dunder methods run implicitly.
    """
    return all(name.startswith("__") or name in referenced for name in enclosing)


def _scan(modules: Iterable[Any]) -> tuple[dict[str, _ScopeScan], set[str]]:
    scanners = []
    referenced: set[str] = set()
    strings: set[str] = set()
    for info in modules:
        scanner = _CallScanner(info.name)
        scanner.visit(info.tree)
        scanners.append(scanner)
        referenced |= scanner.referenced
        strings |= {n.value for n in ast.walk(info.tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    scopes: dict[str, _ScopeScan] = {}
    for scanner in scanners:
        scope = scopes.setdefault(_scope(scanner.module), _ScopeScan(set(), [], []))
        scope.services |= scanner.services
        scope.calls += [(m, w) for m, w, enclosing in scanner.calls if _live(enclosing, referenced)]
        if scanner.dynamic_dispatch:  # ``getattr(client, "create_alias")(...)``
            scope.calls += [(c, w) for c, w, enclosing in scanner.constants if _live(enclosing, referenced)]
        scope.paginated += [(m, w) for m, w, enclosing in scanner.paginated if _live(enclosing, referenced)]
    return scopes, strings


def _handler_reach(logical_id: str) -> Any:
    template = _template()
    code_dir = ROOT / template["Resources"][logical_id]["Properties"]["CodeUri"]
    entry = build.handler_file(template, logical_id, code_dir)
    if not entry.is_file():
        pytest.fail(f"{logical_id}: handler file {entry.relative_to(ROOT)} does not exist")
    exclude = TASK_ONLY if logical_id in CONTROL_PLANE else ()
    return import_graph.reachable_modules(entry, PACKAGE_ROOT, exclude=exclude)


@cache
def _talks_kafka(module: str) -> bool:
    """Whether ``module`` holds Kafka clients: the same method names (``commit_transaction``)
    also belong to other libraries, pyiceberg's table transactions for one."""

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return True
    source = Path(spec.origin).read_text(encoding="utf-8")
    return any(marker in source for marker in ("confluent_kafka", "kafka_clients", "Producer", "Consumer", "Admin"))


def required_actions(logical_id: str) -> dict[str, str]:
    """IAM action → where in the code (or which event source) needs it."""
    resources = _template()["Resources"]
    reach = _handler_reach(logical_id)
    scopes, strings = _scan([reach.entry, *reach.modules.values()])
    needed: dict[str, str] = {}

    def need(actions: Iterable[str], where: str) -> None:
        for action in actions:
            needed.setdefault(action, where)

    for scope in scopes.values():
        for service in sorted(scope.services):
            ops, prefix = _operations(service), _iam_prefix(service)
            helpers = BOTO3_HELPERS.get(service, {})
            for method, where in scope.calls:
                if method in ops:
                    action = f"{prefix}:{ops[method]}"
                    need(IAM_ACTIONS_OF.get(action, [action]), where)
                elif method in helpers:
                    need(helpers[method], where)
            for op_name, where in scope.paginated:
                if op_name in ops:
                    action = f"{prefix}:{ops[op_name]}"
                    need(IAM_ACTIONS_OF.get(action, [action]), where)
    calls = [call for scope in scopes.values() for call in scope.calls]
    if {"scheduler:CreateSchedule", "scheduler:UpdateSchedule"} & needed.keys():
        need(["iam:PassRole"], "scheduler targets carry the role EventBridge Scheduler assumes")
    if "lambda_connect.aws.kafka_clients" in reach.modules:
        for method, where in calls:
            if method in KAFKA_CALLS and _talks_kafka(where.partition(":")[0]):
                need((f"kafka-cluster:{a}" for a in KAFKA_CALLS[method]), where)
        if any(a.startswith("kafka-cluster:WriteData") for a in needed) and "enable.idempotence" in strings:
            need(["kafka-cluster:WriteDataIdempotently"], "idempotent producer (enable.idempotence)")
    events = resources[logical_id]["Properties"].get("Events", {})
    if any(e.get("Type") == "DynamoDB" for e in events.values()):
        need(["dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream",
              "dynamodb:ListStreams"], "DynamoDB stream event")
        need(["sqs:SendMessage"], "stream on-failure destination")
    env = _function_env(logical_id)
    sink_id = _ref_target(env.get("LAMBDA_CONNECT_SINK_FUNCTION"))
    if sink_id == logical_id or _is_mapping_target(logical_id):
        need(KAFKA_MAPPING_NEEDS, "Kafka event source mappings target this function")
    return needed


# --------------------------------------------------------------------------- what the template grants


@cache
def _template() -> dict[str, Any]:
    return build.load_template(ROOT / "template.yaml")


def _ref_target(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def _function_env(logical_id: str) -> dict[str, Any]:
    template = _template()
    merged = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    props = template["Resources"][logical_id]["Properties"]
    merged.update(props.get("Environment", {}).get("Variables", {}))
    return merged


def _is_mapping_target(logical_id: str) -> bool:
    """The reconciler names its sink function in LAMBDA_CONNECT_SINK_FUNCTION."""
    return any(
        _ref_target(_function_env(other).get("LAMBDA_CONNECT_SINK_FUNCTION")) == logical_id
        for other in build.functions_of(_template())
    )


#: The SAM policy templates this stack uses, expanded as aws-sam-translator does.
POLICY_TEMPLATES = {
    "DynamoDBCrudPolicy": [
        "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:Query",
        "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable",
        "dynamodb:ConditionCheckItem",
    ],
    "SQSSendMessagePolicy": ["sqs:SendMessage*"],
}
#: Managed policies SAM attaches on its own, by what triggers them.
IMPLICIT = {
    "always": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "DynamoDB": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
    "VpcConfig": [
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
    ],
}


@dataclass(frozen=True)
class Grant:
    actions: tuple[str, ...]
    resource: Any
    condition: Any
    origin: str


def _enabled_branch(value: Any) -> Any:
    """``Fn::If`` → the branch that turns the feature on (its grants are the superset)."""
    while isinstance(value, dict) and "Fn::If" in value:
        _cond, when_true, when_false = value["Fn::If"]
        value = when_false if _ref_target(when_true) == "AWS::NoValue" else when_true
    return value


def _statements(policy: Any) -> Iterator[Grant]:
    policy = _enabled_branch(policy)
    if not isinstance(policy, dict) or _ref_target(policy) == "AWS::NoValue":
        return
    if "Statement" in policy:
        for st in policy["Statement"]:
            st = _enabled_branch(st)
            if st.get("Effect") == "Allow":
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                yield Grant(tuple(actions), st.get("Resource"), st.get("Condition"), st.get("Sid", "inline"))
        return
    (name, _params), = policy.items()
    if name not in POLICY_TEMPLATES:
        raise AssertionError(f"policy template {name} is not modelled by this test: add its expansion")
    yield Grant(tuple(POLICY_TEMPLATES[name]), "template-scoped", None, name)


def grants(logical_id: str) -> list[Grant]:
    template = _template()
    props = template["Resources"][logical_id]["Properties"]
    out = [Grant(tuple(IMPLICIT["always"]), "*", None, "AWSLambdaBasicExecutionRole")]
    if any(e.get("Type") == "DynamoDB" for e in props.get("Events", {}).values()):
        out.append(Grant(tuple(IMPLICIT["DynamoDB"]), "*", None, "AWSLambdaDynamoDBExecutionRole"))
    if props.get("VpcConfig") or template.get("Globals", {}).get("Function", {}).get("VpcConfig"):
        out.append(Grant(tuple(IMPLICIT["VpcConfig"]), "*", None, "AWSLambdaVPCAccessExecutionRole"))
    policies = props.get("Policies", [])
    for policy in policies if isinstance(policies, list) else [policies]:
        out.extend(_statements(policy))
    return out


def allowed(action: str, granted: Iterable[Grant]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for g in granted for pattern in g.actions)


FUNCTIONS = ["ConnectorApiFunction", "ReconcilerFunction", "SinkTaskFunction", "SourceTaskFunction"]


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_policies_cover_every_aws_call_the_code_makes(logical_id: str) -> None:
    needed = required_actions(logical_id)
    granted = grants(logical_id)
    missing = {action: where for action, where in needed.items() if not allowed(action, granted)}
    assert not missing, f"{logical_id} lacks IAM permissions for: " + ", ".join(
        f"{a} (needed by {w})" for a, w in sorted(missing.items())
    )


def test_the_scan_finds_the_state_store_calls() -> None:
    """Guards the scanner itself: the sink task certainly reads and writes the state table."""
    needed = required_actions("SinkTaskFunction")
    assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= needed.keys()
    assert "dynamodb:CreateTable" not in needed, "create_table runs in the CLI, not in Lambda"


def test_the_reconciler_needs_mapping_alias_and_schedule_calls() -> None:
    needed = required_actions("ReconcilerFunction")
    assert any(a.startswith("lambda:") and "EventSourceMapping" in a for a in needed), sorted(needed)
    assert any(a.startswith("scheduler:") for a in needed), sorted(needed)
    assert "iam:PassRole" in needed


def test_a_missing_grant_is_reported() -> None:
    """The coverage check must be able to fail: drop the table policy and the sink is short."""
    granted = [g for g in grants("SinkTaskFunction") if g.origin != "DynamoDBCrudPolicy"]
    needed = required_actions("SinkTaskFunction")
    assert [a for a in needed if a.startswith("dynamodb:") and not allowed(a, granted)]


# --------------------------------------------------------------------------- least privilege

#: Actions IAM cannot scope to a resource (the service authorizes them on "*").
UNSCOPABLE = {
    "lambda:ListEventSourceMappings", "scheduler:ListSchedules",
    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
    "ec2:DeleteNetworkInterface", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
}


def _all_inline_grants() -> Iterator[tuple[str, Grant]]:
    for logical_id in build.functions_of(_template()):
        for grant in grants(logical_id):
            if grant.origin not in POLICY_TEMPLATES and not grant.origin.startswith("AWSLambda"):
                yield logical_id, grant
    for logical_id, resource in _template()["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for st in policy["PolicyDocument"]["Statement"]:
                    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                    origin = policy["PolicyName"]
                    yield logical_id, Grant(tuple(actions), st.get("Resource"), st.get("Condition"), origin)


def test_no_wildcard_actions_and_star_resources_only_where_unavoidable() -> None:
    problems = []
    for logical_id, grant in _all_inline_grants():
        for action in grant.actions:
            if "*" in action and not action.endswith("SendMessage*"):
                problems.append(f"{logical_id}/{grant.origin}: wildcard action {action}")
        if grant.resource == "*" and grant.condition is None:
            loose = [a for a in grant.actions if a not in UNSCOPABLE]
            if loose:
                problems.append(f"{logical_id}/{grant.origin}: Resource '*' for {loose}")
    assert not problems, "\n".join(problems)


def _mentions(value: Any, logical_id: str) -> bool:
    """Whether an intrinsic-laden value refers to ``logical_id`` (Ref, GetAtt or Sub)."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return (target[0] if isinstance(target, list) else target.split(".")[0]) == logical_id
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return f"${{{logical_id}" in text or any(_mentions(v, logical_id) for v in value.values())
        return any(_mentions(v, logical_id) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, logical_id) for v in value)
    return False


def test_the_reconciler_manages_only_this_stacks_sink_function_schedules_and_role() -> None:
    scoped = {
        "lambda:CreateAlias": "SinkTaskFunction", "lambda:UpdateAlias": "SinkTaskFunction",
        "lambda:DeleteAlias": "SinkTaskFunction", "lambda:PublishVersion": "SinkTaskFunction",
        "lambda:CreateEventSourceMapping": "SinkTaskFunction", "lambda:UpdateEventSourceMapping": "SinkTaskFunction",
        "lambda:DeleteEventSourceMapping": "SinkTaskFunction",
        "scheduler:CreateSchedule": "SourceScheduleGroup", "scheduler:UpdateSchedule": "SourceScheduleGroup",
        "scheduler:DeleteSchedule": "SourceScheduleGroup", "iam:PassRole": "SchedulerRole",
    }
    for action, target in scoped.items():
        matching = [g for g in grants("ReconcilerFunction") if action in g.actions]
        assert matching, f"the reconciler has no grant for {action}"
        for grant in matching:
            assert _mentions(grant.resource, target) or _mentions(grant.condition, target), (
                f"{action} is not scoped to {target}: {grant.resource} / {grant.condition}"
            )
