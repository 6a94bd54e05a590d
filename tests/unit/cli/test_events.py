"""``lambda-connect events generate``: events the handlers' own parsers accept."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from lambda_connect.aws.kafka_event import KafkaEvent
from lambda_connect.cli import main
from lambda_connect.rest.http_api import request_from_event

REPO = Path(__file__).parents[3]


def generate(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["events", "generate", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_msk_event_from_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "r.jsonl"
    records.write_text('{"key": "k1", "value": {"id": 1}, "headers": [["src", "web"]]}\n'
                       '{"value": null, "partition": 2}\n{"key": "k3", "value": "plain"}\n')
    event = generate(capsys, "msk", "--records", str(records), "--topic", "orders")
    assert event["eventSource"] == "aws:kafka" and event["eventSourceArn"].startswith("arn:aws:kafka:")
    assert sorted(event["records"]) == ["orders-0", "orders-2"]
    parsed = list(KafkaEvent(event).records)
    first = next(r for r in parsed if r.partition == 0 and r.offset == 0)
    assert base64.b64decode(event["records"]["orders-0"][0]["value"]) == b'{"id":1}'
    assert first.key == b"k1"
    assert [r.offset for r in parsed if r.partition == 0] == [0, 1]
    assert event["records"]["orders-2"][0]["value"] is None
    assert event["records"]["orders-0"][0]["headers"] == [{"src": list(b"web")}]


def test_self_managed_event_has_no_arn(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    records.write_text("".join((REPO / "examples" / "orders.jsonl").read_text().splitlines(True)[:3]))
    event = generate(capsys, "self-managed-kafka", "--records", str(records), "--bootstrap-servers", "b:9092")
    assert event["eventSource"] == "SelfManagedKafka" and "eventSourceArn" not in event
    assert event["bootstrapServers"] == "b:9092"
    assert event["records"]["orders-0"][0]["offset"] == 100


def test_schedule_events(capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(capsys, "schedule", "--connector", "jdbc", "--task", "2") == {"connector": "jdbc", "task": 2}
    event = generate(capsys, "schedule", "--connector", "jdbc", "--eventbridge")
    assert event["detail-type"] == "Scheduled Event" and event["detail"] == {"connector": "jdbc", "task": 0}


def test_api_event_round_trips_through_the_adapter(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    body = tmp_path / "b.json"
    body.write_text('{"name": "x"}')
    event = generate(capsys, "api", "--method", "post", "--path", "/connectors?expand=status", "--body", str(body))
    request = request_from_event(event)
    assert request.method == "POST" and request.path == "/connectors"
    assert request.query == {"expand": ["status"]} and request.body == b'{"name": "x"}'


def test_a_json_line_of_the_wrong_shape_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "r.jsonl"
    records.write_text('{"value": 1}\n[1, 2]\n')
    assert main(["events", "generate", "msk", "--records", str(records)]) == 2
    assert "line 2" in capsys.readouterr().err


def test_the_readme_example_with_its_malformed_line_becomes_a_poison_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """examples/orders.jsonl has a broken line 8 on purpose (for ``transform``); the README's
    ``events generate msk --records examples/orders.jsonl`` must still work and keep it."""
    lines = (REPO / "examples" / "orders.jsonl").read_text().splitlines()
    assert main(["events", "generate", "msk", "--records", str(REPO / "examples" / "orders.jsonl"),
                 "--topic", "orders"]) == 0
    out, err = capsys.readouterr()
    assert "line 8 is not JSON" in err
    parsed = list(KafkaEvent(json.loads(out)).records)
    assert len(parsed) == len([line for line in lines if line.strip()])
    poison = next(r for r in parsed if r.value == lines[7].encode())
    assert (poison.topic, poison.partition, poison.offset) == ("orders", 0, 104)
