"""The HTTP server of ``lambda-connect up`` over real sockets: every answer — also about the
framing below the router — is Kafka Connect's JSON error shape, and a client that sends too
much, too slowly or too strangely gets a status, never a dropped connection or a held thread."""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.local.server import RestServer, ServerLimits
from lambda_connect.rest.resources import ConnectService
from lambda_connect.rest.router import MAX_BODY_BYTES, Router
from lambda_connect.state import open_store

SINK = {"connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/unused.txt"}
LIMITS = ServerLimits(header_timeout=1.0, body_timeout=1.5, idle_timeout=3.0)


@pytest.fixture()
def server() -> Iterator[RestServer]:
    store = open_store("memory://")
    srv = RestServer(Router(ConnectService(store, None, None, None)), "127.0.0.1", 0, LIMITS).start()
    yield srv
    srv.stop()
    store.close()


def _connect(srv: RestServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-cased) and exactly Content-Length bytes of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed without a complete response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def exchange(srv: RestServer, raw: bytes) -> tuple[int, dict[str, str], Any]:
    with _connect(srv) as sock:
        sock.sendall(raw)
        status, headers, body = _read_response(sock)
    return status, headers, json.loads(body) if body else None


def assert_error(reply: tuple[int, dict[str, str], Any], status: int, fragment: str) -> None:
    got, headers, body = reply
    assert got == status, body
    assert headers["content-type"] == "application/json"
    assert body["error_code"] == status
    assert fragment in body["message"], body["message"]


def test_trace_and_unknown_methods_are_json_405_or_404(server: RestServer) -> None:
    reply = exchange(server, b"TRACE /connectors HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_error(reply, 405, "HTTP 405 Method Not Allowed")
    assert "GET" in reply[1]["allow"]
    assert_error(exchange(server, b"BREW /connectors HTTP/1.1\r\nHost: x\r\n\r\n"), 405, "Method Not Allowed")
    assert_error(exchange(server, b"TRACE /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"), 404, "HTTP 404 Not Found")


@pytest.mark.parametrize("value", [b"abc", b"-5", b"1e3", b"5, 6", b" "])
def test_a_bad_content_length_is_answered_400(server: RestServer, value: bytes) -> None:
    raw = b"POST /connectors HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\n{}"
    assert_error(exchange(server, raw), 400, "Content-Length")


@pytest.mark.parametrize(("raw", "status", "fragment"), [
    (b"GET /connectors\r\n\r\n", 400, "request line"),
    (b"GET /connectors HTTP/2.0\r\n\r\n", 505, "not supported"),
    (b"GET /connectors HTTP/1.1\r\nno colon here\r\n\r\n", 400, "Malformed header"),
    (b"GET /connectors HTTP/1.1\r\nHost : x\r\n\r\n", 400, "Malformed header"),
    (b"GET /connectors HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "Malformed header"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, "Request line"),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n", 431, "headers"),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"v" * 17000 + b"\r\n\r\n", 431, "headers"),
    (b"POST /connectors HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
     "both Content-Length and Transfer-Encoding"),
    (b"POST /connectors HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not supported"),
    (b"POST /connectors HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk-size"),
])
def test_framing_errors_are_json(server: RestServer, raw: bytes, status: int, fragment: str) -> None:
    reply = exchange(server, raw)
    assert_error(reply, status, fragment)
    assert reply[1]["connection"] == "close"


def test_a_10_mb_body_gets_its_413_not_a_broken_pipe(server: RestServer) -> None:
    body = b'{"name": "big", "config": {"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}}'
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/connectors", body, {"Content-Type": "application/json"})
    reply = conn.getresponse()
    payload = json.loads(reply.read())
    conn.close()
    assert reply.status == 413
    assert payload == {"error_code": 413,
                       "message": f"Request body is larger than the limit of {MAX_BODY_BYTES} bytes"}
    assert exchange(server, b"GET /connectors HTTP/1.1\r\n\r\n")[2] == []


def test_an_oversized_body_announced_with_expect_is_refused_before_it_is_sent(server: RestServer) -> None:
    raw = b"POST /connectors HTTP/1.1\r\nContent-Length: 999999999\r\nExpect: 100-continue\r\n\r\n"
    assert_error(exchange(server, raw), 413, "larger than the limit")


def _chunked(body: bytes, size: int = 7) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\nX-Trailer: t\r\n\r\n"


def test_a_chunked_body_is_read(server: RestServer) -> None:
    body = json.dumps({"name": "chunky", "config": SINK}).encode()
    raw = (b"POST /connectors HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           + _chunked(body))
    status, headers, created = exchange(server, raw)
    assert status == 201, created
    assert created["name"] == "chunky" and headers["location"] == "/connectors/chunky"
    assert exchange(server, b"GET /connectors HTTP/1.1\r\n\r\n")[2] == ["chunky"]


def test_an_oversized_chunked_body_is_413(server: RestServer) -> None:
    body = b'{"name": "big", "config": {"pad": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}}'
    raw = b"POST /connectors HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(body, 65536)
    assert_error(exchange(server, raw), 413, "larger than the limit")
    assert exchange(server, b"GET /connectors HTTP/1.1\r\n\r\n")[2] == []


def test_a_non_json_content_type_is_415(server: RestServer) -> None:
    body = json.dumps({"name": "typed", "config": SINK}).encode()
    raw = (b"POST /connectors HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    assert_error(exchange(server, raw), 415, "Unsupported Media Type")
    raw = raw.replace(b"text/plain", b"application/json; charset=utf-8")
    assert exchange(server, raw)[0] == 201


def _wait_until(predicate: Any, seconds: float = 30.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_200_half_sent_requests_time_out_with_408_and_free_their_threads(server: RestServer) -> None:
    stalled = []
    try:
        for i in range(200):
            sock = _connect(server)
            # Half the clients stop inside the headers, half inside the body.
            sock.sendall(b"POST /connectors HTTP/1.1\r\nHost: x\r\n" if i % 2 else
                         b"POST /connectors HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"na")
            stalled.append(sock)
        # The server keeps serving others meanwhile.
        assert exchange(server, b"GET /connectors HTTP/1.1\r\n\r\n")[0] == 200
        for i, sock in enumerate(stalled):
            status, _, body = _read_response(sock)
            assert status == 408 and json.loads(body)["error_code"] == 408, body
            assert ("headers" if i % 2 else "body") in json.loads(body)["message"]
    finally:
        for sock in stalled:
            sock.close()
    assert _wait_until(lambda: server.active_connections == 0), server.active_connections


def test_a_trickling_client_cannot_stretch_the_header_deadline(server: RestServer) -> None:
    """One header byte every 0.1 s for 6 s would renew a per-read timeout forever; the 1 s
    budget for the whole head ends it with a 408 long before the headers are complete."""
    with _connect(server) as sock:
        sock.sendall(b"GET /connectors HTTP/1.1\r\nX-Slow: ")
        for _ in range(60):
            if select.select([sock], [], [], 0.1)[0]:
                break
            try:
                sock.sendall(b"s")
            except OSError:
                break
        else:
            raise AssertionError("the server waited 6 s for headers whose budget is 1 s")
        status, _, body = _read_response(sock)
    assert status == 408, body


def test_connections_beyond_the_limit_get_503_and_room_comes_back() -> None:
    store = open_store("memory://")
    limits = ServerLimits(max_connections=2, idle_timeout=30.0)
    srv = RestServer(Router(ConnectService(store, None, None, None)), "127.0.0.1", 0, limits).start()
    try:
        held = [_connect(srv), _connect(srv)]
        assert _wait_until(lambda: srv.active_connections == 2)
        assert_error(exchange(srv, b"GET / HTTP/1.1\r\n\r\n"), 503, "Too many open connections")
        for sock in held:
            sock.close()
        assert _wait_until(lambda: srv.active_connections == 0)
        assert exchange(srv, b"GET /connectors HTTP/1.1\r\n\r\n")[0] == 200
    finally:
        srv.stop()
        store.close()


def test_keep_alive_serves_several_requests_on_one_connection(server: RestServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        body = json.dumps({"name": "kept", "config": SINK})
        conn.request("POST", "/connectors", body, {"Content-Type": "application/json"})
        first = conn.getresponse()
        assert first.status == 201 and json.loads(first.read())["name"] == "kept"
        conn.request("GET", "/connectors/kept/status")
        second = conn.getresponse()
        assert second.status == 200 and json.loads(second.read())["name"] == "kept"
        conn.request("HEAD", "/connectors")
        third = conn.getresponse()
        assert third.status == 200 and third.read() == b""
    finally:
        conn.close()


def test_a_deeply_nested_body_is_400_over_the_socket(server: RestServer) -> None:
    body = b'{"name": "n", "config": ' + b"[" * 20000 + b"]" * 20000 + b"}"
    raw = b"POST /connectors HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    assert_error(exchange(server, raw), 400, "deeper than the limit of 64 levels")


def test_expect_100_continue_within_the_limit_is_invited_then_served(server: RestServer) -> None:
    body = json.dumps({"name": "expected", "config": SINK}).encode()
    with _connect(server) as sock:
        sock.sendall(b"POST /connectors HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(1)
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        status, _, created = _read_response(sock)
    assert status == 201 and json.loads(created)["name"] == "expected"


def test_an_error_answer_survives_unread_bytes_behind_it(server: RestServer) -> None:
    """The client keeps sending after a framing error; the answer still arrives intact
    (the server reads on until the client closes instead of resetting the connection)."""
    with _connect(server) as sock:
        sock.sendall(b"POST /connectors HTTP/1.1\r\nContent-Length: abc\r\n\r\n" + b"x" * 200_000)
        status, headers, body = _read_response(sock)
    assert status == 400 and json.loads(body)["error_code"] == 400 and headers["connection"] == "close"
