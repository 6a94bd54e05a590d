"""``make build``: an arm64 layer built on any host, functions copied, a template sam deploy reads."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER_DIR = ROOT / "layers" / "connect"
#: The native modules the layer carries, cross-compiled (layers/connect/build_native.py MODULES), sorted.
NATIVE_MODULES = [
    "lambda_connect/api/_map_edit.abi3.so",
    "lambda_connect/aws/_event_render.abi3.so",
    "lambda_connect/aws/_slot_decode.abi3.so",
    "lambda_connect/plugins/connectors/cdc/postgres/_pgoutput.abi3.so",
    "lambda_connect/runtime/_batch_loop.abi3.so",
]


def _load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build = _load_script("build")


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return sorted(line for line in lines if line)


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_layer_requirements_are_the_package_runtime_dependencies() -> None:
    assert _requirements(LAYER_DIR / "requirements.txt") == sorted(_pyproject()["dependencies"])


@pytest.mark.parametrize("extra", ["jdbc", "msk-iam", "schema-registry"])
def test_layer_extras_match_the_package_extras(extra: str) -> None:
    expected = sorted(_pyproject()["optional-dependencies"][extra])
    assert _requirements(LAYER_DIR / f"requirements-{extra}.txt") == expected


def test_every_native_module_is_built_for_the_host_the_layer_and_make() -> None:
    """pyproject's ext-modules (host), build_native.MODULES (layer) and the Makefile's NATIVE_SRC list
    the same C sources, and the layer holds exactly NATIVE_MODULES."""
    spec = importlib.util.spec_from_file_location("build_native", LAYER_DIR / "build_native.py")
    assert spec and spec.loader
    native = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(native)
    host = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["ext-modules"]
    sources = sorted(str(s.relative_to(ROOT)) for s in native.MODULES)
    assert sorted(src for m in host for src in m["sources"]) == sources
    assert sorted(m["name"].replace(".", "/") + ".abi3.so" for m in host) == NATIVE_MODULES
    assert sorted(str(p) for p in native.MODULES.values()) == NATIVE_MODULES
    make = (ROOT / "Makefile").read_text()
    listed = re.search(r"^NATIVE_SRC := ((?:.*\\\n)*.*)$", make, re.M)
    assert listed and sorted(listed.group(1).replace("\\\n", " ").split()) == sources


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real build (pip fetches arm64 wheels; cached under .aws-sam/cache between runs)."""
    build_dir = tmp_path_factory.mktemp("aws-sam") / "build"
    cache = ROOT / ".aws-sam" / "cache" / "pip"
    cache.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build.py"), "--build-dir", str(build_dir), "--native", "require"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**__import__("os").environ, "PIP_CACHE_DIR": str(cache)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build_dir


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path.name} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.mark.slow
def test_layer_holds_confluent_kafka_for_aarch64_and_our_package(built: Path) -> None:
    python = built / "ConnectLayer" / "python"
    natives = list((python / "confluent_kafka").glob("cimpl.cpython-313-aarch64-linux-gnu.so"))
    assert natives, sorted(p.name for p in (python / "confluent_kafka").iterdir())
    assert _elf_machine(natives[0]) == 183  # EM_AARCH64
    librdkafka = list((python / "confluent_kafka.libs").glob("librdkafka*.so*"))
    assert librdkafka and _elf_machine(librdkafka[0]) == 183
    assert (python / "lambda_connect" / "api" / "records.py").is_file()
    natives = sorted(str(p.relative_to(python)) for p in (python / "lambda_connect").rglob("*.so"))
    assert natives == NATIVE_MODULES
    assert all(_elf_machine(python / n) == 183 for n in natives)  # cross-compiled, never the host's build
    assert not list((python / "lambda_connect").rglob("*.c"))
    assert (python / "aws_lambda_powertools").is_dir() and list((python / "orjson").glob("*aarch64*.so"))
    assert not (python / "boto3").exists(), "boto3 comes with the Lambda runtime; the layer must not carry it"
    assert not list(python.rglob("__pycache__"))


@pytest.mark.slow
def test_built_template_points_at_the_built_directories(built: Path) -> None:
    template = json.loads((built / "template.yaml").read_text())
    assert template["Resources"]["ConnectLayer"]["Properties"]["ContentUri"] == "ConnectLayer"
    for logical_id in build.functions_of(template):
        assert template["Resources"][logical_id]["Properties"]["CodeUri"] == logical_id
        assert (built / logical_id / "app.py").is_file()
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert not re.search(r"!(Ref|Sub|GetAtt|If)\b", (built / "template.yaml").read_text())


@pytest.mark.slow
def test_layer_check_fails_when_a_handler_module_is_missing(built: Path, tmp_path: Path) -> None:
    """The import-graph check is real: remove a module a handler reaches and it is named."""
    layer = tmp_path / "ConnectLayer"
    shutil.copytree(built / "ConnectLayer", layer)
    template = build.load_template(ROOT / "template.yaml")
    code_dirs = {k: built / k for k in build.functions_of(template)}
    assert build.check_layer(template, code_dirs, layer).ok
    assert build.check_layer(template, code_dirs, layer).native_modules == NATIVE_MODULES
    (layer / "python" / "lambda_connect" / "api" / "records.py").unlink()
    shutil.rmtree(layer / "python" / "orjson")
    host_build = layer / "python" / "lambda_connect" / "api" / "_map_edit.abi3.so"
    host_build.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + (62).to_bytes(2, "little"))  # e_machine x86-64
    report = build.check_layer(template, code_dirs, layer)
    assert not report.ok
    assert any("lambda_connect.api.records" in line for line in report.missing_modules)
    assert any("_map_edit.abi3.so is not an aarch64 build" in line for line in report.problems)
