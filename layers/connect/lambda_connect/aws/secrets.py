"""Connector secrets in AWS Secrets Manager: one secret per connector, a JSON object of its
PASSWORD values, referenced from the stored config as ``${secretsmanager:<secret-name>:<key>}``
(resolved by ``runtime.config_providers`` when a task starts).

Secret names are ``<prefix><connector>`` (prefix ``$LAMBDA_CONNECT_SECRETS_PREFIX``, default
``lambda-connect/connectors/``). Characters Secrets Manager does not allow in names are
replaced, with a short digest appended so two connectors never share a secret.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from lambda_connect.runtime.secrets import (
    DEFAULT_SECRETS_PREFIX,
    SECRETS_PREFIX_ENV,
    SecretStore,
    protect_secret_prefix,
    secret_id,
    secretsmanager_secret_name,
)
from lambda_connect.runtime.secrets import open_secret_store as _open_secret_store

__all__ = ["PREFIX_ENV", "SecretsManagerSecretStore", "open_secret_store"]

PREFIX_ENV = SECRETS_PREFIX_ENV
DEFAULT_PREFIX = DEFAULT_SECRETS_PREFIX


class SecretsManagerSecretStore:
    """A :class:`~lambda_connect.runtime.secrets.SecretStore` on Secrets Manager (boto3 lazily)."""

    def __init__(self, client: Any = None, *, prefix: str | None = None) -> None:
        self._client = client
        self.prefix = prefix if prefix is not None else os.environ.get(PREFIX_ENV, DEFAULT_PREFIX)
        self._lock = threading.Lock()
        protect_secret_prefix(self.prefix)

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError as e:  # pragma: no cover - depends on installed extras
                raise RuntimeError("boto3 is required for Secrets Manager secrets; install lambda-connect[aws]") from e
            self._client = boto3.client("secretsmanager")
        return self._client

    def secret_name(self, connector: str) -> str:
        return secretsmanager_secret_name(self.prefix, connector)

    def reference(self, connector: str, key: str) -> str:
        return f"${{secretsmanager:{self.secret_name(connector)}:{_json_key(key)}}}"

    def _read(self, name: str) -> dict[str, str] | None:
        try:
            text = self.client.get_secret_value(SecretId=name).get("SecretString") or "{}"
        except self.client.exceptions.ResourceNotFoundException:
            return None
        data = json.loads(text)
        return data if isinstance(data, dict) else {}

    def store(self, connector: str, key: str, value: str) -> str:
        name = self.secret_name(connector)
        with self._lock:
            data = self._read(name)
            if data is None:
                self.client.create_secret(
                    Name=name,
                    SecretString=json.dumps({_json_key(key): value}),
                    Description=f"lambda-connect connector {connector}: PASSWORD config values",
                )
            else:
                data[_json_key(key)] = value
                self.client.put_secret_value(SecretId=name, SecretString=json.dumps(data))
        return self.reference(connector, key)

    def delete(self, connector: str, keys: Iterable[str] = ()) -> None:
        """One secret per connector, named exactly: nothing of another connector goes with it."""
        try:
            self.client.delete_secret(SecretId=self.secret_name(connector), ForceDeleteWithoutRecovery=True)
        except self.client.exceptions.ResourceNotFoundException:
            return


def _json_key(key: str) -> str:
    """The field of the connector's secret holding ``key`` (escaped as in ``secret_id`` where
    ``key`` would break the reference syntax)."""
    return secret_id("", key)[1:]


def open_secret_store(state_url: str | None = None, env: Mapping[str, str] = os.environ) -> SecretStore:
    """The secret store for this deployment: Secrets Manager or the local file (see runtime.secrets)."""
    return _open_secret_store(state_url, env, secretsmanager=SecretsManagerSecretStore)
