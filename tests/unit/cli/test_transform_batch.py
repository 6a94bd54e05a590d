"""``lambda-connect transform`` runs lines in chunks through the batch pipeline; every output
line must be the one the line-by-line path (``RecordPipeline.process``) gives, in order."""

from __future__ import annotations

import json
import random

import pytest
from lambda_connect.cli.transform import RecordPipeline

T = "org.apache.kafka.connect.transforms."
BENCH = {
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
    "transforms": "insert,replace,cast,ts",
    "transforms.insert.type": T + "InsertField$Value",
    "transforms.insert.topic.field": "src_topic",
    "transforms.insert.offset.field": "src_offset",
    "transforms.replace.type": T + "ReplaceField$Value",
    "transforms.replace.exclude": "debug",
    "transforms.replace.renames": "cust:customer_id",
    "transforms.cast.type": T + "Cast$Value",
    "transforms.cast.spec": "amount:float64,qty:int32",
    "transforms.ts.type": T + "TimestampConverter$Value",
    "transforms.ts.field": "created",
    "transforms.ts.target.type": "unix",
}
FILTERED = {**BENCH, "transforms": "drop,insert", "transforms.drop.type": T + "Filter",
            "transforms.drop.predicate": "small", "predicates": "small",
            "predicates.small.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            "predicates.small.pattern": "small-.*"}


def _lines(n: int) -> list[str]:
    rng = random.Random(11)
    lines = []
    for i in range(n):
        roll = rng.random()
        value: object = {"cust": f"c-{i}", "amount": rng.choice(["1.5", "x", "1e400", 7]), "qty": str(i % 50),
                         "created": rng.choice([1_732_521_600_000 + i, "2024-01-01", 2**70]), "debug": "zz"}
        record = {"topic": rng.choice(["orders", "small-orders"]), "partition": i % 3, "offset": i,
                  "timestamp": 1_700_000_000_000 + i, "key": rng.choice([f"k{i}", None, "ключ"]), "value": value,
                  "headers": []}
        if roll < 0.05:
            lines.append("{not json")
        elif roll < 0.1:
            lines.append(json.dumps([1, 2]))
        elif roll < 0.15:
            lines.append(json.dumps({**record, "offset": None}))  # a source-side replay
        elif roll < 0.2:
            lines.append(json.dumps({**record, "headers": [["h", "v"]]}))
        elif roll < 0.25:
            lines.append(json.dumps({**record, "value": rng.choice([None, "text", [1], 3])}))
        elif roll < 0.28:
            lines.append(json.dumps({**record, "partition": "zero"}))
        else:
            lines.append(json.dumps(record))
    return lines


@pytest.mark.parametrize("config", [BENCH, FILTERED], ids=["fused-chain", "predicate-chain"])
@pytest.mark.parametrize("chunk", [1, 7, 512])
def test_chunked_batch_output_equals_the_line_by_line_path(
    config: dict[str, str], chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _lines(400)
    expected = [RecordPipeline.from_config(config).process(line) for line in lines]
    monkeypatch.setattr(RecordPipeline, "CHUNK", chunk)
    pipeline = RecordPipeline.from_config(config)
    assert pipeline.batch.compiled is (config is BENCH)
    got = list(pipeline.run(line + "\n" for line in ["", *lines, "   "]))
    assert got == expected
    kinds = {("error" if "error" in o else "dropped" if "dropped" in o else "ok") for o in got}
    assert "ok" in kinds and "error" in kinds


def test_a_plugin_bug_outside_any_stage_costs_only_its_record(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = RecordPipeline.from_config(BENCH)
    real_apply = pipeline.chain.apply

    def buggy(record):  # type: ignore[no-untyped-def]
        if record.kafka_offset == 1:
            raise RuntimeError("bug in a plugin")
        return real_apply(record)

    monkeypatch.setattr(pipeline.chain, "apply", buggy)  # record 1 leaves the fast path (bad qty) and hits it
    lines = [json.dumps({"topic": "t", "partition": 0, "offset": i, "timestamp": None, "key": None,
                         "value": {"qty": "x" if i == 1 else "1"}, "headers": []}) for i in range(3)]
    out = list(pipeline.run(lines))
    assert [o.get("offset") for o in out] == [0, 1, 2]
    assert out[1]["error"] == {"stage": None, "class": "RuntimeError", "message": "bug in a plugin"}
    assert out[0]["value"]["qty"] == 1 and out[2]["value"]["qty"] == 1
