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
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote

from lambda_connect.api.config import ConfigType
from lambda_connect.api.errors import ConfigException

__all__ = [
    "CLIENT_PASSWORD_KEYS",
    "DEFAULT_SECRETS_PREFIX",
    "SECRETS_ENV",
    "SECRETS_PREFIX_ENV",
    "LocalFileSecretStore",
    "SecretStore",
    "default_secrets_setting",
    "is_client_password_key",
    "is_password_key",
    "is_reference",
    "legacy_secret_id",
    "open_secret_store",
    "owns_secret",
    "password_keys",
    "protect_secret_file",
    "protect_secret_prefix",
    "protected_secret_files",
    "protected_secret_prefixes",
    "secret_id",
    "secret_owner",
    "secretsmanager_secret_name",
]

SECRETS_ENV = "LAMBDA_CONNECT_SECRETS"
#: Secrets Manager names of connector secrets start with this (``$LAMBDA_CONNECT_SECRETS_PREFIX``).
SECRETS_PREFIX_ENV = "LAMBDA_CONNECT_SECRETS_PREFIX"
DEFAULT_SECRETS_PREFIX = "lambda-connect/connectors/"

#: PASSWORD-typed keys of Kafka's producer, consumer and admin client configs, of the Schema
#: Registry client (used through converters), and librdkafka's own secret keys. They are
#: secrets wherever they appear: bare, or after a prefix such as ``producer.override.``,
#: ``consumer.override.``, ``admin.override.`` or ``value.converter.``.
CLIENT_PASSWORD_KEYS = frozenset({
    # Kafka clients: SslConfigs and SaslConfigs
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.keystore.key",
    "ssl.keystore.certificate.chain",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
    "sasl.jaas.config",
    "sasl.oauthbearer.client.credentials.client.secret",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    # Schema Registry client
    "basic.auth.user.info",
    "schema.registry.basic.auth.user.info",
    "bearer.auth.token",
    "bearer.auth.client.secret",
    # librdkafka (what our producers and consumers are built on)
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    "ssl.key.pem",
})

# Escaped inside a secret id so that the id can sit in ``${provider:path:id}`` and so that the
# first unescaped "." always separates the connector from the key (for the connector part).
_ESCAPED_IN_KEY = frozenset("%:}${")
_ESCAPED_IN_CONNECTOR = _ESCAPED_IN_KEY | {"."}


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

    def delete(self, connector: str, keys: Iterable[str] = ()) -> None:
        """Forget every secret of a deleted connector (``keys``: its config keys, which lets a
        store find entries it named differently in earlier versions)."""
        ...


def is_reference(value: str) -> bool:
    """A value that is already a config-provider reference is stored as given."""
    stripped = value.strip()
    return stripped.startswith("${") and stripped.endswith("}")


def _escape(text: str, escaped: frozenset[str]) -> str:
    return "".join(
        "".join(f"%{b:02X}" for b in ch.encode()) if ch in escaped or ord(ch) < 0x20 else ch for ch in text
    )


def secret_id(connector: str, key: str) -> str:
    """``<connector>.<key>`` with ``%``, ``:``, ``{``, ``}``, ``$`` (and, in the connector part,
    ``.``) percent-escaped: an id names exactly one (connector, key) pair, so connector ``a``
    never owns an id of connector ``a.b``, and every id fits the ``${provider:path:key}`` syntax.
    Plain names (``jdbc`` + ``connection.password``) keep the readable ``jdbc.connection.password``."""
    return f"{_escape(connector, _ESCAPED_IN_CONNECTOR)}.{_escape(key, _ESCAPED_IN_KEY)}"


def legacy_secret_id(connector: str, key: str) -> str:
    """The digest id earlier versions gave names holding ``:``, ``}`` or ``$`` (still resolved
    for its owner and removed on delete)."""
    return "sha256-" + hashlib.sha256(f"{connector}.{key}".encode()).hexdigest()


def secret_owner(identifier: str) -> str | None:
    """The connector a :func:`secret_id` belongs to (None for ids not made by it)."""
    head, dot, _ = identifier.partition(".")
    if not dot or identifier.startswith("sha256-"):
        return None
    return unquote(head)


def owns_secret(connector: str, identifier: str, key: str | None = None) -> bool:
    """Whether ``identifier`` is one of ``connector``'s own entries: made by :func:`secret_id`
    for it, or the legacy digest of (``connector``, ``key``)."""
    if secret_owner(identifier) == connector:
        return True
    return key is not None and identifier == legacy_secret_id(connector, key)


def is_client_password_key(name: str) -> bool:
    """A key of Kafka's client configs that Kafka types PASSWORD, bare or behind any dotted
    prefix (``producer.override.sasl.jaas.config``, ``value.converter.basic.auth.user.info``)."""
    lowered = name.lower()
    return any(lowered == k or lowered.endswith("." + k) for k in CLIENT_PASSWORD_KEYS)


def secretsmanager_secret_name(prefix: str, connector: str) -> str:
    """``<prefix><connector>``; characters Secrets Manager refuses in names are replaced and a
    short digest appended, so two connectors never share a secret."""
    cleaned = _SECRET_NAME_CHARS.sub("_", connector)
    name = prefix + cleaned
    if cleaned != connector or len(name) > 500:
        digest = hashlib.sha256(connector.encode()).hexdigest()[:12]
        name = f"{name[:480]}-{digest}"
    return name


_SECRET_NAME_CHARS = re.compile(r"[^A-Za-z0-9/_+=.@-]")

#: Where this process keeps connector secrets: the files of every LocalFileSecretStore and the
#: Secrets Manager prefixes of every SecretsManagerSecretStore made here. Config providers
#: refuse a connector's reference into them unless the entry is that connector's own.
_PROTECTED_FILES: set[Path] = set()
_PROTECTED_PREFIXES: set[str] = set()


def protect_secret_file(path: str | os.PathLike[str]) -> None:
    _PROTECTED_FILES.add(Path(path).absolute())


def protect_secret_prefix(prefix: str) -> None:
    if prefix:
        _PROTECTED_PREFIXES.add(prefix)


def protected_secret_files(env: Mapping[str, str] = os.environ) -> set[Path]:
    """The runtime's secret files: those of stores made in this process and the one the
    environment names (``$LAMBDA_CONNECT_SECRETS``, else the default beside the state database),
    so a task process that never opened the store still guards it."""
    files = set(_PROTECTED_FILES)
    setting = (env.get(SECRETS_ENV) or "").strip()
    if not setting:
        url = env.get("LAMBDA_CONNECT_STATE_URL") or ""
        if not url.lower().startswith(("memory", "dynamodb")):
            setting = default_secrets_setting(url or None)
    if setting.startswith("file:") and setting[5:].strip():
        files.add(Path(setting[5:].strip()).absolute())
    return files


#: The shape of every prefix the SAM stack gives connector secrets
#: (``lambda-connect/<stack>/connectors/``), recognised also in functions whose environment
#: does not name the prefix (the task functions).
_STACK_PREFIX = re.compile(r"lambda-connect/(?:[^/]+/)?connectors/")


def protected_secret_prefixes(env: Mapping[str, str] = os.environ, name: str | None = None) -> set[str]:
    """Secrets Manager name prefixes that hold connector secrets: the configured one (or the
    default), those of stores made here and, for ``name``, the stack prefix it starts with."""
    prefix = env.get(SECRETS_PREFIX_ENV)
    out = {*_PROTECTED_PREFIXES, prefix if prefix else DEFAULT_SECRETS_PREFIX}
    if name is not None and (match := _STACK_PREFIX.match(name)):
        out.add(match.group(0))
    return out


def is_password_key(definition_keys: Mapping[str, Any], name: str) -> bool:
    """PASSWORD in the connector's definition, or a PASSWORD key of Kafka's client configs."""
    key = definition_keys.get(name)
    return (key is not None and key.type is ConfigType.PASSWORD) or is_client_password_key(name)


def password_keys(definition_keys: Mapping[str, Any], props: Mapping[str, Any]) -> list[str]:
    """Keys of ``props`` that hold secrets (:func:`is_password_key`) as a literal, not a reference."""
    out = []
    for name, value in props.items():
        if not isinstance(value, str) or not is_password_key(definition_keys, name):
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
        protect_secret_file(self.path)

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

    def delete(self, connector: str, keys: Iterable[str] = ()) -> None:
        """Drop exactly this connector's entries (by owner, never by name prefix: deleting
        ``a`` keeps the secrets of ``a.b``)."""
        legacy = {legacy_secret_id(connector, k) for k in keys}
        with self._lock:
            data = self._read()
            kept = {k: v for k, v in data.items() if not owns_secret(connector, k) and k not in legacy}
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
