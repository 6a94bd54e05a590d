"""The REST router on a local port: what ``functions/connector_api`` serves behind API Gateway.

A thread per connection, as Kafka Connect's Jetty serves requests concurrently. The HTTP/1.1
framing is read here, from the socket, rather than by ``http.server``: that module answers
framing errors with HTML, drops the connection on a bad ``Content-Length``, ignores chunked
bodies and waits forever for a client that stops half-way. Here every answer — a routed one
or one about the framing itself — is Kafka Connect's ``{"error_code", "message"}`` JSON, and
each stage of a request has a deadline (see :class:`ServerLimits`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from lambda_connect.rest.router import MAX_BODY_BYTES, Request, Response, Router, error_response

__all__ = ["RestServer", "ServerLimits"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    """How much a client may send and how long it may take; past a limit it gets a JSON error.

    Timeouts are wall-clock budgets for a whole stage, not per read, so a client trickling one
    byte at a time cannot stretch a stage beyond its budget.
    """

    #: Request line and headers, counted from the first byte of the request.
    header_timeout: float = 10.0
    #: The body, counted from the end of the headers.
    body_timeout: float = 30.0
    #: A kept-alive connection with no new request is closed (silently) after this long.
    idle_timeout: float = 30.0
    #: Writing a response to a client that does not read it.
    write_timeout: float = 10.0
    max_body_bytes: int = MAX_BODY_BYTES
    max_request_line: int = 8 * 1024
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    #: Connections served at once; more are answered 503 without a thread.
    max_connections: int = 256
    #: An oversized body is read and discarded up to this much so the client, still sending,
    #: gets the 413 rather than a broken pipe; beyond it the connection is simply closed.
    drain_bytes: int = 64 * 1024 * 1024
    drain_timeout: float = 10.0
    #: After an error answer, how long and how much to read while waiting for the client to close.
    linger_timeout: float = 2.0
    linger_bytes: int = 1024 * 1024


class _HttpError(Exception):
    """A request that cannot be served: answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Timeout(Exception):
    """A stage's deadline passed; ``started`` says whether any byte of the request arrived."""

    def __init__(self, started: bool) -> None:
        super().__init__("deadline passed")
        self.started = started


class _Closed(Exception):
    """The client closed the connection."""


class _Connection:
    """Reads from the socket with an absolute deadline per call (``socket.recv`` timeouts are
    per read, which a trickling client would keep renewing)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.received = 0

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Timeout(bool(self.buffer))
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise _Timeout(bool(self.buffer)) from None
        except OSError as e:
            raise _Closed() from e
        if not chunk:
            raise _Closed()
        self.received += len(chunk)
        self.buffer += chunk

    def wait_for_data(self, deadline: float) -> None:
        if not self.buffer:
            self._fill(deadline)

    def readline(self, limit: int, deadline: float, too_long: _HttpError) -> bytes:
        """One CRLF- (or LF-) terminated line without its terminator."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                if end > limit:
                    raise too_long
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buffer) > limit:
                raise too_long
            self._fill(deadline)

    def read(self, size: int, deadline: float) -> bytes:
        while len(self.buffer) < size:
            self._fill(deadline)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def discard(self, size: int, deadline: float) -> None:
        """Read and drop ``size`` bytes without keeping them."""
        while size > 0:
            if not self.buffer:
                self._fill(deadline)
            taken = min(size, len(self.buffer))
            del self.buffer[:taken]
            size -= taken


_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;.*)?")


@dataclass
class _Head:
    method: str
    target: str
    version: tuple[int, int]
    headers: list[tuple[str, str]]

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[-1] if values else None

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for v in self.get_all("connection") for t in v.split(",")}
        if self.version >= (1, 1):
            return "close" not in tokens
        return "keep-alive" in tokens


def _read_head(conn: _Connection, limits: ServerLimits, deadline: float) -> _Head:
    line = conn.readline(limits.max_request_line, deadline,
                         _HttpError(414, f"Request line is longer than {limits.max_request_line} bytes"))
    while not line:  # RFC 9112 §2.2: ignore empty lines before the request line
        line = conn.readline(limits.max_request_line, deadline,
                             _HttpError(414, f"Request line is longer than {limits.max_request_line} bytes"))
    parts = line.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise _HttpError(400, "Malformed request line: expected '<method> <target> HTTP/1.1'")
    version = _VERSION.fullmatch(parts[2])
    if version is None:
        raise _HttpError(400, "Malformed request line: the HTTP version is not HTTP/<major>.<minor>")
    major, minor = int(version.group(1)), int(version.group(2))
    if major != 1:
        raise _HttpError(505, f"HTTP version {major}.{minor} is not supported; use HTTP/1.1")
    headers: list[tuple[str, str]] = []
    size = 0
    too_big = _HttpError(431, f"Request headers are larger than {limits.max_header_bytes} bytes")
    while True:
        raw = conn.readline(limits.max_header_bytes, deadline, too_big)
        if not raw:
            break
        size += len(raw) + 2
        if size > limits.max_header_bytes:
            raise too_big
        if len(headers) >= limits.max_headers:
            raise _HttpError(431, f"Request has more than {limits.max_headers} headers")
        name, colon, value = raw.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            # Also refuses obsolete line folding and whitespace before the colon, both ways
            # to make two servers disagree on where a request ends.
            raise _HttpError(400, f"Malformed header line {raw[:60].decode('latin-1')!r}")
        headers.append((name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")))
    return _Head(parts[0].decode("ascii"), parts[1].decode("latin-1"), (major, minor), headers)


def _content_length(head: _Head) -> int:
    values = [v.strip() for header in head.get_all("content-length") for v in header.split(",")]
    if not values:
        return 0
    if any(not v.isascii() or not v.isdigit() or len(v) > 18 for v in values) or len(set(values)) > 1:
        shown = ", ".join(head.get_all("content-length"))
        raise _HttpError(400, f"Invalid Content-Length header {shown!r}: expected one non-negative integer")
    return int(values[0])


class _Handler(socketserver.BaseRequestHandler):
    """One connection: requests in turn (keep-alive) until the client or a limit ends it."""

    server: _Server

    def handle(self) -> None:
        conn = _Connection(self.request)
        limits = self.server.limits
        try:
            while self._one_request(conn, limits):
                pass
        except _Closed:
            pass
        finally:
            self.server.release()

    def _one_request(self, conn: _Connection, limits: ServerLimits) -> bool:
        try:
            conn.wait_for_data(time.monotonic() + limits.idle_timeout)
        except _Timeout:
            return False  # an idle kept-alive connection: close without a word
        try:
            head = _read_head(conn, limits, time.monotonic() + limits.header_timeout)
        except _HttpError as e:
            return self._fail(conn, e.status, e.message)
        except _Timeout:
            return self._fail(conn, 408, f"The request headers did not arrive within {limits.header_timeout:g} s")
        try:
            body = self._read_body(conn, head, limits)
        except _HttpError as e:
            return self._fail(conn, e.status, e.message)
        except _Timeout:
            return self._fail(conn, 408, f"The request body did not arrive within {limits.body_timeout:g} s")
        response = self._route(head, body)
        keep = head.keep_alive
        self._send(response, head.method == "HEAD", keep)
        return keep

    def _read_body(self, conn: _Connection, head: _Head, limits: ServerLimits) -> bytes:
        codings = [t.strip().lower() for v in head.get_all("transfer-encoding") for t in v.split(",") if t.strip()]
        if codings:
            if head.get_all("content-length"):
                raise _HttpError(400, "A request may not carry both Content-Length and Transfer-Encoding")
            if codings != ["chunked"]:
                raise _HttpError(501, f"Transfer-Encoding {', '.join(codings)!r} is not supported (only chunked)")
            return self._read_chunked(conn, limits)
        length = _content_length(head)
        if length > limits.max_body_bytes:
            if (head.get("expect") or "").lower() == "100-continue":
                raise _HttpError(413, _too_large(limits))  # the client waits: nothing to drain
            self._drain(conn, length, limits)
            raise _HttpError(413, _too_large(limits))
        if length and (head.get("expect") or "").lower() == "100-continue":
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return conn.read(length, time.monotonic() + limits.body_timeout) if length else b""

    def _drain(self, conn: _Connection, length: int, limits: ServerLimits) -> None:
        """Swallow an oversized body (within bounds) so the 413 reaches a client that is still
        sending; past the bounds the connection is closed after the answer."""
        if length > limits.drain_bytes:
            return
        with contextlib.suppress(_Timeout, _Closed):
            conn.discard(length, time.monotonic() + limits.drain_timeout)

    def _read_chunked(self, conn: _Connection, limits: ServerLimits) -> bytes:
        """A chunked body, held to the same size limit; past the limit the rest is discarded
        (up to ``drain_bytes``) so the client can read the 413."""
        deadline = time.monotonic() + limits.body_timeout
        body = bytearray()
        seen = 0
        bad = _HttpError(400, "Malformed chunked body: a chunk-size line is not hexadecimal")
        while True:
            match = _CHUNK_SIZE.fullmatch(conn.readline(1024, deadline, bad))
            if match is None:
                raise bad
            size = int(match.group(1), 16)
            if size == 0:
                break
            seen += size
            if seen > limits.drain_bytes:
                raise _HttpError(413, _too_large(limits))
            if seen > limits.max_body_bytes:
                body.clear()
                conn.discard(size, deadline)
            else:
                body += conn.read(size, deadline)
            if conn.read(2, deadline) != b"\r\n":
                raise _HttpError(400, "Malformed chunked body: a chunk does not end with CRLF")
        trailers = 0
        too_big = _HttpError(431, "Chunked body trailers are too large")
        while conn.readline(limits.max_header_bytes, deadline, too_big):
            trailers += 1
            if trailers > limits.max_headers:
                raise too_big
        if seen > limits.max_body_bytes:
            raise _HttpError(413, _too_large(limits))
        return bytes(body)

    def _route(self, head: _Head, body: bytes) -> Response:
        target = head.target
        if target.startswith(("http://", "https://")):  # absolute form: keep path and query only
            after = target.split("://", 1)[1]
            target = "/" + after.split("/", 1)[1] if "/" in after else "/"
        headers = {name: value for name, value in head.headers}
        try:
            return self.server.router.handle(Request.from_target(head.method.upper(), target, body, headers))
        except Exception as e:  # the router maps errors itself; this is a last resort
            log.exception("request %s %s failed", head.method, head.target)
            return error_response(500, f"{type(e).__name__}: {e}")

    def _fail(self, conn: _Connection, status: int, message: str) -> bool:
        log.debug("%s: answering %s: %s", self.client_address, status, message)
        self._send(error_response(status, message), False, False)
        self._linger()
        return False

    def _linger(self) -> None:
        """After an error answer, read (and drop) what the client still sends until it closes,
        briefly: closing a socket with unread data makes the kernel reset the connection, and a
        reset can destroy the answer before the client has read it."""
        deadline = time.monotonic() + self.server.limits.linger_timeout
        left_bytes = self.server.limits.linger_bytes
        with contextlib.suppress(OSError):
            while left_bytes > 0 and (left := deadline - time.monotonic()) > 0:
                self.request.settimeout(left)
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                left_bytes -= len(chunk)

    def _send(self, response: Response, head_only: bool, keep_alive: bool) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {response.status} {reason}", "Server: lambda-connect",
                 f"Date: {formatdate(usegmt=True)}"]
        lines += [f"{k}: {v}" for k, v in response.headers.items()]
        lines.append(f"Content-Length: {len(response.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._write(data if head_only or not response.body else data + response.body)
        if not keep_alive:
            with contextlib.suppress(OSError):
                self.request.shutdown(socket.SHUT_WR)

    def _write(self, data: bytes) -> None:
        self.request.settimeout(self.server.limits.write_timeout)
        try:
            self.request.sendall(data)
        except OSError as e:
            raise _Closed() from e


def _too_large(limits: ServerLimits) -> str:
    return f"Request body is larger than the limit of {limits.max_body_bytes} bytes"


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    request_queue_size = 1024  # the listen backlog: a burst of clients must not wait for SYN retries
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], router: Router, limits: ServerLimits) -> None:
        self.router = router
        self.limits = limits
        self._active = 0
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    @property
    def active(self) -> int:
        """Connections being served now."""
        return self._active

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            admitted = self._active < self.limits.max_connections
            if admitted:
                self._active += 1
        if admitted:
            super().process_request(request, client_address)
            return
        # Answered from the accepting thread, briefly, so a flood cannot make it wait.
        body = error_response(503, f"Too many open connections (limit {self.limits.max_connections})").body
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        with contextlib.suppress(OSError):
            request.settimeout(0.5)
            request.sendall(head + body)
        self.shutdown_request(request)

    def release(self) -> None:
        with self._lock:
            self._active -= 1


class RestServer:
    """Serves ``router`` on ``host:port`` (port 0 picks a free one) from a background thread."""

    def __init__(self, router: Router, host: str = "127.0.0.1", port: int = 8083,
                 limits: ServerLimits | None = None) -> None:
        self.limits = limits or ServerLimits()
        self._server = _Server((host, port), router, self.limits)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    @property
    def active_connections(self) -> int:
        """Connections with a thread serving them (for tests and diagnostics)."""
        return self._server.active

    def start(self) -> RestServer:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="rest-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
