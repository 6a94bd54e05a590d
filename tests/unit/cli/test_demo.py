"""``lambda-connect demo`` end to end: the summary a user sees, and exit 0."""

from __future__ import annotations

import re

import pytest
from lambda_connect.cli import main

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_demo_runs_the_pipeline_and_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    rows = int(re.search(r"Rows in table 'orders' \(.*\): (\d+)", out).group(1))
    dead = int(re.search(r"Dead-lettered records in 'demo-orders-dlq': (\d+)", out).group(1))
    assert rows + dead == 5000 and 0 < dead < 200
    assert "__connect.errors.exception.class.name: org.apache.kafka.connect.errors.DataException" in out
    assert re.search(r"demo-orders-sink\s+sink\s+RUNNING", out)
    assert "'current.iteration': 5000" in out
