"""``lambda-connect up``: connector files are read as ``connect-standalone`` reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lambda_connect.api.errors import ConfigException
from lambda_connect.cli import build_parser
from lambda_connect.cli.up import _load_connectors


def test_reads_json_and_properties_files(tmp_path: Path) -> None:
    j = tmp_path / "a.json"
    j.write_text(json.dumps({"name": "a", "config": {"connector.class": "FileStreamSink", "tasks.max": 1}}))
    p = tmp_path / "b.properties"
    p.write_text("name=b\nconnector.class=FileStreamSource\ntopic=t\n")
    configs, worker = _load_connectors([str(j), str(p)])
    assert worker is None
    assert configs[0] == {"connector.class": "FileStreamSink", "tasks.max": "1", "name": "a"}
    assert configs[1]["name"] == "b" and configs[1]["topic"] == "t"


def test_a_file_without_a_name_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "c.properties"
    p.write_text("connector.class=FileStreamSource\n")
    with pytest.raises(ConfigException):
        _load_connectors([str(p)])


def test_defaults_match_kafka_connect() -> None:
    args = build_parser().parse_args(["up"])
    assert (args.port, args.bind, args.bootstrap_servers) == (8083, "127.0.0.1", None)
    assert args.state == "sqlite:///.lambda-connect/state.db" and args.log_format == "human"


# Kafka's stock config/connect-standalone.properties and connect-file-source.properties (their keys).
STOCK_WORKER = """bootstrap.servers=localhost:9092
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
offset.storage.file.filename=/tmp/connect.offsets
offset.flush.interval.ms=10000
"""
STOCK_SOURCE = """name=local-file-source
connector.class=FileStreamSource
tasks.max=1
file=test.txt
topic=connect-test
"""


def test_connect_standalone_command_line_is_accepted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``up connect-standalone.properties connect-file-source.properties`` exited 2 before."""
    worker = tmp_path / "connect-standalone.properties"
    worker.write_text(STOCK_WORKER)
    source = tmp_path / "connect-file-source.properties"
    source.write_text(STOCK_SOURCE)
    with caplog.at_level("WARNING"):
        configs, settings = _load_connectors([str(worker), str(source)])
    assert settings is not None and settings.bootstrap_servers == "localhost:9092"
    assert [c["name"] for c in configs] == ["local-file-source"]
    assert configs[0]["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert configs[0]["value.converter.schemas.enable"] == "true"
    notice = " ".join(r.getMessage() for r in caplog.records)
    assert "offset.storage.file.filename (source offsets live in the state table (--state))" in notice
    assert "offset.flush.interval.ms" in notice


def test_a_connectors_own_converter_keeps_only_its_own_settings(tmp_path: Path) -> None:
    worker = tmp_path / "w.properties"
    worker.write_text(STOCK_WORKER)
    sink = tmp_path / "s.properties"
    sink.write_text("name=s\nconnector.class=FileStreamSink\ntopics=t\n"
                    "value.converter=org.apache.kafka.connect.storage.StringConverter\n")
    (config,), _ = _load_connectors([str(worker), str(sink)])
    assert config["value.converter"] == "org.apache.kafka.connect.storage.StringConverter"
    assert "value.converter.schemas.enable" not in config
    assert config["key.converter.schemas.enable"] == "true"


def test_a_worker_file_after_a_connector_says_where_it_belongs(tmp_path: Path) -> None:
    source = tmp_path / "src.properties"
    source.write_text(STOCK_SOURCE)
    worker = tmp_path / "w.properties"
    worker.write_text(STOCK_WORKER)
    with pytest.raises(ConfigException) as info:
        _load_connectors([str(source), str(worker)])
    assert "worker file goes first" in str(info.value)


def test_the_worker_files_bootstrap_servers_reach_the_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--bootstrap-servers`` wins; otherwise the worker file's value is the cluster."""
    import lambda_connect.local.runtime as runtime_module
    from lambda_connect.cli import up

    seen: list[object] = []

    class Stop(Exception):
        pass

    class FakeRuntime:
        def __init__(self, options: object) -> None:
            seen.append(options)
            raise Stop

    monkeypatch.setattr(runtime_module, "LocalRuntime", FakeRuntime)
    worker = tmp_path / "w.properties"
    worker.write_text(STOCK_WORKER)
    for extra, expected in (([], "localhost:9092"), (["--bootstrap-servers", "127.0.0.1:19092"], "127.0.0.1:19092")):
        args = build_parser().parse_args(["up", str(worker), *extra])
        with pytest.raises(Stop):
            up.run(args)
        assert seen[-1].bootstrap_servers == expected  # type: ignore[attr-defined]


def _listening() -> tuple[object, int]:
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_a_second_up_names_the_busy_rest_port(capsys: pytest.CaptureFixture[str]) -> None:
    from lambda_connect.cli import up

    sock, port = _listening()
    try:
        assert up.run(build_parser().parse_args(["up", "--port", str(port)])) == 1
    finally:
        sock.close()  # type: ignore[attr-defined]
    err = capsys.readouterr().err
    assert f"the REST port 127.0.0.1:{port} is already in use" in err and "--port" in err


def test_a_busy_broker_port_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    from lambda_connect.cli import up

    sock, port = _listening()
    try:
        assert up.run(build_parser().parse_args(["up", "--port", "0", "--broker-port", str(port)])) == 1
    finally:
        sock.close()  # type: ignore[attr-defined]
    assert f"the broker port 127.0.0.1:{port} is already in use" in capsys.readouterr().err


def test_broker_port_reaches_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    import lambda_connect.local.runtime as runtime_module
    from lambda_connect.cli import up

    seen: list[object] = []

    class Stop(Exception):
        pass

    def fake(options: object) -> None:
        seen.append(options)
        raise Stop

    monkeypatch.setattr(runtime_module, "LocalRuntime", fake)
    with pytest.raises(Stop):
        up.run(build_parser().parse_args(["up", "--port", "0", "--broker-port", "19999"]))
    assert seen[0].broker_port == 19999  # type: ignore[attr-defined]
