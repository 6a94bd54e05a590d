"""``lambda-connect console --url https://…execute-api…``: the web console against a deployed API
that uses IAM auth.

A browser cannot sign requests with SigV4, so this serves the console's files from the installed
package on 127.0.0.1 and forwards every API request to ``--url``, signed with the default AWS
credential chain (what the AWS CLI would use). Nothing but loopback can reach the proxy; the
credentials never leave this process.
"""

from __future__ import annotations

import argparse
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lambda_connect.rest.router import Request
from lambda_connect.rest.static import serve_ui

from ._http import ConnectClient

__all__ = ["ConsoleProxy", "register"]

_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
                  "content-length", "proxy-authorization", "proxy-connection"})
_MAX_BODY = 1024 * 1024


class ConsoleProxy:
    """A loopback HTTP server: ``/ui/`` from the package, everything else signed and forwarded."""

    def __init__(self, url: str, port: int = 8090, bind: str = "127.0.0.1", timeout: float = 60.0) -> None:
        self.client = ConnectClient(url, timeout=timeout)
        self.timeout = timeout
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:  # one quiet line per request
                sys.stderr.write(f"console: {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY:
                    self.send_error(413)
                    return
                body = self.rfile.read(length) if length else b""
                status, headers, payload = proxy.answer(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        self.server = ThreadingHTTPServer((bind, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, method: str, target: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        path = target.split("?", 1)[0]
        if path == "/" and method in ("GET", "HEAD") and "text/html" in headers.get("Accept", ""):
            return 302, {"Location": "/ui/"}, b""
        if path == "/ui" or path.startswith("/ui/"):
            response = serve_ui(Request.from_target(method, target, body, headers))
            return response.status, dict(response.headers), response.body
        url = self.client.url + target
        forwarded = {k: v for k, v in headers.items()
                     if k.lower() in ("content-type", "accept", "if-none-match")}
        signed = self.client.signed_headers(method, url, body or None, forwarded)
        request = urllib.request.Request(url, data=body or None, method=method, headers=signed)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return reply.status, dict(reply.headers.items()), reply.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read()
        except urllib.error.URLError as e:
            message = f'{{"error_code": 502, "message": "cannot reach {self.client.url}: {e.reason}"}}'
            return 502, {"Content-Type": "application/json"}, message.encode()

    def start(self) -> ConsoleProxy:
        self._thread = threading.Thread(target=self.server.serve_forever, name="console-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _run(args: argparse.Namespace) -> int:
    proxy = ConsoleProxy(args.url, args.port, args.bind)
    signing = "signing requests with SigV4 (default AWS credentials)" if proxy.client.signs else "without signing"
    sys.stdout.write(f"Console on {proxy.url}/ui/ for {proxy.client.url}, {signing}. Ctrl-C stops it.\n")
    sys.stdout.flush()
    try:
        proxy.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.server.server_close()
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("console", help="the web console for a deployed API (a local SigV4 signing proxy)")
    p.add_argument("--url", required=True, help="the deployed API, e.g. https://ID.execute-api.REGION.amazonaws.com")
    p.add_argument("--port", type=int, default=8090, help="local port (default 8090)")
    p.add_argument("--bind", default="127.0.0.1", help="local address (default 127.0.0.1)")
    p.set_defaults(handler=_run)
