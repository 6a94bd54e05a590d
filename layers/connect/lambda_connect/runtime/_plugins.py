"""Building a configured plugin instance from prefixed connector keys.

Kafka hands a transform every key under ``transforms.<alias>.`` with the prefix stripped;
the same holds for predicates and converters. Errors a plugin reports against its own
keys are re-attributed to the full connector key, so a user sees
``transforms.mask.fields`` rather than ``fields``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from lambda_connect.api.errors import ConfigException

__all__ = ["class_name_of", "instantiate", "prefixed", "reprefix"]

T = TypeVar("T")


def prefixed(props: Mapping[str, Any], prefix: str, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The keys under ``prefix`` with the prefix stripped, minus ``exclude``."""
    skip = set(exclude)
    n = len(prefix)
    return {k[n:]: v for k, v in props.items() if k.startswith(prefix) and k[n:] not in skip}


def reprefix(error: ConfigException, prefix: str) -> ConfigException:
    """The same errors attributed to ``prefix + key``."""
    errors = {prefix + key: [m.replace(f"configuration {key}", f"configuration {prefix}{key}") for m in msgs]
              for key, msgs in error.errors.items()}
    if not errors:
        errors = {prefix.rstrip("."): [str(error)]}
    return ConfigException(errors=errors)


def instantiate(cls: type[T], sub_props: Mapping[str, Any], prefix: str, build: Callable[[Any], T]) -> T:
    """``build(cls.config_def.parse(sub_props))`` with errors re-attributed under ``prefix``.

    Anything other than a ConfigException raised while configuring (a plugin bug, a bad
    value its own code rejects) is reported as a config error of the whole prefix, which
    is how Kafka surfaces exceptions thrown from ``configure``.
    """
    try:
        return build(cls.config_def.parse(sub_props))  # type: ignore[attr-defined]
    except ConfigException as e:
        raise reprefix(e, prefix) from e
    except Exception as e:
        raise ConfigException(errors={prefix.rstrip("."): [f"{type(e).__name__}: {e}"]}) from e


def class_name_of(cls: type[Any]) -> str:
    """Kafka's class name for a plugin (its ``name``), else the Python qualified name."""
    return getattr(cls, "name", "") or f"{cls.__module__}.{cls.__qualname__}"
