"""Where PASSWORD-typed connector values go instead of the state table.

A literal secret posted to the REST API is written to a :class:`SecretStore`, and the stored
connector config keeps only a config-provider reference (KIP-297) that tasks resolve at run
time with :mod:`lambda_connect.runtime.config_providers`. ``GET …/config`` therefore returns
the reference, and a GET-then-PUT round-trip stores the same reference again.

Backends:

* :class:`LocalFileSecretStore` — a JSON object file (mode 0600) beside the local state
  database, referenced as ``${file:<path>:<connector>.<key>}`` (Kafka's FileConfigProvider
  form; :func:`config_providers.resolve_config` reads JSON files);
* ``aws.secrets.SecretsManagerSecretStore`` — one Secrets Manager secret per connector,
  referenced as ``${secretsmanager:<secret-name>:<key>}`` (lives in ``aws/`` because it needs boto3).

Which one: ``LAMBDA_CONNECT_SECRETS=secretsmanager|file:<path>``; unset, a ``dynamodb://`` state
URL means Secrets Manager and anything else a ``secrets.json`` file next to the SQLite database
(``.lambda-connect/secrets.json`` for server databases, a private temporary file for ``memory://``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lambda_connect.api.config import ConfigType
from lambda_connect.api.errors import ConfigException

__all__ = [
    "SECRETS_ENV",
    "LocalFileSecretStore",
    "SecretStore",
    "default_secrets_setting",
    "is_reference",
    "open_secret_store",
    "password_keys",
    "secret_id",
]

SECRETS_ENV = "LAMBDA_CONNECT_SECRETS"
_UNSAFE_IN_REFERENCE = frozenset(":}$")


@runtime_checkable
class SecretStore(Protocol):
    """Keeps secret values out of the state table; hands back the reference to store instead."""

    def reference(self, connector: str, key: str) -> str:
        """The reference ``store`` will return for this connector key (no side effect), so a
        caller can write the config first and the secret only once that write has won."""
        ...

    def store(self, connector: str, key: str, value: str) -> str:
        """Save ``value`` and return the ``${provider:…}`` reference that resolves to it."""
        ...

    def delete(self, connector: str) -> None:
        """Forget every secret of a deleted connector."""
        ...


def is_reference(value: str) -> bool:
    """A value that is already a config-provider reference is stored as given."""
    stripped = value.strip()
    return stripped.startswith("${") and stripped.endswith("}")


def secret_id(connector: str, key: str) -> str:
    """``<connector>.<key>``, or a digest when either part holds characters that would break
    the ``${provider:path:key}`` syntax (``:``, ``}``, ``$``)."""
    plain = f"{connector}.{key}"
    if _UNSAFE_IN_REFERENCE.isdisjoint(plain):
        return plain
    return "sha256-" + hashlib.sha256(plain.encode()).hexdigest()


def password_keys(definition_keys: Mapping[str, Any], props: Mapping[str, Any]) -> list[str]:
    """Keys of ``props`` whose definition is PASSWORD and whose value is a literal (not a reference)."""
    out = []
    for name, value in props.items():
        key = definition_keys.get(name)
        if key is None or key.type is not ConfigType.PASSWORD or not isinstance(value, str):
            continue
        if value and not is_reference(value):
            out.append(name)
    return out


class LocalFileSecretStore:
    """Secrets in one JSON object file, private to the owner (0600), rewritten atomically so a
    task resolving a reference never reads a half-written file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self._lock = threading.Lock()

    def reference(self, connector: str, key: str) -> str:
        return f"${{file:{self.path}:{secret_id(connector, key)}}}"

    def _read(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        data = json.loads(text) if text.strip() else {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: Mapping[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(dict(data), f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def store(self, connector: str, key: str, value: str) -> str:
        with self._lock:
            data = self._read()
            data[secret_id(connector, key)] = value
            self._write(data)
        return self.reference(connector, key)

    def delete(self, connector: str) -> None:
        with self._lock:
            data = self._read()
            prefix = f"{connector}."
            kept = {k: v for k, v in data.items() if not k.startswith(prefix)}
            if len(kept) != len(data):
                self._write(kept)

    def keys(self) -> Iterable[str]:
        """The stored secret ids (for tests and diagnostics; values are never listed)."""
        return sorted(self._read())


def default_secrets_setting(state_url: str | None) -> str:
    """The ``LAMBDA_CONNECT_SECRETS`` value implied by a state URL when the variable is unset."""
    url = state_url or os.environ.get("LAMBDA_CONNECT_STATE_URL") or "sqlite:///.lambda-connect/state.db"
    scheme = url.split(":", 1)[0].lower()
    if scheme == "dynamodb":
        return "secretsmanager"
    if scheme == "memory":
        return "file:" + str(Path(tempfile.mkdtemp(prefix="lambda-connect-secrets-")) / "secrets.json")
    if scheme.startswith("sqlite"):
        db = url.split("///", 1)[1] if "///" in url else ""
        db = db.split("?", 1)[0]
        if db and db != ":memory:":
            return "file:" + str(Path(db).absolute().parent / "secrets.json")
    return "file:" + str(Path(".lambda-connect/secrets.json").absolute())


def open_secret_store(
    state_url: str | None = None,
    env: Mapping[str, str] = os.environ,
    *,
    secretsmanager: Callable[[], SecretStore] | None = None,
) -> SecretStore:
    """The store named by ``$LAMBDA_CONNECT_SECRETS`` (or implied by the state URL).

    ``secretsmanager`` builds the AWS store; the runtime cannot import ``aws/`` itself, so the
    AWS entry point (``aws.secrets.open_secret_store``) passes it in.
    """
    setting = (env.get(SECRETS_ENV) or "").strip() or default_secrets_setting(state_url)
    if setting.startswith("file:") and setting[5:].strip():
        return LocalFileSecretStore(setting[5:].strip())
    if setting == "secretsmanager":
        if secretsmanager is None:
            raise ConfigException.for_key(
                SECRETS_ENV, setting, "Secrets Manager needs the AWS entry point (lambda_connect.aws.secrets)"
            )
        return secretsmanager()
    raise ConfigException.for_key(SECRETS_ENV, setting, "expected 'secretsmanager' or 'file:<path>'")
