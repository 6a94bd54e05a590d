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
    configs = _load_connectors([str(j), str(p)])
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
