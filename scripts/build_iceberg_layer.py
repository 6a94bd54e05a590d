"""Build the Iceberg layer: pyiceberg, pyiceberg-core and a trimmed pyarrow for the sink function.

The Iceberg sink's dependencies unpack to ~270 MB, more than Lambda allows for a function and
all its layers together (250 MB), so they do not go into the shared ConnectLayer. This script
builds them as a layer of their own, trimmed to what the sink loads (~180 MB), for the stack's
``IcebergLayerArn`` parameter (see docs/readme/iceberg.md):

    .venv/bin/python scripts/build_iceberg_layer.py             # -> .aws-sam/iceberg-layer.zip
    .venv/bin/python scripts/build_iceberg_layer.py --verify    # host build, trimmed, then used

Like ``layers/connect/Makefile`` it lets pip pick Linux arm64 wheels for CPython 3.13 whatever
the host is. What is trimmed is never imported on the sink's path: Arrow Flight, headers,
Cython sources and the test suites of pyarrow, the extra copies of ``libarrow_python`` (the
extensions load it by its soname), zstandard's second (cffi) backend, the Hive metastore
client and the terminal renderers pyiceberg's CLI uses. ``--verify`` builds for the host
instead, trims the same way, and writes and reads an Iceberg table through the sink with only
the trimmed copy on the path, so a trim that removes something needed fails here, not in Lambda.
Packages the Lambda runtime ships with boto3 (python-dateutil, urllib3, six) are left out as in
the ConnectLayer: a newer python-dateutil in a layer would shadow the one botocore pins.
SQL catalogs also need SQLAlchemy, which the ConnectLayer carries with the ``jdbc`` extra.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_LIMIT_MB = 250
ARM64 = ["--platform", "manylinux_2_28_aarch64", "--platform", "manylinux2014_aarch64",
         "--implementation", "cp", "--python-version", "3.13", "--only-binary=:all:"]

#: Paths (relative to the layer's python/ directory, shell patterns) that the sink never loads.
TRIM = (
    "pyarrow/include", "pyarrow/src", "pyarrow/tests", "pyarrow/*.pyx", "pyarrow/*.pxd", "pyarrow/*.pxi",
    "pyarrow/includes", "pyarrow/vendored/*.pxd",
    "pyarrow/*flight*", "pyarrow/_pyarrow_cpp_tests*", "pyarrow/lib.h", "pyarrow/lib_api.h",
    "pyarrow/libarrow_python.so", "pyarrow/libarrow_python.so.*.*",
    "pyarrow/libarrow_python_parquet_encryption.so", "pyarrow/libarrow_python_parquet_encryption.so.*.*",
    "zstandard/_cffi*", "zstandard/backend_cffi.py",
    # the Hive catalog's client and the CLI's terminal rendering
    "hive_metastore", "hive_metastore-*", "fb303", "thrift", "thrift-*", "click", "click-*",
    "pygments", "pygments-*", "rich", "rich-*", "markdown_it", "markdown_it_py-*", "mdurl", "mdurl-*",
    # shipped by the Lambda runtime with boto3; a newer copy here would shadow botocore's pins
    "dateutil", "python_dateutil-*", "urllib3", "urllib3-*", "six.py", "six-*",
    "*/__pycache__", "__pycache__", "bin",
)


def requirement() -> str:
    """The pyiceberg the project is tested with, with the extras the sink needs."""
    return f"pyiceberg[pyarrow,pyiceberg-core]=={version('pyiceberg')}"


def trim(python_dir: Path) -> int:
    """Delete the ``TRIM`` paths under ``python_dir``; returns the bytes freed."""
    freed = 0
    for path in sorted(python_dir.rglob("*"), key=lambda p: len(p.parts)):
        if not path.exists() and not path.is_symlink():
            continue  # inside a directory removed already
        rel = path.relative_to(python_dir).as_posix()
        if any(fnmatch.fnmatchcase(rel, pattern) for pattern in TRIM):
            freed += size_of(path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    return freed


def size_of(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def pip_install(target: Path, platform_args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade",
                    "--target", str(target), *platform_args, requirement()], check=True)


def build(out: Path, budget_mb: float) -> Path:
    layer = out / "iceberg-layer"
    shutil.rmtree(layer, ignore_errors=True)
    python_dir = layer / "python"
    pip_install(python_dir, ARM64)
    before = size_of(python_dir)
    trim(python_dir)
    after = size_of(python_dir)
    zip_path = out / "iceberg-layer.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(python_dir.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(layer).as_posix())
    print(f"iceberg layer: {before / 2**20:.0f} MB unpacked before trimming, {after / 2**20:.0f} MB after; "
          f"{zip_path} is {zip_path.stat().st_size / 2**20:.0f} MB")
    connect = ROOT / ".aws-sam" / "build" / "ConnectLayer"
    if connect.exists():
        total = (after + size_of(connect)) / 2**20
        print(f"with the built ConnectLayer: {total:.0f} MB of the {LAMBDA_LIMIT_MB} MB a function may unpack")
        if total > LAMBDA_LIMIT_MB:
            raise SystemExit("the two layers together exceed Lambda's limit")
    if after / 2**20 > budget_mb:
        raise SystemExit(f"the trimmed layer is {after / 2**20:.0f} MB, over the budget of {budget_mb} MB")
    return zip_path


_VERIFY = """
import tempfile, pyarrow, pyiceberg
assert pyarrow.__file__.startswith({where!r}) and pyiceberg.__file__.startswith({where!r}), (pyarrow.__file__,)
from lambda_connect.api import SinkRecord, SinkTaskContext
from lambda_connect.plugins.connectors.iceberg.sink import IcebergSinkTask
d = tempfile.mkdtemp()
props = {{"iceberg.tables": "db.t", "iceberg.tables.auto-create-enabled": "true",
         "iceberg.tables.default-partition-by": "day(at), bucket(id, 4)", "iceberg.control.commit.interval-ms": "0",
         "iceberg.catalog.type": "sql", "iceberg.catalog.uri": f"sqlite:///{{d}}/c.db",
         "iceberg.catalog.warehouse": f"file://{{d}}/wh"}}
import datetime as dt
t = IcebergSinkTask(); t.initialize(SinkTaskContext("verify", 0, props)); t.start(props)
at = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
t.put([SinkRecord("t", 0, None, None, None, {{"id": i, "at": at}}, i) for i in range(10)]); t.flush({{}})
table = t.shared.catalog.load_table("db.t")
assert len(table.scan().to_arrow()) == 10
print("trimmed layer works:", pyarrow.__version__, pyiceberg.__version__)
"""


def verify() -> None:
    """Host build, trimmed, then a partitioned write and a read with only that copy on the path."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "python"
        pip_install(target, [])
        trim(target)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT / "layers" / "connect")])}
        subprocess.run([sys.executable, "-c", _VERIFY.format(where=str(target))], check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".aws-sam")
    parser.add_argument("--budget-mb", type=float, default=200.0, help="fail when the trimmed layer is larger")
    parser.add_argument("--verify", action="store_true", help="trim a host build and use it, instead of building")
    args = parser.parse_args(argv)
    if args.verify:
        verify()
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    build(args.out, args.budget_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
