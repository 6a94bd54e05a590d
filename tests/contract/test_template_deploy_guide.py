"""The deploy guide, samconfig.toml and the template's Rules tell a new user the same story as the code.

A reader follows docs/readme/deploy.md literally: every `sam deploy --guided` prompt it lists
must exist with the stated default, in the order SAM asks (template order). The template's
Rules must refuse exactly the Kafka settings the reconciler cannot turn into event source
mappings, so a wrong answer fails the deploy instead of producing a stack that cannot start.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.api.errors import ConfigException
from lambda_connect.aws.platform import source_access_configurations

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "readme" / "deploy.md"
_PROMPT = re.compile(r"^\| Parameter ([^|]+?) \|", re.MULTILINE)
_NAME_AND_DEFAULT = re.compile(r"(\w+)(?: \[([^\]]*)\])?")


def _load_build() -> Any:
    spec = importlib.util.spec_from_file_location("build", ROOT / "scripts" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _load_build().load_template(ROOT / "template.yaml")


def _guide_prompts() -> list[tuple[str, str | None]]:
    """(parameter, default shown in brackets or None) for every `Parameter …` row of the guide."""
    prompts: list[tuple[str, str | None]] = []
    for cell in _PROMPT.findall(GUIDE.read_text(encoding="utf-8")):
        for part in cell.split(" / "):
            match = _NAME_AND_DEFAULT.fullmatch(part.strip())
            assert match, f"cannot read the prompt cell {cell!r} of deploy.md"
            prompts.append((match.group(1), match.group(2)))
    return prompts


def test_guide_lists_every_parameter_in_the_order_sam_asks(template: dict[str, Any]) -> None:
    assert [name for name, _ in _guide_prompts()] == list(template["Parameters"])


def test_defaults_the_guide_shows_are_the_template_defaults(template: dict[str, Any]) -> None:
    shown = [(name, default) for name, default in _guide_prompts() if default is not None]
    assert shown, "the guide shows no defaults at all"
    for name, default in shown:
        assert str(template["Parameters"][name].get("Default")) == default, name


def test_values_the_guide_suggests_are_allowed(template: dict[str, Any]) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for name in ("KafkaAuth", "ApiAuth", "LogLevel", "TableDeletionProtection"):
        row = next(line for line in text.splitlines() if line.startswith(f"| Parameter {name}"))
        allowed = set(template["Parameters"][name]["AllowedValues"])
        for value in re.findall(r"`([^`]+)`", row):
            assert value in allowed, f"deploy.md suggests {name}={value}, allowed: {sorted(allowed)}"


def test_samconfig_does_not_cache_builds_so_extras_take_effect() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert not config["default"].get("build", {}).get("parameters", {}).get("cached", False)


# --------------------------------------------------------------------------- Rules


def _evaluate(node: Any, params: dict[str, str]) -> Any:
    """The rule-specific intrinsic functions this template uses, evaluated like CloudFormation."""
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            return params[arg]
        if fn == "Fn::Equals":
            left, right = (_evaluate(a, params) for a in arg)
            return left == right
        if fn == "Fn::Not":
            return not _evaluate(arg[0], params)
        if fn == "Fn::Or":
            return any(_evaluate(a, params) for a in arg)
        if fn == "Fn::And":
            return all(_evaluate(a, params) for a in arg)
        if fn == "Fn::Contains":
            values, item = arg
            return _evaluate(item, params) in [_evaluate(v, params) for v in values]
        raise AssertionError(f"rule function {fn} is not understood by this test")
    return node


def _rule_failures(template: dict[str, Any], params: dict[str, str]) -> list[str]:
    failures = []
    for rule in template["Rules"].values():
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], params):
            continue
        failures += [a["AssertDescription"] for a in rule["Assertions"] if not _evaluate(a["Assert"], params)]
    return failures


def _params(template: dict[str, Any], **given: str) -> dict[str, str]:
    defaults = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    return defaults | {"BootstrapServers": "broker:9092"} | given


_MSK = "arn:aws:kafka:eu-west-1:123456789012:cluster/c/abcd"
_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_x"


def test_rules_accept_exactly_the_kafka_settings_the_reconciler_can_map(template: dict[str, Any]) -> None:
    auths = template["Parameters"]["KafkaAuth"]["AllowedValues"]
    for msk, auth, secret in itertools.product(["", _MSK], auths, ["", _SECRET]):
        params = _params(template, MskClusterArn=msk, KafkaAuth=auth, KafkaSecretArn=secret)
        env = {"LAMBDA_CONNECT_KAFKA_AUTH": auth, "LAMBDA_CONNECT_KAFKA_SECRET_ARN": secret}
        try:
            source_access_configurations(env, msk=bool(msk))
            mappable = True
        except ConfigException:
            mappable = False
        failures = _rule_failures(template, params)
        assert (not failures) == mappable, (msk, auth, secret, failures)


def test_rules_refuse_jwt_without_an_issuer(template: dict[str, Any]) -> None:
    base = {"MskClusterArn": _MSK}
    assert _rule_failures(template, _params(template, **base, ApiAuth="JWT"))
    assert not _rule_failures(template, _params(template, **base, ApiAuth="JWT", JwtIssuer="https://issuer"))
    assert not _rule_failures(template, _params(template, **base))
