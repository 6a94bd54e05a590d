from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lambda_connect.api import OffsetStorageReader, SinkRecord, SourceTaskContext, Struct
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA, Schema, Type
from lambda_connect.api.errors import ConnectException
from lambda_connect.plugins.connectors.file.sink import FileStreamSinkConnector, FileStreamSinkTask
from lambda_connect.plugins.connectors.file.source import FileStreamSourceConnector, FileStreamSourceTask
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.validation import config_errors, validate_connector_config


class Offsets(OffsetStorageReader):
    def __init__(self, committed: dict[str, dict[str, Any]] | None = None) -> None:
        self.committed = committed or {}
        self.asked: list[Any] = []

    def offsets(self, partitions: Any) -> dict[Any, dict[str, Any] | None]:
        self.asked.extend(partitions)
        return {p["filename"]: self.committed.get(p["filename"]) for p in partitions}


def source_task(path: Path | None, committed: dict[str, Any] | None = None, **props: str) -> FileStreamSourceTask:
    task = FileStreamSourceTask()
    reader = Offsets({str(path): committed} if committed and path else {})
    task.initialize(SourceTaskContext("c", 0, {}, reader))
    task.start({"topic": "lines", **({"file": str(path)} if path else {}), **props})
    return task


def test_source_reads_complete_lines_with_kafka_offsets(tmp_path: Path) -> None:
    f = tmp_path / "in.txt"
    f.write_bytes(b"one\r\ntwo\nthr")
    task = source_task(f)
    records = task.poll()
    assert [r.value for r in records] == ["one", "two"]
    assert records[0].source_partition == {"filename": str(f)}
    assert [r.source_offset for r in records] == [{"position": 5}, {"position": 9}]
    assert records[0].topic == "lines" and records[0].value_schema == Schema(Type.STRING)
    assert task.poll() is None  # "thr" has no newline yet
    with f.open("ab") as out:
        out.write(b"ee\n")
    assert [(r.value, r.source_offset) for r in task.poll()] == [("three", {"position": 15})]
    task.stop()


def test_source_resumes_from_committed_position_and_honours_batch_size(tmp_path: Path) -> None:
    f = tmp_path / "in.txt"
    f.write_text("a\nb\nc\nd\n")
    task = source_task(f, {"position": 4}, **{"batch.size": "1"})
    assert [r.value for r in task.poll()] == ["c"]
    assert [r.value for r in task.poll()] == ["d"]
    assert task.poll() is None


def test_source_waits_for_a_missing_file_and_rejects_bad_offsets(tmp_path: Path) -> None:
    assert source_task(tmp_path / "later.txt").poll() is None
    f = tmp_path / "x.txt"
    f.write_text("a\n")
    with pytest.raises(ConnectException):
        source_task(f, {"position": "nope"}).poll()


def test_source_connector_requires_a_single_topic() -> None:
    errors = config_errors(validate_connector_config(
        {"name": "s", "connector.class": "FileStreamSource", "topic": "a,b", "file": "/tmp/x"}, Registry.default()))
    assert errors["topic"] == [
        "'topic' in FileStreamSourceConnector configuration requires definition of a single topic"
    ]
    with pytest.raises(ConnectException):
        FileStreamSourceTask().start({"topic": "a,b"})
    c = FileStreamSourceConnector()
    c.start({"topic": "t"})
    assert c.task_configs(4) == [{"topic": "t"}]
    assert c.alter_offsets({}, {"p": {"position": 3}, "q": None}) is True
    with pytest.raises(ConnectException):
        c.alter_offsets({}, {"p": {"position": -1}})


def test_sink_writes_one_line_per_value(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    task = FileStreamSinkTask()
    task.start({"file": str(out)})
    schema = Schema.struct([("id", Schema(Type.INT32)), ("ok", Schema(Type.BOOLEAN))])
    values: list[Any] = ["plain", {"a": 1, "b": None}, [1, True], None, Struct(schema, {"id": 7, "ok": False})]
    task.put([SinkRecord("t", 0, None, None, OPTIONAL_STRING_SCHEMA, v, i) for i, v in enumerate(values)])
    task.flush({("t", 0): 5})
    assert out.read_text().splitlines() == ["plain", "{a=1, b=null}", "[1, true]", "null", "Struct{id=7,ok=false}"]
    task.stop()
    task2 = FileStreamSinkTask()
    task2.start({"file": str(out)})
    task2.put([SinkRecord("t", 0, None, None, None, "appended", 9)])
    task2.stop()
    assert out.read_text().splitlines()[-1] == "appended"


def test_sink_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    task = FileStreamSinkTask()
    task.start({"file": ""})
    task.put([SinkRecord("t", 0, None, None, None, "to-stdout", 0)])
    task.flush({})
    task.stop()
    assert capsys.readouterr().out == "to-stdout\n"


def test_sink_connector_names_and_validation() -> None:
    assert FileStreamSinkConnector.name == "org.apache.kafka.connect.file.FileStreamSinkConnector"
    assert Registry.default().resolve("FileStreamSink") is FileStreamSinkConnector
    infos = validate_connector_config({"name": "s", "connector.class": "FileStreamSink", "topics": "t",
                                       "file": "/tmp/o"}, Registry.default())
    assert infos["error_count"] == 0
    assert "file" in [c["value"]["name"] for c in infos["configs"]]
