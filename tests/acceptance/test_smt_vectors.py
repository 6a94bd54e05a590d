"""Every shared acceptance vector, run through ``lambda-connect transform``'s own code path.

Each vector becomes a connector config (JsonConverter for keys and values, the default
SimpleHeaderConverter for headers) and one JSON input line; ``lambda_connect.cli.main``
runs it exactly as a user would, and the output line is compared with the vector.
``json_converter`` vectors exercise the converter alone: ``to_connect`` ones feed their
exact bytes to the runtime's RecordConverters (the object the command builds), since raw
bytes such as ``0012`` cannot be written as a JSON input line.
"""

from __future__ import annotations

import decimal
import json
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.api.data import Schema, Type
from lambda_connect.cli import main
from lambda_connect.runtime.conversion import RecordConverters

from tests.acceptance.vectors import assert_names_the_same_facts, load_smt_vectors

VECTORS: list[dict[str, Any]] = load_smt_vectors()
JSON = "org.apache.kafka.connect.json.JsonConverter"

# Vectors that fail for a reason outside the runtime, reported to the owner; strict, so
# the mark must be removed as soon as the cause is fixed.
KNOWN_FAILURES: dict[str, str] = {}


def _param(vector: dict[str, Any]) -> Any:
    reason = KNOWN_FAILURES.get(vector["id"])
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(vector, id=vector["id"], marks=marks)


def _converter_props(vector: dict[str, Any]) -> dict[str, str]:
    props = {"key.converter": JSON, "value.converter": JSON}
    enabled = "true" if vector.get("schemas_enable") else "false"
    for side in ("key", "value"):
        props[f"{side}.converter.schemas.enable"] = enabled
        for k, v in (vector.get("converter_config") or {}).items():
            props[f"{side}.converter.{k}"] = v
    return props


def connector_config(vector: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The connector config for a vector, and the key prefix its config errors must name."""
    props = _converter_props(vector)
    kind = vector["kind"]
    if kind == "transform":
        props |= {"transforms": "t", "transforms.t.type": vector["transform"]}
        props |= {f"transforms.t.{k}": v for k, v in vector["config"].items()}
        return props, "transforms.t."
    if kind == "predicate":
        props |= {"transforms": "f", "transforms.f.type": "Filter", "transforms.f.predicate": "p",
                  "predicates": "p", "predicates.p.type": vector["transform"]}
        props |= {f"predicates.p.{k}": v for k, v in vector["config"].items()}
        return props, "predicates.p."
    props |= vector["config"]
    return props, "transforms."


def run_cli(tmp_path: Path, props: dict[str, str], record: dict[str, Any],
            capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    config, source, sink = tmp_path / "config.json", tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    config.write_text(json.dumps(props))
    source.write_text(json.dumps(record) + "\n")
    code = main(["transform", "--config", str(config), "--input", str(source), "--output", str(sink)])
    err = capsys.readouterr().err
    lines = sink.read_text().splitlines() if sink.exists() else []
    return code, json.loads(lines[0]) if lines else None, err


_JSON_TYPE = {Type.FLOAT32: "float", Type.FLOAT64: "double"}


def schema_json(schema: Schema | None) -> Any:
    if schema is None:
        return None
    out: dict[str, Any] = {"type": _JSON_TYPE.get(schema.type, schema.type.value.lower()),
                           "optional": schema.optional}
    for attr in ("name", "version", "doc"):
        if getattr(schema, attr, None) is not None:
            out[attr] = getattr(schema, attr)
    if getattr(schema, "parameters", None):
        out["parameters"] = dict(schema.parameters)
    return out


def check_to_connect(vector: dict[str, Any]) -> None:
    props = {"value.converter": JSON, **{f"value.converter.{k}": v for k, v in vector["config"].items()}}
    converters = RecordConverters.from_config(props)
    data = vector["input"].get("bytes_utf8")
    raw = data.encode() if data is not None else None
    record = converters.to_sink_record("topic", 0, 0, None, "CREATE_TIME", None, raw, [])
    expect = vector["expect"]
    assert schema_json(record.value_schema) == expect["schema"]
    value = expect["value"]
    if expect.get("value_type") == "decimal":
        value = decimal.Decimal(value)
    assert record.value == value


@pytest.mark.parametrize("vector", [_param(v) for v in VECTORS])
def test_vector(vector: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if vector["kind"] == "json_converter" and vector["direction"] == "to_connect":
        check_to_connect(vector)
        return
    if vector["kind"] == "json_converter":
        props = {"key.converter": JSON, "value.converter": JSON,
                 **{f"value.converter.{k}": v for k, v in vector["config"].items()}}
        payload = vector["input"]["value"]
        if vector["input"].get("value_type") == "decimal":
            payload = float(payload)
        record = {"topic": "topic", "partition": 0, "offset": 0, "key": None,
                  "value": {"schema": vector["input"]["schema"], "payload": payload}, "headers": []}
        code, out, err = run_cli(tmp_path, props, record, capsys)
        assert code == 0, err
        assert out["value"] == vector["expect"]["json"]
        return

    props, prefix = connector_config(vector)
    code, out, err = run_cli(tmp_path, props, vector["input"], capsys)
    if vector.get("expect_error") and vector["error_phase"] == "configure":
        assert code == 2
        assert out is None
        lines = err.strip().splitlines()
        assert lines and all(line.startswith(prefix) for line in lines), err
        if vector.get("error_message"):
            assert_names_the_same_facts(err, vector["error_message"])
        if vector.get("error_message_contains"):
            assert vector["error_message_contains"] in err
        return
    assert code in (0, 1), err
    if vector.get("expect_error"):
        assert "error" in out, out
        assert out["error"]["stage"] == "TRANSFORMATION", out
        if vector.get("error_message"):
            assert_names_the_same_facts(out["error"]["message"], vector["error_message"])
        if vector.get("error_message_contains"):
            assert vector["error_message_contains"] in out["error"]["message"]
        return
    assert "error" not in out, out
    expect = vector["expect"]
    if "matches" in expect:
        assert out.get("dropped", False) is expect["matches"], out
        return
    if expect.get("dropped"):
        assert out == {"offset": vector["input"]["offset"], "dropped": True}
        return
    assert {k: out.get(k) for k in expect} == expect
