"""Finding a function in the SAM template and loading its handler by path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from lambda_connect.local.context import LambdaContext, function_arn
from lambda_connect.local.functions import FunctionNotFound, find_function, load_handler, snake_name

TEMPLATE = """
Parameters:
  Greeting: {Type: String, Default: hello}
  Timeout: {Type: Number, Default: 42}
Globals:
  Function:
    Handler: app.lambda_handler
    Timeout: 3
    Environment:
      Variables:
        GREETING: !Ref Greeting
        TABLE: !Sub dynamodb://${Table}
        REGION_URL: !Sub https://${AWS::Region}.example
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Timeout: !Ref Timeout
      MemorySize: 256
      Environment:
        Variables:
          EXTRA: "1"
"""

HANDLER = """
import os
LOADED_GREETING = os.environ.get("GREETING")

def lambda_handler(event, context):
    return {"event": event, "greeting": LOADED_GREETING, "arn": context.invoked_function_arn,
            "remaining": context.get_remaining_time_in_millis()}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "functions" / "echo").mkdir(parents=True)
    (tmp_path / "functions" / "echo" / "app.py").write_text(HANDLER)
    return tmp_path


def test_snake_names() -> None:
    assert snake_name("SinkTaskFunction") == "sink_task"
    assert snake_name("sink-task") == "sink_task"
    assert snake_name("sink_task") == "sink_task"


@pytest.mark.parametrize("name", ["EchoFunction", "echo", "Echo"])
def test_finds_function_by_logical_id_or_folder(project: Path, name: str) -> None:
    spec = find_function(name, project)
    assert spec.name == "EchoFunction"
    assert spec.module_path == project / "functions" / "echo" / "app.py"
    assert spec.timeout_seconds == 42 and spec.memory_mb == 256


def test_environment_resolves_what_a_local_run_can_know(project: Path) -> None:
    env = find_function("echo", project).environment
    assert env["GREETING"] == "hello"
    assert env["REGION_URL"] == "https://us-east-1.example"
    assert env["EXTRA"] == "1"
    assert "TABLE" not in env  # needs a deployed resource: left to the caller's environment


def test_parameter_overrides_win(project: Path) -> None:
    spec = find_function("echo", project, parameters={"Greeting": "hi", "Timeout": "7"})
    assert spec.environment["GREETING"] == "hi" and spec.timeout_seconds == 7


def test_falls_back_to_functions_folder_without_template(tmp_path: Path) -> None:
    (tmp_path / "functions" / "echo").mkdir(parents=True)
    (tmp_path / "functions" / "echo" / "app.py").write_text(HANDLER)
    spec = find_function("EchoFunction", tmp_path)
    assert spec.module_path == tmp_path / "functions" / "echo" / "app.py"


def test_unknown_function_is_an_error(project: Path) -> None:
    with pytest.raises(FunctionNotFound):
        find_function("nope", project)


def test_load_handler_sets_environment_before_import(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREETING", raising=False)
    spec = find_function("echo", project)
    handler = load_handler(spec, {"GREETING": "bonjour"})
    context = LambdaContext(function_name=spec.name, timeout_ms=2000,
                            invoked_function_arn=function_arn(spec.name, "connect-orders"))
    result = handler({"x": 1}, context)
    assert result["greeting"] == "bonjour"
    assert result["arn"].endswith(":function:EchoFunction:connect-orders")
    assert 0 < result["remaining"] <= 2000
    assert os.environ["GREETING"] == "bonjour"


def test_each_load_is_a_fresh_module(project: Path) -> None:
    spec = find_function("echo", project)
    first = load_handler(spec, {"GREETING": "one"})
    second = load_handler(spec, {"GREETING": "two"})
    ctx = LambdaContext(function_name="f", timeout_ms=1000)
    assert first({}, ctx)["greeting"] == "one" and second({}, ctx)["greeting"] == "two"


def test_context_counts_down_and_times_out() -> None:
    context = LambdaContext(function_name="f", timeout_ms=50)
    assert context.invoked_function_arn == function_arn("f")
    time.sleep(0.08)
    assert context.get_remaining_time_in_millis() == 0 and context.timed_out


def test_repository_template_has_the_task_functions() -> None:
    root = Path(__file__).parents[3]
    sink = find_function("SinkTaskFunction", root)
    assert sink.module_path == root / "functions" / "sink_task" / "app.py"
    assert find_function("source_task", root).module_path.is_file()


TAGGED = """
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  Both: !And [!Condition IsProd, !Not [!Equals [!Ref Stage, dev]]]
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt Role.Arn
      Layers: [!Ref Layer, !If [IsProd, !Sub "arn:${AWS::Partition}:x", !Ref "AWS::NoValue"]]
      Environment:
        Variables:
          JOINED: !Join [",", [a, !Ref Stage, !Select [0, !Split ["-", "x-y"]]]]
          MAPPED: !FindInMap [Map, !Ref "AWS::Region", Key]
          BASE: !Base64 text
          IMPORTED: !ImportValue other-stack-value
          AZ: !Select [0, !GetAZs ""]
          BLOCK: !Sub
            - "${A}-${B}"
            - {A: !Ref Stage, B: 2}
Rules:
  R:
    Assertions:
      - Assert: !Contains [[a, b], !Ref Stage]
      - Assert: !EachMemberIn [!RefAll "AWS::EC2::VPC::Id", [v]]
"""


@pytest.mark.parametrize("text", [TEMPLATE, TAGGED, None], ids=["small", "every-tag", "repository"])
def test_native_yaml_loader_reads_what_the_python_loader_reads(text: str | None) -> None:
    import yaml
    from lambda_connect.local.functions import _loader, _parse_template, project_root

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML built without libyaml: only the Python loader exists")
    if text is None:
        text = (project_root(Path(__file__)) / "template.yaml").read_text(encoding="utf-8")
    native, plain = _loader(native=True), _loader(native=False)
    assert native is not plain and issubclass(native, yaml.CSafeLoader) and not issubclass(plain, yaml.CSafeLoader)
    assert _parse_template(text, native) == _parse_template(text, plain)
    assert _parse_template(text, native)  # not both empty


def test_template_is_read_again_once_it_changes(project: Path) -> None:
    template = project / "template.yaml"
    assert find_function("EchoFunction", project).memory_mb == 256
    first = find_function("EchoFunction", project)
    assert find_function("EchoFunction", project) == first
    stat = template.stat()
    template.write_text(TEMPLATE.replace("MemorySize: 256", "MemorySize: 1024"))
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same mtime: the size tells
    assert find_function("EchoFunction", project).memory_mb == 1024
    template.write_text(TEMPLATE.replace("MemorySize: 256", "MemorySize: 2048"))  # the same size: the mtime tells
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert find_function("EchoFunction", project).memory_mb == 2048
