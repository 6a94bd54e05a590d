"""The exception tree every plugin and the runtime raise from.

    ConnectException                 anything Connect-related went wrong
     ├── DataException               a value/schema cannot be converted or transformed
     │    └── SchemaBuilderException a schema definition is inconsistent
     ├── RetriableException          a transient failure: the same operation may succeed later
     ├── ConfigException             a configuration is invalid (lists every offending key)
     ├── NotFoundException           a connector/task/plugin is unknown
     ├── AlreadyExistsException      a connector with that name exists already
     └── ConflictException           a concurrent change won the race (optimistic concurrency)

Each class carries ``java_name``: the Kafka class name written into DLQ headers
(``__connect.errors.exception.class.name``), so dead-lettered records read the same as
those of a Kafka Connect cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "AlreadyExistsException",
    "ConfigException",
    "ConflictException",
    "ConnectException",
    "DataException",
    "NotFoundException",
    "RetriableException",
    "SchemaBuilderException",
    "java_class_name",
]


class ConnectException(Exception):
    """Base of every Connect error; raising it from a task fails the task."""

    java_name = "org.apache.kafka.connect.errors.ConnectException"


class DataException(ConnectException):
    """A value does not fit its schema, or a conversion/transformation is impossible."""

    java_name = "org.apache.kafka.connect.errors.DataException"


class SchemaBuilderException(DataException):
    """A schema was built inconsistently (e.g. a default that does not match the type)."""

    java_name = "org.apache.kafka.connect.errors.SchemaBuilderException"


class RetriableException(ConnectException):
    """Transient: the runtime retries the operation per ``errors.retry.*`` before giving up."""

    java_name = "org.apache.kafka.connect.errors.RetriableException"


class ConfigException(ConnectException):
    """A configuration is invalid.

    ``errors`` maps each offending key to its messages, so callers (REST validation, the
    CLI) can name every bad key at once instead of failing on the first.
    """

    java_name = "org.apache.kafka.common.config.ConfigException"

    def __init__(self, message: str | None = None, errors: Mapping[str, Sequence[str]] | None = None) -> None:
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        if message is None:
            message = "; ".join(f"{k}: {m}" for k, msgs in self.errors.items() for m in msgs)
        super().__init__(message)

    @classmethod
    def for_key(cls, key: str, value: object, reason: str) -> ConfigException:
        """Kafka's ``Invalid value X for configuration K: reason`` shape, attributed to ``key``."""
        msg = (
            f"Invalid value {value} for configuration {key}: {reason}"
            if reason
            else f"Invalid value {value} for configuration {key}"
        )
        return cls(msg, {key: [msg]})


class NotFoundException(ConnectException):
    """An unknown connector, task or plugin was named."""

    java_name = "org.apache.kafka.connect.errors.NotFoundException"


class AlreadyExistsException(ConnectException):
    """A connector with this name already exists."""

    java_name = "org.apache.kafka.connect.errors.AlreadyExistsException"


class ConflictException(ConnectException):
    """Another writer changed the same state first; re-read and try again."""

    java_name = "org.apache.kafka.connect.runtime.distributed.RebalanceNeededException"


def java_class_name(exc: BaseException) -> str:
    """The class name to report for ``exc``: Kafka's name for our tree, Python's otherwise."""
    name = getattr(type(exc), "java_name", None)
    if name and "java_name" in type(exc).__dict__:
        return name
    cls = type(exc)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
