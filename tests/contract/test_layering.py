"""The layering rules of DESIGN.md, checked on the import statements of every module.

api ← plugins; api ← runtime ← {state, aws, rest, local} ← functions. ``api`` imports
nothing else from the package; ``plugins`` never import ``runtime`` (nor anything above
it) and never import boto3 at module level; ``runtime`` knows no state/aws/rest/local.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "layers" / "connect" / "lambda_connect"
LAYERS = ("api", "plugins", "runtime", "state", "aws", "rest", "local", "cli")

# layer -> the lambda_connect layers it may import
ALLOWED: dict[str, set[str]] = {
    "api": {"api"},
    "plugins": {"api", "plugins"},
    "runtime": {"api", "runtime", "plugins"},  # plugins only through the BUILTINS index
    "state": {"api", "runtime", "state"},
    "aws": {"api", "runtime", "state", "aws"},
    "rest": {"api", "runtime", "state", "rest"},
    "local": {"api", "runtime", "state", "aws", "rest", "local", "plugins"},
    "cli": set(LAYERS),
}
HEAVY_AT_TOP = ("boto3", "botocore", "sqlalchemy", "confluent_kafka.schema_registry")


def _module_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem in LAYERS else "root"


def _imports(tree: ast.AST, top_level_only: bool) -> list[tuple[int, str]]:
    nodes = tree.body if top_level_only else list(ast.walk(tree))  # type: ignore[attr-defined]
    out: list[tuple[int, str]] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def _resolve_relative(path: Path, node: ast.ImportFrom) -> str:
    """``from .x import y`` in ``lambda_connect/a/b.py`` → ``lambda_connect.a.x``."""
    package = list(path.relative_to(PACKAGE.parent).parent.parts)
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _all_internal_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = [(n, m) for n, m in _imports(tree, False) if m.startswith("lambda_connect")]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, _resolve_relative(path, node)))
    return found


@pytest.mark.parametrize("path", _module_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_respects_layering(path: Path) -> None:
    layer = _layer(path)
    if layer == "root":
        return
    allowed = ALLOWED[layer]
    bad = []
    for lineno, module in _all_internal_imports(path):
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 else "root"
        if target not in allowed and target != "root":
            bad.append(f"line {lineno}: {layer} imports {module}")
    if layer == "runtime":
        bad += [f"line {n}: runtime imports {m}" for n, m in _all_internal_imports(path)
                if m.startswith("lambda_connect.plugins.")]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", [p for p in _module_files() if _layer(p) in ("api", "plugins", "runtime")],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_heavy_imports_at_module_level(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    bad = [f"line {n}: {m}" for n, m in _imports(tree, True) if m.startswith(HEAVY_AT_TOP)]
    assert not bad, "import these lazily, inside the code that needs them:\n" + "\n".join(bad)


def test_plugins_never_import_runtime_even_lazily() -> None:
    """boto3 may be imported lazily inside a plugin's start(); the runtime never."""
    bad = []
    for path in _module_files():
        if _layer(path) != "plugins":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for n, m in _imports(tree, False):
            if m.startswith("lambda_connect.runtime"):
                bad.append(f"{path.relative_to(PACKAGE)}:{n} imports {m}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_violations() -> None:
    """Guard against a checker that can never fail."""
    fake = PACKAGE / "plugins" / "transforms" / "x.py"
    tree = ast.parse("from lambda_connect.runtime.chain import TransformChain\nfrom ..api import data\n")
    assert "lambda_connect.runtime.chain" in [m for _, m in _imports(tree, False)]
    relative = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level)
    assert _resolve_relative(fake, relative) == "lambda_connect.plugins.api"
    assert _layer(fake) == "plugins" and "runtime" not in ALLOWED["plugins"]
