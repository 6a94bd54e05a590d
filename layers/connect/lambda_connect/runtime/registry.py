"""The plugin registry: Kafka class names and aliases → plugin classes, imported lazily.

Names come from ``plugins.BUILTINS`` (and, with ``PLUGIN_ENTRY_POINTS=1``, the entry-point
group ``lambda_connect.plugins``) without importing anything: a sink that only needs the
JsonConverter never pays for the Avro serde. Each plugin answers to three names, as in
Kafka's ``PluginUtils``: the full class name, the simple name after the last ``.``
(``InsertField$Value``), and the pruned name (simple name minus its type suffix:
``JsonConverter`` → ``Json``). Aliases claimed by two plugins are dropped, as Kafka does,
so an ambiguous short name is an error rather than a coin toss.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lambda_connect.api.connector import SinkConnector, SourceConnector
from lambda_connect.api.converter import Converter, HeaderConverter
from lambda_connect.api.errors import ConnectException, NotFoundException
from lambda_connect.api.transform import Predicate, Transformation

__all__ = ["KINDS", "PluginDescriptor", "Registry", "UnknownPluginError", "kinds_of"]

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("source", "sink", "converter", "header_converter", "transformation", "predicate")
ENTRY_POINT_GROUP = "lambda_connect.plugins"
_PRUNE_SUFFIXES = ("HeaderConverter", "Transformation", "Connector", "Converter", "Predicate")
_KIND_LABEL = {
    "source": "Connector",
    "sink": "Connector",
    "converter": "Converter",
    "header_converter": "HeaderConverter",
    "transformation": "Transformation",
    "predicate": "Predicate",
}


def kinds_of(cls: type[Any]) -> set[str]:
    """Every PluginInfo type a class can serve as (JsonConverter is a converter AND a
    header converter, as in Kafka)."""
    out: set[str] = set()
    if not isinstance(cls, type):
        return out
    if issubclass(cls, SourceConnector):
        out.add("source")
    if issubclass(cls, SinkConnector):
        out.add("sink")
    if issubclass(cls, Converter):
        out.add("converter")
    if issubclass(cls, HeaderConverter):
        out.add("header_converter")
    if issubclass(cls, Transformation):
        out.add("transformation")
    if issubclass(cls, Predicate):
        out.add("predicate")
    return out


def simple_name(class_name: str) -> str:
    return class_name.rsplit(".", 1)[-1]


def pruned_name(class_name: str) -> str | None:
    simple = simple_name(class_name)
    for suffix in _PRUNE_SUFFIXES:
        if simple.endswith(suffix) and len(simple) > len(suffix):
            return simple[: -len(suffix)]
    return None


class UnknownPluginError(NotFoundException):
    """No plugin of the wanted kind answers to ``name``; the message suggests the closest."""

    def __init__(self, name: str, kinds: set[str] | None, known: Iterable[str]) -> None:
        self.name = name
        self.suggestions = difflib.get_close_matches(name, sorted(set(known)), n=3, cutoff=0.0)
        labels = sorted({_KIND_LABEL[k] for k in kinds}) if kinds else ["a plugin"]
        what = " or ".join(labels)
        hint = f" Closest known names: {', '.join(self.suggestions)}" if self.suggestions else ""
        super().__init__(f"Failed to find any class that implements {what} and which name matches {name}.{hint}")


@dataclass
class PluginDescriptor:
    """One registered plugin as ``GET /connector-plugins`` shows it; ``cls`` is filled on
    first import."""

    class_name: str
    target: str
    kind: str | None = None
    version: str | None = None
    cls: type[Any] | None = field(default=None, repr=False)

    def plugin_info(self) -> dict[str, str]:
        """Kafka's PluginInfo JSON: ``version`` omitted when the plugin reports none."""
        info = {"class": self.class_name, "type": self.kind or "unknown"}
        if self.version:
            info["version"] = self.version
        return info


def _canonical_first(class_name: str) -> tuple[int, str]:
    """Of one plugin's several class names, the ``org.apache.`` one owns the aliases, then the
    ``io.confluent.`` one (the name most configs in the wild use), then the first by name."""
    rank = 0 if class_name.startswith("org.apache.") else 1 if class_name.startswith("io.confluent.") else 2
    return (rank, class_name)


class Registry:
    """Resolve plugin names to classes; built from ``(class_name, "module:attr")`` pairs."""

    def __init__(self, entries: Iterable[tuple[str, str]], aliases: Mapping[str, str] | None = None) -> None:
        self._targets: dict[str, str] = {}
        for class_name, target in entries:
            self._targets.setdefault(class_name, target)
        self._classes: dict[str, type[Any]] = {}
        claims: dict[str, dict[str, None]] = {}
        for class_name in self._targets:
            for alias in (simple_name(class_name), pruned_name(class_name)):
                if alias and alias != class_name:
                    claims.setdefault(alias, {})[class_name] = None
        # An alias is ambiguous only when its owners are different plugins: a plugin registered
        # under an old and a new class name (Iceberg's io.tabular... and org.apache...) keeps it.
        self._aliases: dict[str, str] = {
            alias: min(owners, key=_canonical_first)
            for alias, owners in claims.items()
            if len({self._targets[o] for o in owners}) == 1 and alias not in self._targets
        }
        # Extra short names (``plugins.ALIASES``) never shadow a class name or a derived alias.
        for alias, class_name in (aliases or {}).items():
            if class_name in self._targets and alias not in self._targets:
                self._aliases.setdefault(alias, class_name)

    @classmethod
    @cache
    def default(cls) -> Registry:
        """The built-ins (plus entry points when ``PLUGIN_ENTRY_POINTS=1``), built once per process."""
        from lambda_connect.plugins import ALIASES, BUILTINS

        entries: list[tuple[str, str]] = list(BUILTINS)
        if os.environ.get("PLUGIN_ENTRY_POINTS") == "1":
            entries.extend(_entry_points())
        return cls(entries, ALIASES)

    # --- lookup ---------------------------------------------------------------------
    def class_names(self) -> list[str]:
        return list(self._targets)

    def canonical(self, name: str) -> str | None:
        """The full class name ``name`` stands for, without importing it."""
        name = name.strip()
        if name in self._targets:
            return name
        return self._aliases.get(name)

    def targets(self) -> dict[str, str]:
        """Class name -> ``module:attr`` of every registered plugin."""
        return dict(self._targets)

    def aliases(self, class_name: str) -> list[str]:
        """The short names that resolve to ``class_name`` (collisions already dropped)."""
        return [a for a, owner in self._aliases.items() if owner == class_name]

    def load(self, class_name: str) -> type[Any]:
        """Import a registered plugin's module and return its class (cached)."""
        cls = self._classes.get(class_name)
        if cls is not None:
            return cls
        target = self._targets[class_name]
        module_name, _, attr = target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as e:
            raise ConnectException(f"Plugin {class_name} could not be loaded from {module_name}: {e}") from e
        for part in attr.split("."):
            obj = getattr(obj, part)
        self._classes[class_name] = obj
        return obj

    def resolve(self, name: str, kinds: set[str] | None = None) -> type[Any]:
        """The class for a full name or alias, of one of ``kinds`` when given.

        A known name of the wrong kind is reported like an unknown one, as Kafka does
        (``Failed to find any class that implements Transformation ...``).
        """
        class_name = self.canonical(name)
        if class_name is not None:
            cls = self.load(class_name)
            if kinds is None or kinds & kinds_of(cls):
                return cls
        raise UnknownPluginError(name, kinds, self._known_names(kinds))

    def _known_names(self, kinds: set[str] | None) -> list[str]:
        names: list[str] = []
        for class_name in self._targets:
            if kinds is not None:
                try:
                    if not kinds & kinds_of(self.load(class_name)):
                        continue
                except (ConnectException, AttributeError):
                    continue
            names.append(class_name)
            names.extend(self.aliases(class_name))
        return names

    def descriptors(self, kind: str | None = None) -> list[PluginDescriptor]:
        """Every loadable plugin, one entry per kind it serves, sorted by class name.

        Plugins whose module cannot be imported (a missing optional extra) are left out
        and logged, so one absent dependency never hides the rest of the catalogue.
        """
        out: list[PluginDescriptor] = []
        for class_name in sorted(self._targets):
            try:
                cls = self.load(class_name)
            except (ConnectException, AttributeError) as e:
                log.info("Plugin %s is unavailable: %s", class_name, e)
                continue
            for k in sorted(kinds_of(cls), key=KINDS.index):
                if kind is None or kind == k:
                    out.append(PluginDescriptor(class_name, self._targets[class_name], k, plugin_version(cls), cls))
        return out


def plugin_version(cls: type) -> str | None:
    """The version a plugin reports: ours all ship with the package, so they carry its version
    (one number to quote in a bug report); a third-party plugin reports its own ``version``."""
    if cls.__module__.startswith("lambda_connect.plugins."):
        import lambda_connect

        return lambda_connect.__version__
    return getattr(cls, "version", None)


def _entry_points() -> list[tuple[str, str]]:
    """Third-party plugins: each entry point's name is the Kafka-style class name and its
    value ``module:attr``."""
    from importlib.metadata import entry_points

    return [(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)]
