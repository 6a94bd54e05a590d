"""``lambda-connect demo cdc`` says what is missing instead of failing somewhere inside."""

from __future__ import annotations

import argparse

from lambda_connect.cli.demo import run


def test_demo_cdc_names_the_missing_server_binaries(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("LAMBDA_CONNECT_PG_BIN", str(tmp_path / "nowhere"))
    args = argparse.Namespace(pipeline="cdc", rows=10, port=0, timeout=5.0, verbose=False)
    assert run(args) == 2
    assert "PostgreSQL server binaries (initdb, pg_ctl)" in capsys.readouterr().err
