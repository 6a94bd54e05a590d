"""Credentials for the HTTP sink's requests, OAuth2 tokens cached for the container's life.

A warm Lambda container keeps its token between invocations (``_TOKENS``), so the token
endpoint sees one request per token lifetime, not one per batch. A token is renewed shortly
before ``expires_in`` runs out, and at once when the API answers 401 with it.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

from lambda_connect.api.errors import ConnectException, RetriableException

from .config import HttpSettings

__all__ = ["Credentials", "basic_header"]

_EARLY_S = 30.0  # renew this long before the token says it expires
_TOKENS: dict[tuple[str, str, str], tuple[str, float]] = {}
_LOCK = threading.Lock()


def basic_header(user: str, password: str) -> str:
    """The ``Authorization`` value of HTTP Basic authentication."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class Credentials:
    """Adds the configured authentication to a request's headers and query parameters."""

    def __init__(self, settings: HttpSettings, clock: Any = time.monotonic) -> None:
        self.s = settings
        self.clock = clock
        self._cache_key = (settings.oauth_url or "", settings.oauth_client_id or "", settings.oauth_scope)

    def apply(self, client: Any, headers: dict[str, str], params: dict[str, str]) -> None:
        s = self.s
        if s.auth_type == "BASIC":
            headers["Authorization"] = basic_header(s.user or "", s.password or "")
        elif s.auth_type == "BEARER":
            headers["Authorization"] = f"Bearer {s.bearer_token}"
        elif s.auth_type == "API_KEY":
            (headers if s.api_key_location == "HEADER" else params)[s.api_key_name] = s.api_key or ""
        elif s.auth_type == "OAUTH2":
            headers["Authorization"] = f"Bearer {self.token(client)}"

    def invalidate(self) -> bool:
        """Forget the cached token (the API refused it); True when there was one to forget."""
        with _LOCK:
            return _TOKENS.pop(self._cache_key, None) is not None

    def token(self, client: Any) -> str:
        with _LOCK:
            cached = _TOKENS.get(self._cache_key)
            if cached is not None and cached[1] > self.clock():
                return cached[0]
            token, lifetime = self._fetch(client)
            _TOKENS[self._cache_key] = (token, self.clock() + max(lifetime - _EARLY_S, lifetime / 2))
            return token

    def _fetch(self, client: Any) -> tuple[str, float]:
        import json
        import urllib.parse

        from .transport import TransportError

        s = self.s
        form = {"grant_type": "client_credentials"}
        if s.oauth_scope:
            form["scope"] = s.oauth_scope
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                   **dict(s.oauth_headers)}
        if s.oauth_auth_mode == "header":
            headers["Authorization"] = basic_header(s.oauth_client_id or "", s.oauth_client_secret or "")
        else:
            form.update(client_id=s.oauth_client_id or "", client_secret=s.oauth_client_secret or "")
        try:
            response = client.request("POST", s.oauth_url, urllib.parse.urlencode(form).encode(), headers)
        except TransportError as e:
            raise RetriableException(f"OAuth2 token request to {s.oauth_url} failed: {e}") from e
        if response.status >= 500 or response.status == 429:
            raise RetriableException(f"OAuth2 token endpoint {s.oauth_url} answered {response.status}")
        if response.status != 200:
            raise ConnectException(f"OAuth2 token endpoint {s.oauth_url} refused the client credentials: "
                                   f"{response.status} {response.text[:500]}")
        try:
            body = json.loads(response.body)
            token = body[s.oauth_token_property]
        except (ValueError, KeyError, TypeError) as e:
            raise ConnectException(f"OAuth2 token response of {s.oauth_url} has no '{s.oauth_token_property}' "
                                   f"field: {response.text[:500]}") from e
        expires = body.get("expires_in") if isinstance(body, dict) else None
        lifetime = float(expires) if isinstance(expires, (int, float, str)) and str(expires).strip() else 3600.0
        return str(token), lifetime
