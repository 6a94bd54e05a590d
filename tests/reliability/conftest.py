"""Fixtures of the reliability suite: a target per sink kind, a sink container, throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.fixtures.throwaway_pg import throwaway_pg  # noqa: F401  (fixture)

from .harness import Target, load_app, make_target


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> Iterator[Target]:
    """The sink under test, by kind (``indirect`` parametrisation); S3 runs inside moto."""
    kind = request.param
    if kind == "s3":
        from lambda_connect.plugins.connectors.s3 import sink as s3_sink
        from moto import mock_aws

        with mock_aws():
            s3_sink._clients.clear()
            yield make_target(kind, request, tmp_path, unique_name)
            s3_sink._clients.clear()
        return
    made = make_target(kind, request, tmp_path, unique_name)
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def sink_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A cold ``functions/sink_task`` container with its state in SQLite."""
    return load_app("sink_task", {"LAMBDA_CONNECT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
                                  "LAMBDA_CONNECT_CONNECTOR": None, "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": None},
                    monkeypatch)
