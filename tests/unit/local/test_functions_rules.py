"""A template with a ``Rules`` section (CloudFormation's parameter assertions) still loads."""

from __future__ import annotations

from pathlib import Path

from lambda_connect.local.functions import find_function

TEMPLATE = """
Parameters:
  Auth: {Type: String, Default: none}
Rules:
  AuthIsKnown:
    RuleCondition: !Not [!Equals [!Ref Auth, ""]]
    Assertions:
      - Assert: !Contains [[iam, none], !Ref Auth]
      - Assert: !EachMemberIn [!ValueOfAll ["AWS::EC2::Subnet::Id", VpcId], !RefAll "AWS::EC2::VPC::Id"]
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Handler: app.lambda_handler
      Timeout: 7
"""


def test_rule_functions_do_not_stop_the_template_from_loading(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    spec = find_function("EchoFunction", tmp_path)
    assert spec.timeout_seconds == 7
