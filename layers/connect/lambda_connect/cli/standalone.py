"""``connect-standalone``'s command line for ``lambda-connect up``: a worker file, then connectors.

``connect-standalone worker.properties connector1.properties …`` is how Kafka Connect users
start a pipeline on a laptop, so ``up`` takes the same files. The worker file's settings that
mean something here are used — ``bootstrap.servers`` (unless ``--bootstrap-servers`` is given)
and the default key/value/header converters with their settings — and every other key is
named in one notice, since a silently ignored setting is a trap: offsets live in the state
table (``--state``), plugins ship in the package, and the REST port is ``--port``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["WorkerSettings", "apply_worker_converters", "is_worker_config", "worker_settings"]

#: Keys only a worker file has: one of them (and no connector.class) makes a file the worker's.
_WORKER_MARKERS = ("bootstrap.servers", "offset.storage.file.filename", "plugin.path", "group.id",
                   "offset.storage.topic", "offset.flush.interval.ms", "listeners", "rest.port")
_CONVERTER_KEYS = ("key.converter", "value.converter", "header.converter")
#: Worker keys with no meaning here, and why (printed once at start).
_WHY_IGNORED = {
    "offset.storage.file.filename": "source offsets live in the state table (--state)",
    "offset.flush.interval.ms": "offsets are committed after every acknowledged batch",
    "plugin.path": "plugins ship in the lambda-connect package",
    "listeners": "the REST API listens on --bind/--port",
    "rest.port": "the REST API listens on --port",
}


@dataclass
class WorkerSettings:
    """What a worker file contributes to ``up``."""

    bootstrap_servers: str | None = None
    converters: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)

    def notice(self, path: str) -> str | None:
        """One line naming every key of the worker file that ``up`` does not use, or None."""
        if not self.ignored:
            return None
        parts = [f"{key} ({why})" for key, why in sorted(self.ignored.items())]
        return f"Worker file {path}: not used here: " + "; ".join(parts)


def is_worker_config(config: Mapping[str, str]) -> bool:
    """A connect-standalone worker file: no connector.class or name, and a key only workers have."""
    if config.get("connector.class") or config.get("name"):
        return False
    return any(key in config for key in _WORKER_MARKERS)


def worker_settings(config: Mapping[str, str]) -> WorkerSettings:
    settings = WorkerSettings()
    for key, value in config.items():
        if key == "bootstrap.servers":
            settings.bootstrap_servers = str(value).strip() or None
        elif any(key == c or key.startswith(c + ".") for c in _CONVERTER_KEYS):
            settings.converters[key] = str(value)
        else:
            settings.ignored[key] = _WHY_IGNORED.get(key, "a worker setting lambda-connect has no use for")
    return settings


def apply_worker_converters(connector: Mapping[str, str], converters: Mapping[str, str]) -> dict[str, str]:
    """The connector config with the worker's converter defaults, as a Connect worker applies them:
    a connector that names its own converter class keeps that converter's settings only."""
    merged = dict(connector)
    for prefix in _CONVERTER_KEYS:
        if prefix in connector:
            continue
        for key, value in converters.items():
            if key == prefix or key.startswith(prefix + "."):
                merged.setdefault(key, value)
    return merged
