"""Config providers (KIP-297): ``${provider:path:key}`` references resolved at run time.

Secrets stay out of the state table and the REST API: a connector config stores
``${secretsmanager:prod/db:password}`` and only the worker, at task start, sees the value.

* ``${env:NAME}`` — an environment variable of the function;
* ``${file:path:key}`` — Kafka's FileConfigProvider: ``key`` in a properties file (a JSON
  object file is accepted too);
* ``${secretsmanager:secret-id:json-key}`` — an AWS Secrets Manager secret; with
  ``json-key`` the secret string is a JSON object and that field is used;
* ``${ssm:parameter-name}`` — an SSM Parameter Store parameter, decrypted.

boto3 is imported only inside the two AWS providers, so resolving ``env``/``file``
references (or none) costs nothing at cold start.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from lambda_connect.api.errors import ConfigException

__all__ = ["PROVIDERS", "read_properties", "resolve_config", "resolve_value"]

_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.-]+):([^}]*)\}")
_WITH_KEY = frozenset({"file", "secretsmanager"})


class _Unresolved(Exception):
    """A reference that names no provider, or a path/key the provider does not have."""


def _env(path: str, key: str | None) -> str:
    if path not in os.environ:
        raise _Unresolved(f"environment variable {path} is not set")
    return os.environ[path]


def read_properties(text: str) -> dict[str, str]:
    """Java ``Properties.load`` for the common cases: ``k=v``/``k: v``, ``#``/``!`` comments,
    backslash line continuations."""
    out: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.strip() if not logical else raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical += line[:-1]
            continue
        logical += line
        match = re.match(r"((?:\\.|[^=:\s])+)\s*[=:\s]\s*(.*)$", logical)
        if match:
            out[match.group(1).replace("\\", "")] = match.group(2)
        else:
            out[logical] = ""
        logical = ""
    return out


def _file(path: str, key: str | None) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise _Unresolved(f"could not read file {path}: {e.strerror}") from e
    data: Mapping[str, Any]
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = read_properties(text)
    else:
        data = read_properties(text)
    if key is None:
        raise _Unresolved(f"a key is required for file {path}")
    if key not in data:
        raise _Unresolved(f"key {key} not found in {path}")
    value = data[key]
    return value if isinstance(value, str) else json.dumps(value)


def _secretsmanager(path: str, key: str | None) -> str:
    try:
        import boto3
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise _Unresolved("boto3 is required for ${secretsmanager:...}; install lambda-connect[aws]") from e
    client = boto3.client("secretsmanager")
    try:
        secret = client.get_secret_value(SecretId=path)
    except Exception as e:
        raise _Unresolved(f"secret {path} could not be read: {e}") from e
    text = secret.get("SecretString")
    if text is None:
        raise _Unresolved(f"secret {path} has no string value")
    if key is None:
        return text
    try:
        data = json.loads(text)
    except ValueError as e:
        raise _Unresolved(f"secret {path} is not a JSON object, cannot read key {key}") from e
    if not isinstance(data, dict) or key not in data:
        raise _Unresolved(f"key {key} not found in secret {path}")
    value = data[key]
    return value if isinstance(value, str) else json.dumps(value)


def _ssm(path: str, key: str | None) -> str:
    try:
        import boto3
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise _Unresolved("boto3 is required for ${ssm:...}; install lambda-connect[aws]") from e
    name = path
    try:
        return boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except Exception as e:
        raise _Unresolved(f"parameter {name} could not be read: {e}") from e


PROVIDERS: dict[str, Callable[[str, str | None], str]] = {
    "env": _env,
    "file": _file,
    "secretsmanager": _secretsmanager,
    "ssm": _ssm,
}


def resolve_value(value: str) -> str:
    """``value`` with every ``${provider:path[:key]}`` replaced; raises ``_Unresolved``."""

    def substitute(match: re.Match[str]) -> str:
        provider, rest = match.group(1), match.group(2)
        path, key = rest, None
        if provider in _WITH_KEY and ":" in rest:
            path, key = rest.rsplit(":", 1)
        fn = PROVIDERS.get(provider)
        if fn is None:
            raise _Unresolved(f"no config provider named '{provider}' (known: {', '.join(PROVIDERS)})")
        return fn(path, key)

    return _REFERENCE.sub(substitute, value)


def resolve_config(props: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``props`` with references resolved; one ConfigException names every key
    whose reference could not be resolved (the value itself is never echoed)."""
    out: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for k, v in props.items():
        if not isinstance(v, str) or "${" not in v:
            out[k] = v
            continue
        try:
            out[k] = resolve_value(v)
        except _Unresolved as e:
            errors[k] = [f"Could not resolve the config provider reference in {k}: {e}"]
    if errors:
        raise ConfigException(errors=errors)
    return out
