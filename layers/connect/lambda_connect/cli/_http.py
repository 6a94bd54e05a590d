"""A Kafka Connect REST client for the CLI: any Connect-compatible endpoint.

Standard library HTTP (no extra dependency). A deployed lambda-connect API sits behind API
Gateway with IAM auth, so requests to an ``execute-api`` host are signed with SigV4 (service
``execute-api``) using botocore's signer and the default credential chain — the same
credentials the AWS CLI would use.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

__all__ = ["DEFAULT_URL", "ConnectClient", "ConnectError", "quote_name"]

DEFAULT_URL = "http://127.0.0.1:8083"
_EXECUTE_API = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class ConnectError(Exception):
    """A non-2xx answer (``status``, Kafka's ``error_code``/``message``) or no answer at all."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Reply:
    status: int
    body: Any
    #: Response headers, names lower-cased (``x-lambda-connect-warning`` carries a create's warning).
    headers: dict[str, str] = field(default_factory=dict)


def quote_name(name: str) -> str:
    """A connector name as one path segment."""
    return quote(name, safe="")


def execute_api_region(url: str) -> str | None:
    """The region of an API Gateway URL, None for any other host."""
    match = _EXECUTE_API.match(urlsplit(url).hostname or "")
    return match.group(1) if match else None


class ConnectClient:
    """``request(method, path, body=None, query=None)`` → parsed JSON (None for empty bodies)."""

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 90.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._region = execute_api_region(self.url)

    def _sign(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        try:
            import botocore.session
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
        except ImportError as e:
            raise ConnectError(0, "signing requests to API Gateway needs botocore: pip install 'lambda-connect[aws]'") \
                from e
        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise ConnectError(0, f"no AWS credentials found to sign the request to {self.url}")
        request = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self._region).add_auth(request)
        return dict(request.headers.items())

    @property
    def signs(self) -> bool:
        """True when requests go to API Gateway and are SigV4-signed."""
        return self._region is not None

    def signed_headers(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        """``headers`` plus the SigV4 ones for an API Gateway URL (as they are for any other)."""
        return self._sign(method, url, data, headers) if self._region else dict(headers)

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        return self.call(method, path, body, query).body

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> _Reply:
        url = self.url + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._region:
            headers = self._sign(method, url, data, headers)
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return _Reply(resp.status, _parse(resp.read()), {k.lower(): v for k, v in resp.headers.items()})
        except urllib.error.HTTPError as e:
            payload = _parse(e.read())
            message = payload.get("message") if isinstance(payload, dict) else None
            raise ConnectError(e.code, str(message or payload or e.reason)) from None
        except urllib.error.URLError as e:
            raise ConnectError(0, f"cannot reach {self.url}: {e.reason}") from None


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
