"""Pooled HTTP/1.1 keep-alive connections on the standard library's ``http.client``.

Why not an HTTP client library: a sink request is one POST of an already built body to one of a
few hosts, and the per-request bookkeeping of a general client (httpx: ~1 ms of CPU per request,
measured in ``bench/sink_http.py``) would cost more than the rest of the invocation. This keeps
what the sink needs — pooled connections per host that warm invocations reuse, separate connect
and read timeouts, TLS with the connector's context, an HTTP proxy (CONNECT for https) — and
nothing else. Connections are taken from the pool for one request and given back, so concurrent
tasks in one process (the local runtime) never share one.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass

__all__ = ["CertificateRefused", "Response", "Transport", "TransportError"]

_Key = tuple[str, str, int]


class TransportError(Exception):
    """The request got no answer (refused, reset, timed out): worth retrying."""


class CertificateRefused(TransportError):
    """The server's TLS certificate did not verify: retrying cannot help."""


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    authorization: str | None

    @classmethod
    def parse(cls, url: str | None) -> Proxy | None:
        if not url:
            return None
        parts = urllib.parse.urlsplit(url)
        auth = None
        if parts.username:
            raw = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(raw.encode()).decode("ascii")
        return cls(parts.hostname or "", parts.port or 80, auth)


class Transport:
    """Keep-alive connections per (scheme, host, port), shared by the tasks of a container."""

    def __init__(self, *, connect_timeout_s: float, request_timeout_s: float, ssl_context: ssl.SSLContext,
                 proxy: str | None = None) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self.ssl_context = ssl_context
        self.proxy = Proxy.parse(proxy)
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def request(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Response:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {url}")
        key = (scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if self.proxy is not None and scheme == "http":
            target = url  # a plain-HTTP proxy takes the absolute URL
            if self.proxy.authorization:
                headers = {**headers, "Proxy-Authorization": self.proxy.authorization}
        conn, reused = self._take(key)
        try:
            response = self._exchange(conn, method, target, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
            conn.close()
            if not reused:
                raise TransportError(f"{type(e).__name__}: {e}") from e
            conn, reused = self._new(key), False  # the server closed the idle connection: once more, fresh
            response = self._exchange_or_raise(conn, method, target, body, headers)
        except (ssl.SSLCertVerificationError, ssl.CertificateError) as e:
            conn.close()
            raise CertificateRefused(str(e)) from e
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise TransportError(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__) from e
        self._give_back(key, conn, response)
        return response

    def _exchange_or_raise(self, conn: http.client.HTTPConnection, method: str, target: str,
                           body: bytes | None, headers: dict[str, str]) -> Response:
        try:
            return self._exchange(conn, method, target, body, headers)
        except (ssl.SSLCertVerificationError, ssl.CertificateError) as e:
            conn.close()
            raise CertificateRefused(str(e)) from e
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise TransportError(f"{type(e).__name__}: {e}") from e

    def _exchange(self, conn: http.client.HTTPConnection, method: str, target: str, body: bytes | None,
                  headers: dict[str, str]) -> Response:
        if conn.sock is None:
            conn.timeout = self.connect_timeout_s
            conn.connect()
            conn.sock.settimeout(self.request_timeout_s)  # type: ignore[union-attr]
        conn.request(method, target, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        response = Response(answer.status, answer.headers, data)
        if answer.will_close:
            conn.close()
        return response

    def _new(self, key: _Key) -> http.client.HTTPConnection:
        scheme, host, port = key
        proxy = self.proxy
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                proxy.host if proxy else host, proxy.port if proxy else port, context=self.ssl_context)
            if proxy is not None:
                tunnel_headers = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
                conn.set_tunnel(host, port, headers=tunnel_headers)
        else:
            conn = http.client.HTTPConnection(proxy.host if proxy else host, proxy.port if proxy else port)
        return conn

    def _take(self, key: _Key) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        return self._new(key), False

    def _give_back(self, key: _Key, conn: http.client.HTTPConnection, response: Response) -> None:
        if conn.sock is None:
            return
        with self._lock:
            self._idle.setdefault(key, []).append(conn)

    def close(self) -> None:
        with self._lock:
            pools, self._idle = list(self._idle.values()), {}
        for pool in pools:
            for conn in pool:
                conn.close()

    def local_ports(self) -> list[int]:
        """Local ports of the idle connections (tests check that connections are reused)."""
        with self._lock:
            return [c.sock.getsockname()[1] for pool in self._idle.values() for c in pool
                    if isinstance(c.sock, socket.socket)]
