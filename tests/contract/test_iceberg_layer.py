"""The Iceberg layer: what the trim removes and keeps, and where the template attaches the layer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def test_trim_removes_what_the_sink_never_loads_and_keeps_what_it_does(tmp_path: Path) -> None:
    layer = _module("build_iceberg_layer")
    files = {
        # kept: the libraries the extensions link by soname, parquet, S3, substrait (lib.so needs it)
        "pyarrow/lib.cpython-313-aarch64-linux-gnu.so": True, "pyarrow/libarrow_python.so.2600": True,
        "pyarrow/libarrow_substrait.so.2600": True, "pyarrow/libparquet.so.2600": True,
        "pyarrow/_s3fs.cpython-313-aarch64-linux-gnu.so": True, "pyarrow/parquet/core.py": True,
        "pyiceberg/io/pyarrow.py": True, "zstandard/backend_c.cpython-313-aarch64-linux-gnu.so": True,
        "pyparsing/core.py": True, "requests/api.py": True,
        # trimmed
        "pyarrow/libarrow_python.so": False, "pyarrow/libarrow_python.so.2600.1.0": False,
        "pyarrow/libarrow_flight.so.2600": False, "pyarrow/_flight.cpython-313-aarch64-linux-gnu.so": False,
        "pyarrow/include/arrow/api.h": False, "pyarrow/tests/test_array.py": False, "pyarrow/lib.pyx": False,
        "zstandard/_cffi.cpython-313-aarch64-linux-gnu.so": False, "hive_metastore/ThriftHiveMetastore.py": False,
        "rich/console.py": False, "pygments/lexer.py": False, "dateutil/parser.py": False,
        "python_dateutil-4.0.0.dist-info/METADATA": False, "urllib3/util.py": False,
        "pyiceberg/__pycache__/x.pyc": False,
    }
    for rel in files:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    freed = layer.trim(tmp_path)
    assert {rel: (tmp_path / rel).exists() for rel in files} == files
    assert freed == 10 * sum(1 for keep in files.values() if not keep)


def test_template_adds_the_layer_to_the_sink_and_reconciler_only_when_given() -> None:
    template = _module("build").load_template(ROOT / "template.yaml")
    assert template["Parameters"]["IcebergLayerArn"]["Default"] == ""
    conditional = [{"Fn::If": ["HasIcebergLayer", {"Ref": "IcebergLayerArn"}, {"Ref": "AWS::NoValue"}]}]
    layers = {name: r["Properties"].get("Layers") for name, r in template["Resources"].items()
              if r["Type"] == "AWS::Serverless::Function"}
    assert {name for name, value in layers.items() if value == conditional} == {"SinkTaskFunction",
                                                                              "ReconcilerFunction"}
    assert all(value in (None, conditional) for value in layers.values())
