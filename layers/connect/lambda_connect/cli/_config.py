"""Reading connector configs from files, the way users write them.

Accepted: a flat JSON string map, ``{"name": ..., "config": {...}}`` (the REST create
body), or a Java ``.properties`` file (Kafka standalone). JSON numbers and booleans are
coerced to strings as Kafka's REST layer does; nested objects and arrays are rejected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambda_connect.api.errors import ConfigException

__all__ = ["load_connector_config", "print_config_errors"]


def _stringify(key: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise ConfigException(errors={key: [f"Invalid value for configuration {key}: expected a string, "
                                        f"got a JSON {type(value).__name__}"]})


def load_connector_config(path: str) -> dict[str, str]:
    """The flat string map in ``path``; raises ConfigException for an unusable file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigException(errors={"<config>": [f"Cannot read {path}: {e.strerror}"]}) from e
    try:
        data = json.loads(text)
    except ValueError:
        if text.lstrip().startswith(("{", "[")):
            raise ConfigException(errors={"<config>": [f"{path} is not valid JSON"]}) from None
        from lambda_connect.runtime.config_providers import read_properties

        return read_properties(text)
    if not isinstance(data, dict):
        raise ConfigException(errors={"<config>": [f"{path} must hold a JSON object"]})
    if isinstance(data.get("config"), dict):
        body_name = data.get("name")
        data = dict(data["config"]) | ({"name": body_name} if body_name and "name" not in data["config"] else {})
    out: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for k, v in data.items():
        try:
            s = _stringify(k, v)
        except ConfigException as e:
            errors.update(e.errors)
            continue
        if s is not None:
            out[k] = s
    if errors:
        raise ConfigException(errors=errors)
    return out


def print_config_errors(errors: dict[str, list[str]], stream: Any) -> None:
    """One line per error, naming its key."""
    for key, messages in errors.items():
        for m in messages:
            stream.write(f"{key}: {m}\n")
