"""Static import graph from a Lambda handler file through the ``lambda_connect`` package.

Both the layer check of ``make build`` and the IAM contract test need to know which code a
handler can reach *without importing it* (importing would need AWS credentials, a state table
and the layer's arm64 wheels). The walk follows ``import``/``from`` statements, relative
imports, and the one dynamic edge the package uses: plugin references written as strings
(``"lambda_connect.plugins.x:Class"`` in ``BUILTINS``), which the registry imports on demand.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ImportRef", "ModuleInfo", "Reach", "module_path", "parse_module", "reachable_modules"]

PACKAGE = "lambda_connect"
_PLUGIN_REF = re.compile(r"^(lambda_connect(?:\.\w+)+):[\w.$]+$")


@dataclass(frozen=True)
class ImportRef:
    """One imported module name and how it is imported.

    ``lazy`` — inside a function body (runs only when called); ``optional`` — guarded by
    ``try/except ImportError`` or ``if TYPE_CHECKING`` (absence is tolerated by design).
    """

    name: str
    lazy: bool
    optional: bool
    #: False for ``from pkg import name`` candidates, which may be attributes, not modules.
    must_exist: bool = True


@dataclass
class ModuleInfo:
    name: str
    path: Path
    tree: ast.Module
    imports: list[ImportRef] = field(default_factory=list)


def module_path(name: str, package_root: Path) -> Path | None:
    """``lambda_connect.a.b`` → ``<root>/lambda_connect/a/b.py`` or ``…/b/__init__.py``."""
    base = package_root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names: list[ast.expr] = []
    if handler.type is None:
        return True
    names = list(handler.type.elts) if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError", "Exception"} for n in names)


class _ImportCollector(ast.NodeVisitor):
    """Collects imports with their context (lazy/optional) and plugin-reference strings."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.refs: list[ImportRef] = []
        self._depth_function = 0
        self._depth_optional = 0

    def _add(self, name: str, must_exist: bool = True) -> None:
        self.refs.append(ImportRef(name, self._depth_function > 0, self._depth_optional > 0, must_exist))

    def _resolve(self, node: ast.ImportFrom) -> str:
        if node.level == 0:
            return node.module or ""
        parts = self.module.split(".")
        keep = len(parts) - node.level + (1 if self.is_package else 0)
        base = ".".join(parts[:keep])
        return f"{base}.{node.module}" if node.module else base

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._resolve(node)
        self._add(base)
        for alias in node.names:
            if alias.name != "*":
                # ``from pkg import sub`` may name a submodule; the caller keeps it if it exists.
                self._add(f"{base}.{alias.name}", must_exist=False)

    def _function(self, node: ast.AST) -> None:
        self._depth_function += 1
        self.generic_visit(node)
        self._depth_function -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._depth_optional += 1
            for child in node.body:
                self.visit(child)
            self._depth_optional -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_catches_import_error(h) for h in node.handlers)
        self._depth_optional += guarded
        for child in node.body:
            self.visit(child)
        self._depth_optional -= guarded
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(child)

    visit_TryStar = visit_Try

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            match = _PLUGIN_REF.match(node.value)
            if match:
                # The registry imports these on first use: a lazy, required edge.
                self.refs.append(ImportRef(match.group(1), True, False))


def parse_module(name: str, path: Path) -> ModuleInfo:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    collector = _ImportCollector(name, path.name == "__init__.py")
    collector.visit(tree)
    return ModuleInfo(name, path, tree, collector.refs)


def _parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])


@dataclass
class Reach:
    """What an entry file reaches: our modules, third-party imports, and dangling names."""

    modules: dict[str, ModuleInfo] = field(default_factory=dict)
    #: Modules reached through module-level imports only (loaded at cold start).
    eager: set[str] = field(default_factory=set)
    #: Third-party top-level names; ``lazy``/``optional`` are inherited along the path.
    external: set[ImportRef] = field(default_factory=set)
    #: ``lambda_connect`` modules imported by name that do not exist.
    missing: set[str] = field(default_factory=set)
    #: The entry file itself (module name ``__handler__``).
    entry: ModuleInfo | None = None


def reachable_modules(entry_file: Path, package_root: Path, *, exclude: Iterable[str] = ()) -> Reach:
    """Walk from ``entry_file`` through ``lambda_connect`` modules under ``package_root``.

    ``exclude`` drops module prefixes from the walk (the IAM test uses it for code a function
    can reach but never runs). A module reached only through lazy or optional imports passes
    that on to everything it imports, so callers can tell what a cold start really loads.
    """
    excluded = tuple(exclude)
    reach = Reach()
    entry = parse_module("__handler__", entry_file)
    reach.entry = entry
    # (ref, lazy along the path, optional along the path)
    queue: list[tuple[ImportRef, bool, bool]] = [(r, r.lazy, r.optional) for r in entry.imports]
    visited: set[tuple[str, bool, bool]] = set()
    while queue:
        ref, lazy, optional = queue.pop()
        top = ref.name.split(".")[0]
        if top != PACKAGE:
            if top not in sys.stdlib_module_names and top != "__future__":
                reach.external.add(ImportRef(top, lazy, optional))
            continue
        for name in (*_parents(ref.name), ref.name):
            if name.startswith(excluded) or (name, lazy, optional) in visited:
                continue
            path = module_path(name, package_root)
            if path is None:
                if ref.must_exist and name == ref.name and not optional:
                    reach.missing.add(name)
                continue
            visited.add((name, lazy, optional))
            info = reach.modules.get(name) or parse_module(name, path)
            reach.modules[name] = info
            if not lazy and not optional:
                reach.eager.add(name)
            queue.extend((r, lazy or r.lazy, optional or r.optional) for r in info.imports)
    return reach
