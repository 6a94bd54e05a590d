"""Kafka Connect's ``/admin/loggers`` (KIP-495) over Python's :mod:`logging`.

A Kafka worker changes the log4j levels of its own JVM; here the process serving the API
is the worker: the whole runtime under ``lambda-connect up``, one ``connector_api``
container in AWS (which is what Kafka's ``scope=worker`` means on a multi-worker cluster
too). Levels travel with log4j's names, mapped onto Python's numeric levels so tooling
that sends ``WARN`` or ``TRACE`` keeps working.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from lambda_connect.api.errors import NotFoundException

from .errors import BadRequest

__all__ = ["LOG4J_LEVELS", "LoggerLevels", "ROOT_LOGGER"]

ROOT_LOGGER = "root"

#: log4j level name → Python level number (TRACE and ALL below DEBUG, OFF above CRITICAL).
LOG4J_LEVELS: dict[str, int] = {
    "OFF": logging.CRITICAL + 10,
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": 5,
    "ALL": 1,
}


def level_name(level: int) -> str:
    """The log4j name of a Python level: the most severe log4j level it still lets through."""
    for name, number in LOG4J_LEVELS.items():  # ordered from most to least severe
        if level >= number:
            return name
    return "ALL"


class LoggerLevels:
    """The worker's logger levels and when this API last changed each (epoch ms)."""

    def __init__(self, manager: logging.Manager | None = None) -> None:
        self._manager = manager or logging.Logger.manager
        self._root = self._manager.root
        self._last_modified: dict[str, int] = {}
        self._lock = threading.Lock()

    def _existing(self) -> dict[str, logging.Logger]:
        return {name: lg for name, lg in list(self._manager.loggerDict.items()) if isinstance(lg, logging.Logger)}

    def _entry(self, name: str, logger: logging.Logger) -> dict[str, Any]:
        level = logger.level or logger.getEffectiveLevel()
        return {"level": level_name(level), "last_modified": self._last_modified.get(name)}

    def all_levels(self) -> dict[str, dict[str, Any]]:
        """``GET /admin/loggers``: root and every logger with a level of its own."""
        out = {ROOT_LOGGER: self._entry(ROOT_LOGGER, self._root)}
        for name, logger in sorted(self._existing().items()):
            if logger.level != logging.NOTSET:
                out[name] = self._entry(name, logger)
        return out

    def level(self, name: str) -> dict[str, Any]:
        """``GET /admin/loggers/{name}``: its own level, else the inherited one; 404 if no such logger."""
        if name.lower() == ROOT_LOGGER:
            return self._entry(ROOT_LOGGER, self._root)
        logger = self._existing().get(name)
        if logger is None:
            raise NotFoundException(f"Logger {name} not found.")
        return self._entry(name, logger)

    def set_level(self, namespace: str, body: Any, scope: str = "worker") -> list[str]:
        """``PUT /admin/loggers/{namespace}`` (worker scope): the namespace and its descendants
        take the level; returns their names, sorted. An unchanged level keeps ``last_modified``.
        Unknown scopes act as ``worker``, as in Kafka; ``cluster`` is refused, because no
        shared channel reaches every function container's loggers."""
        if not isinstance(body, dict):
            raise BadRequest("Logger level request must be a JSON object")
        requested = body.get("level")
        if requested is None:
            raise BadRequest("The request body must give the new log level as 'level'")
        number = LOG4J_LEVELS.get(str(requested).strip().upper())
        if number is None:
            raise NotFoundException(f"invalid log level '{requested}'.")
        if scope.strip().lower() == "cluster":
            raise BadRequest(
                "Cluster-scoped logger changes are not supported by lambda-connect: each function container has "
                "its own loggers. Use scope=worker to change the loggers of the process serving this API."
            )
        with self._lock:
            targets = self._targets(namespace)
            now = int(time.time() * 1000)
            for name, logger in targets.items():
                if logger.level != number:
                    logger.setLevel(number)
                    self._last_modified[name] = now
            return sorted(targets)

    def _targets(self, namespace: str) -> dict[str, logging.Logger]:
        existing = self._existing()
        if namespace.lower() == ROOT_LOGGER:
            return {ROOT_LOGGER: self._root, **existing}
        targets = {n: lg for n, lg in existing.items() if n == namespace or n.startswith(namespace + ".")}
        if namespace not in targets:
            targets[namespace] = self._manager.getLogger(namespace)
        return targets
