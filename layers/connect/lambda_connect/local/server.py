"""The REST router on a local port: what ``functions/connector_api`` serves behind API Gateway.

A thread per request (``ThreadingHTTPServer``), as Kafka Connect's Jetty serves requests
concurrently; the router is framework-free, so this file only moves bytes.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lambda_connect.rest.router import MAX_BODY_BYTES, Request, Router, error_response

__all__ = ["RestServer"]

log = logging.getLogger(__name__)


def _handler_class(router: Router) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "lambda-connect"
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                # Do not read an oversized body into memory; the router answers 413 for it.
                self.rfile.read(min(length, MAX_BODY_BYTES + 1))
                response = router.handle(Request(self.command, self.path.partition("?")[0],
                                                 body=b"\0" * (MAX_BODY_BYTES + 1)))
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    response = router.handle(Request.from_target(self.command, self.path, body, headers))
                except Exception as e:  # the router maps errors itself; this is a last resort
                    log.exception("request %s %s failed", self.command, self.path)
                    response = error_response(500, f"{type(e).__name__}: {e}")
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD" and response.body:
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s - %s", self.address_string(), format % args)

    return Handler


class RestServer:
    """Serves ``router`` on ``host:port`` (port 0 picks a free one) from a background thread."""

    def __init__(self, router: Router, host: str = "127.0.0.1", port: int = 8083) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler_class(router))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> RestServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="rest-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
