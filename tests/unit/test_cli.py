from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import lambda_connect
import pytest
from lambda_connect.cli import main

REPO = Path(__file__).parents[2]


def write(tmp_path: Path, name: str, content: Any) -> str:
    p = tmp_path / name
    p.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(p)


def transform(
    tmp_path: Path, config: Any, lines: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[Any], str]:
    cfg = write(tmp_path, "c.json", config)
    src = write(tmp_path, "in.jsonl", "\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    code = main(["transform", "--config", cfg, "--input", src, "--output", str(out)])
    err = capsys.readouterr().err
    return code, [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else [], err


STRING_PIPE = {
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "JsonConverter",
    "value.converter.schemas.enable": "false",
    "transforms": "route,drop",
    "transforms.route.type": "RegexRouter",
    "transforms.route.regex": "(.*)",
    "transforms.route.replacement": "copy-$1",
    "transforms.drop.type": "Filter",
    "transforms.drop.predicate": "tomb",
    "predicates": "tomb",
    "predicates.tomb.type": "RecordIsTombstone",
}


def test_transform_outputs_one_line_per_input_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        json.dumps({"topic": "a", "partition": 1, "offset": 10, "timestamp": 5, "key": "k",
                    "value": {"x": 1}, "headers": [["h", "v"]]}),
        "{broken",
        json.dumps({"topic": "a", "partition": 1, "offset": 11, "key": "k", "value": None}),
        json.dumps({"topic": "a", "offset": 12, "key": None, "value": [1, 2], "headers": "bad"}),
    ]
    code, out, _ = transform(tmp_path, {"name": "x", "config": STRING_PIPE}, lines, capsys)
    assert out[0] == {"topic": "copy-a", "partition": 1, "offset": 10, "timestamp": 5, "key": "k",
                      "value": {"x": 1}, "headers": [["h", "v"]]}
    assert out[1]["offset"] is None and "not valid JSON" in out[1]["error"]["message"]
    assert out[2] == {"offset": 11, "dropped": True}
    assert out[3]["offset"] == 12 and "headers" in out[3]["error"]["message"]
    assert len(out) == 4
    assert code == 1  # errors.tolerance=none: a failed record fails the run, but all lines were processed


def test_transform_reports_stage_and_class_and_exits_0_when_tolerated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {"value.converter": "JsonConverter", "value.converter.schemas.enable": "false",
              "key.converter": "StringConverter", "errors.tolerance": "all",
              "transforms": "mask", "transforms.mask.type": "MaskField$Value", "transforms.mask.fields": "ssn"}
    lines = [json.dumps({"topic": "t", "partition": 0, "offset": 1, "key": "a", "value": "not-json-object"}),
             json.dumps({"topic": "t", "partition": 0, "offset": 2, "key": "a", "value": {"ssn": "123", "n": 1}})]
    cfg_lines = [*lines[:1], '{"topic":"t","partition":0,"offset":3,"key":"a","value":"x"}', *lines[1:]]
    code, out, _ = transform(tmp_path, config, cfg_lines, capsys)
    assert out[0]["error"]["stage"] == "TRANSFORMATION"
    assert out[0]["error"]["class"] == "org.apache.kafka.connect.transforms.MaskField$Value"
    assert out[2]["value"] == {"ssn": "", "n": 1}
    assert code == 0


def test_converter_failure_is_reported_with_its_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = {"value.converter": "ByteArrayConverter", "key.converter": "StringConverter",
              "transforms": "h", "transforms.h.type": "HoistField$Value", "transforms.h.field": "f"}
    code, out, _ = transform(tmp_path, config, [json.dumps({"topic": "t", "offset": 0, "value": "raw"})], capsys)
    assert code == 1
    assert out[0]["error"]["stage"] == "VALUE_CONVERTER"
    assert out[0]["error"]["class"] == "org.apache.kafka.connect.converters.ByteArrayConverter"


def test_invalid_config_exits_2_with_one_line_per_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = {"transforms": "a,b", "transforms.a.type": "Cast$Value", "transforms.b.type": "NoSuchThing",
              "errors.tolerance": "most"}
    code, out, err = transform(tmp_path, config, ['{"offset": 0}'], capsys)
    assert code == 2 and out == []
    keys = sorted(line.split(":", 1)[0] for line in err.strip().splitlines())
    assert keys == ["errors.tolerance", "transforms.a.spec", "transforms.b.type"]


def test_string_headers_and_text_converters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = {"key.converter": "StringConverter", "value.converter": "StringConverter",
              "transforms": "ins", "transforms.ins.type": "InsertHeader", "transforms.ins.header": "n",
              "transforms.ins.value.literal": "42"}
    line = json.dumps({"topic": "t", "partition": 0, "offset": 0, "key": "k", "value": "hello",
                       "headers": [["s", "text"], ["j", {"a": 1}], ["z", None]]})
    code, out, _ = transform(tmp_path, config, [line], capsys)
    assert code == 0
    assert out[0]["value"] == "hello" and out[0]["key"] == "k"
    assert out[0]["headers"][0] == ["s", "text"]
    assert out[0]["headers"][2] == ["z", None]
    assert out[0]["headers"][3] == ["n", 42]


def test_plugins_lists_types_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--type", "predicate", "--output", "json"]) == 0
    infos = json.loads(capsys.readouterr().out)
    assert {"class": "org.apache.kafka.connect.transforms.predicates.HasHeaderKey", "type": "predicate",
            "version": lambda_connect.__version__} in infos
    assert {i["type"] for i in infos} == {"predicate"}
    assert main(["plugins", "--type", "connector"]) == 0
    text = capsys.readouterr().out
    assert "org.apache.kafka.connect.file.FileStreamSinkConnector" in text and "FileStreamSink" in text
    assert "Filter" not in text


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.json", {"name": "f", "connector.class": "FileStreamSink", "topics": "t"})
    assert main(["validate", "--config", good]) == 0
    assert "valid" in capsys.readouterr().out
    bad = write(tmp_path, "bad.json", {"name": "f", "connector.class": "FileStreamSink", "topics": "t",
                                       "topics.regex": "t.*", "tasks.max": 0})
    assert main(["validate", "--config", bad]) == 2
    out = capsys.readouterr().out
    assert "topics: topics and topics.regex are mutually exclusive" in out
    assert "topics.regex: " in out and "tasks.max: " in out
    assert main(["validate", "--config", bad, "--output", "json"]) == 2
    assert json.loads(capsys.readouterr().out)["error_count"] == 3
    props = write(tmp_path, "c.properties", "name=f\nconnector.class=FileStreamSink\ntopics=t\n")
    assert main(["validate", "--config", props]) == 0


def test_demo_example_runs_through_the_console_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lambda_connect.cli", "transform", "--config", str(REPO / "examples/orders-sink.json"),
         "--input", str(REPO / "examples/orders.jsonl")],
        capture_output=True, text=True, check=False, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(x) for x in result.stdout.splitlines()]
    inputs = [x for x in (REPO / "examples/orders.jsonl").read_text().splitlines() if x.strip()]
    assert len(out) == len(inputs)
    assert any("dropped" in o for o in out)
    assert any("error" in o for o in out)
    kept = [o for o in out if "value" in o]
    assert kept and all("ingested_at" in o["value"] for o in kept)
