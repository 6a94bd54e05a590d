"""Cold start is a feature: importing the runtime must not pull in heavy dependencies."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("boto3", "botocore", "sqlalchemy", "confluent_kafka.schema_registry")


def imported_modules(statement: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
    )
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert modules, "python -X importtime produced no output"
    return modules


@pytest.mark.parametrize("statement", [
    "import lambda_connect.runtime",
    "import lambda_connect.runtime.registry, lambda_connect.runtime.chain, lambda_connect.runtime.conversion, "
    "lambda_connect.runtime.validation, lambda_connect.runtime.config_providers, lambda_connect.runtime.errors",
    "from lambda_connect.runtime.registry import Registry; Registry.default()",
])
def test_runtime_import_pulls_in_no_heavy_modules(statement: str) -> None:
    modules = imported_modules(statement)
    heavy = sorted(m for m in modules if m.startswith(HEAVY))
    assert not heavy, f"{statement!r} imported {heavy}"


def test_building_a_json_pipeline_stays_light() -> None:
    statement = (
        "from lambda_connect.runtime.conversion import RecordConverters;"
        "from lambda_connect.runtime.chain import TransformChain;"
        "RecordConverters.from_config({});"
        "TransformChain.from_config({'transforms': 'i', 'transforms.i.type': 'InsertField$Value',"
        " 'transforms.i.topic.field': 't'})"
    )
    modules = imported_modules(statement)
    assert "lambda_connect.plugins" in modules  # the check really observes late (lazy) imports
    assert not sorted(m for m in modules if m.startswith(HEAVY))
