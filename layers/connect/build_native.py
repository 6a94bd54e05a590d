"""Build the native code (the plan engine ``api/_map_edit.c``, the batch loop
``runtime/_batch_loop.c``, the CDC source's pgoutput decoder
``plugins/connectors/cdc/postgres/_pgoutput.c``, the sink handler's event decoding
``aws/_slot_decode.c`` and the local event source mapping's event rendering
``aws/_event_render.c``) for the Lambda layer.

The layer runs on Linux arm64 (python3.13) whatever machine builds it, so the engine is
cross-compiled: ``ziglang`` from PyPI is a complete C toolchain for aarch64 glibc targets,
installed by pip like any wheel, so neither Docker nor a cross gcc is needed. The engine
uses only CPython's stable ABI (3.11+), so the headers of whichever Python runs this script
serve, and the one binary loads in python3.13.

Without the engine the layer still works: ``lambda_connect.api.plans`` falls back to the
generated Python, with the same results, slower. So when no toolchain can be had this
prints why and exits 0, unless ``--require`` is given.

    python build_native.py LAYER_PYTHON_DIR [--require] [--toolchain-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Each C source and the module file it becomes (``pyproject.toml`` builds the same for the host).
MODULES = {
    HERE / "lambda_connect" / "api" / "_map_edit.c": Path("lambda_connect") / "api" / "_map_edit.abi3.so",
    HERE / "lambda_connect" / "runtime" / "_batch_loop.c": Path("lambda_connect") / "runtime" / "_batch_loop.abi3.so",
    HERE / "lambda_connect" / "plugins" / "connectors" / "cdc" / "postgres" / "_pgoutput.c":
        Path("lambda_connect") / "plugins" / "connectors" / "cdc" / "postgres" / "_pgoutput.abi3.so",
    HERE / "lambda_connect" / "aws" / "_slot_decode.c": Path("lambda_connect") / "aws" / "_slot_decode.abi3.so",
    HERE / "lambda_connect" / "aws" / "_event_render.c": Path("lambda_connect") / "aws" / "_event_render.abi3.so",
}
TARGET = "aarch64-linux-gnu.2.17"  # glibc 2.17: loads on every Lambda runtime (AL2023 has 2.34)
ZIGLANG = "ziglang==0.17.1"
FLAGS = ["-O2", "-g0", "-s", "-shared", "-fPIC", "-Werror=implicit-function-declaration", "-Werror=int-conversion"]
_EM_AARCH64 = 183


def elf_machine(path: Path) -> int:
    """The ELF ``e_machine`` of a file (-1 when it is not ELF)."""
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return -1
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def zig_command(toolchain_dir: Path) -> tuple[list[str], dict[str, str]]:
    """``python -m ziglang`` with ziglang importable: the one already installed, else a
    pinned copy pip puts in ``toolchain_dir``."""
    env = dict(os.environ)
    probe = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
             str(toolchain_dir), ZIGLANG],
            check=True,
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(toolchain_dir), env.get("PYTHONPATH")]))
    return [sys.executable, "-m", "ziglang", "cc"], env


def build(layer_python: Path, toolchain_dir: Path) -> list[Path]:
    """Compile every module into ``layer_python``; raises on any failure."""
    if sys.version_info < (3, 11):  # noqa: UP036 - the layer Makefile runs this with any python3
        raise RuntimeError(f"the stable-ABI headers of Python >= 3.11 are needed, this is {sys.version.split()[0]}")
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        raise RuntimeError(f"no Python.h under {include} (install the Python headers)")
    cc, env = zig_command(toolchain_dir)
    built = []
    for source, relative in MODULES.items():
        out = layer_python / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*cc, "-target", TARGET, *FLAGS, f"-I{include}", str(source), "-o", str(out)], check=True,
                       env=env)
        if elf_machine(out) != _EM_AARCH64:
            out.unlink()
            raise RuntimeError(f"{out} is not an aarch64 binary")
        built.append(out)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("layer_python", type=Path, help="the layer's python/ directory")
    parser.add_argument("--require", action="store_true", help="fail instead of building the layer without it")
    parser.add_argument("--toolchain-dir", type=Path, default=None, help="where pip puts ziglang (default: a temp dir)")
    args = parser.parse_args(argv)
    # Host builds (x86_64 .so from `pip install -e`) must never reach the arm64 layer.
    for stale in (args.layer_python / "lambda_connect").rglob("*.so"):
        stale.unlink()
    scratch = None if args.toolchain_dir else tempfile.mkdtemp(prefix="lambda-connect-zig-")
    try:
        built = build(args.layer_python, args.toolchain_dir or Path(scratch))  # type: ignore[arg-type]
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        for partial in MODULES.values():  # all or nothing, as the install builds them
            (args.layer_python / partial).unlink(missing_ok=True)
        message = f"native code not built for the layer ({e}); the layer runs the generated Python instead"
        print(("error: " if args.require else "note: ") + message, file=sys.stderr)
        return 1 if args.require else 0
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    for out in built:
        print(f"native: {out.relative_to(args.layer_python)} (aarch64, CPython stable ABI 3.11+)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
