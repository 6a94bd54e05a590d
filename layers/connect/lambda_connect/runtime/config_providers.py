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

A reference is resolved *for a connector* (its ``name``), and some places are never open to it:

* the runtime's own secret store (``runtime.secrets``: the local secrets file, the Secrets
  Manager secrets under ``$LAMBDA_CONNECT_SECRETS_PREFIX``) — only the connector's own entries;
  another connector's password is refused whatever path, link or ARN names it;
* ``/proc`` (the process's environment holds the function's AWS credentials) and the
  function's AWS credential variables through ``${env:...}``.

Kafka's provider parameters are worker settings, given here as environment variables named
after Kafka's keys: ``config.providers.file.param.allowed.paths`` (KIP-993; comma-separated
absolute paths, files or directories the ``file`` provider may read; unset, any) is
``$LAMBDA_CONNECT_CONFIG_PROVIDERS_FILE_PARAM_ALLOWED_PATHS``, and
``config.providers.env.param.allowlist.pattern`` (KIP-887; a regex the variable name must
match in full; unset, any) is ``$LAMBDA_CONNECT_CONFIG_PROVIDERS_ENV_PARAM_ALLOWLIST_PATTERN``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lambda_connect.api.errors import ConfigException

from .secrets import (
    owns_secret,
    protected_secret_files,
    protected_secret_prefixes,
    secretsmanager_secret_name,
)

__all__ = [
    "ENV_ALLOWLIST_ENV",
    "FILE_ALLOWED_PATHS_ENV",
    "PROVIDERS",
    "read_properties",
    "reference_errors",
    "resolve_config",
    "resolve_value",
]

_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.-]+):([^}]*)\}")
_WITH_KEY = frozenset({"file", "secretsmanager"})

#: Kafka's ``config.providers.file.param.allowed.paths`` (KIP-993) for this runtime.
FILE_ALLOWED_PATHS_ENV = "LAMBDA_CONNECT_CONFIG_PROVIDERS_FILE_PARAM_ALLOWED_PATHS"
#: Kafka's ``config.providers.env.param.allowlist.pattern`` (KIP-887) for this runtime.
ENV_ALLOWLIST_ENV = "LAMBDA_CONNECT_CONFIG_PROVIDERS_ENV_PARAM_ALLOWLIST_PATTERN"
#: The function's own AWS credentials: never a connector's to read.
_CREDENTIAL_VARIABLES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                   "AWS_SECURITY_TOKEN"})
_NO_SECRET_OF_ANOTHER = "it points into the runtime's secret store at an entry of another connector"


class _Unresolved(Exception):
    """A reference that names no provider, or a path/key the provider does not have."""


class _Refused(_Unresolved):
    """A reference to a place the connector may not read (checked before anything is read)."""


def _check_env(path: str) -> None:
    if path in _CREDENTIAL_VARIABLES:
        raise _Refused(f"environment variable {path} holds the function's credentials and is never provided")
    pattern = os.environ.get(ENV_ALLOWLIST_ENV)
    if pattern:
        try:
            allowed = re.fullmatch(pattern, path) is not None
        except re.error as e:
            raise _Refused(f"{ENV_ALLOWLIST_ENV} is not a valid regular expression: {e}") from e
        if not allowed:
            raise _Refused(f"environment variable {path} is not allowed by {ENV_ALLOWLIST_ENV}")


def _env(path: str, key: str | None) -> str:
    _check_env(path)
    if path not in os.environ:
        raise _Unresolved(f"environment variable {path} is not set")
    return os.environ[path]


def _allowed_paths() -> list[Path] | None:
    """The KIP-993 allow-list, resolved (``..`` and symlinks); None when unset (any path)."""
    setting = os.environ.get(FILE_ALLOWED_PATHS_ENV)
    if setting is None or not setting.strip():
        return None
    out = []
    for item in (p.strip() for p in setting.split(",")):
        if not item:
            continue
        if not os.path.isabs(item):
            raise _Refused(f"{FILE_ALLOWED_PATHS_ENV} must list absolute paths, got {item!r}")
        out.append(Path(os.path.realpath(item)))
    return out


def _same_file(a: Path, b: Path) -> bool:
    """Same path once resolved, or the same inode (a hard link is the same file too)."""
    if a == Path(os.path.realpath(b)):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_file(path: str, key: str | None, owner: str | None, prop: str | None) -> None:
    """Where the ``file`` provider may read, decided on the resolved path before reading."""
    real = Path(os.path.realpath(path))
    if real == Path("/proc") or Path("/proc") in real.parents:
        raise _Refused(f"file {path} is under /proc, which the file provider never reads")
    allowed = _allowed_paths()
    if allowed is not None and not any(real == a or a in real.parents for a in allowed):
        raise _Refused(f"file {path} is not under the paths allowed by {FILE_ALLOWED_PATHS_ENV}")
    mine = owner is not None and key is not None and owns_secret(owner, key, prop)
    if not mine and any(_same_file(real, protected) for protected in protected_secret_files()):
        raise _Refused(_NO_SECRET_OF_ANOTHER)


def _secret_name(secret_id: str) -> tuple[str, bool]:
    """The secret's name from a name or an ARN (whose name ends with ``-`` + 6 random chars)."""
    if secret_id.startswith("arn:") and ":secret:" in secret_id:
        return secret_id.split(":secret:", 1)[1], True
    return secret_id, False


def _check_secretsmanager(path: str, owner: str | None) -> None:
    name, from_arn = _secret_name(path)
    for prefix in protected_secret_prefixes(name=name):
        if not name.startswith(prefix):
            continue
        own = secretsmanager_secret_name(prefix, owner) if owner is not None else None
        if own is not None and (name == own or (from_arn and re.fullmatch(re.escape(own) + r"-[A-Za-z0-9]{6}", name))):
            continue
        raise _Refused(_NO_SECRET_OF_ANOTHER)


def _check(provider: str, path: str, key: str | None, owner: str | None, prop: str | None) -> None:
    if provider == "file":
        _check_file(path, key, owner, prop)
    elif provider == "secretsmanager":
        _check_secretsmanager(path, owner)
    elif provider == "env":
        _check_env(path)


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


def _parts(match: re.Match[str]) -> tuple[str, str, str | None]:
    provider, rest = match.group(1), match.group(2)
    path, key = rest, None
    if provider in _WITH_KEY and ":" in rest:
        path, key = rest.rsplit(":", 1)
    return provider, path, key


def resolve_value(value: str, owner: str | None = None, prop: str | None = None) -> str:
    """``value`` with every ``${provider:path[:key]}`` replaced, read on behalf of connector
    ``owner`` for its config key ``prop``; raises ``_Unresolved``."""

    def substitute(match: re.Match[str]) -> str:
        provider, path, key = _parts(match)
        fn = PROVIDERS.get(provider)
        if fn is None:
            raise _Unresolved(f"no config provider named '{provider}' (known: {', '.join(PROVIDERS)})")
        _check(provider, path, key, owner, prop)
        return fn(path, key)

    return _REFERENCE.sub(substitute, value)


def _owner(props: Mapping[str, Any], owner: str | None) -> str | None:
    if owner is not None:
        return owner
    name = props.get("name")
    return name if isinstance(name, str) else None


def resolve_config(props: Mapping[str, str], owner: str | None = None) -> dict[str, str]:
    """A copy of ``props`` with references resolved for connector ``owner`` (default: the
    config's own ``name``); one ConfigException names every key whose reference could not be
    resolved or is refused (the value itself is never echoed)."""
    who = _owner(props, owner)
    out: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for k, v in props.items():
        if not isinstance(v, str) or "${" not in v:
            out[k] = v
            continue
        try:
            out[k] = resolve_value(v, who, k)
        except _Unresolved as e:
            errors[k] = [f"Could not resolve the config provider reference in {k}: {e}"]
    if errors:
        raise ConfigException(errors=errors)
    return out


def reference_errors(props: Mapping[str, Any], owner: str | None = None) -> dict[str, list[str]]:
    """The references of ``props`` that connector ``owner`` may never read (another connector's
    secret, a path outside ``allowed.paths``, …), found without reading anything — so a config
    that tries is refused when it is submitted, not when its task runs."""
    who = _owner(props, owner)
    errors: dict[str, list[str]] = {}
    for k, v in props.items():
        if not isinstance(v, str) or "${" not in v:
            continue
        for match in _REFERENCE.finditer(v):
            provider, path, key = _parts(match)
            try:
                _check(provider, path, key, who, k)
            except _Refused as e:
                errors.setdefault(k, []).append(f"The config provider reference in {k} is not allowed: {e}")
    return errors
