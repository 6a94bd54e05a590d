"""The web console's files (``rest/ui/``) at ``/ui/``, from the package itself: no build step, no
CDN, the same in ``lambda-connect up`` and in the API function.

Files are read once and answered with their content type, an ETag (a conditional request gets
304) and ``Cache-Control: no-cache`` — names carry no content hash, so a browser must revalidate
to pick up a new release — plus a Content-Security-Policy that allows only this origin.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from .router import Request, Response, error_response

__all__ = ["UI_DIR", "serve_ui"]

UI_DIR = Path(__file__).parent / "ui"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8",
          ".json": "application/json"}
_SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}


@cache
def _file(name: str) -> tuple[bytes, str] | None:
    """(content, ETag) of one console file; None for anything outside the folder or unknown."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or Path(name).suffix not in _TYPES:
        return None
    path = UI_DIR / name
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


def serve_ui(request: Request) -> Response:
    method = request.method.upper()
    path = request.path
    if path == "/ui":
        return Response(308, {"Location": "/ui/index.html", "Content-Type": "text/plain; charset=utf-8"}, b"")
    if method == "OPTIONS":
        return Response(204, {"Allow": "GET, HEAD, OPTIONS"}, b"")
    if method not in ("GET", "HEAD"):
        return error_response(405, "HTTP 405 Method Not Allowed", {"Allow": "GET, HEAD, OPTIONS"})
    name = path[len("/ui/"):] or "index.html"
    found = _file(name)
    if found is None:
        return error_response(404, "HTTP 404 Not Found")
    data, etag = found
    headers = {"Content-Type": _TYPES[Path(name).suffix], "ETag": etag, "Cache-Control": "no-cache", **_SECURITY}
    inm = {v.strip() for k, v in request.headers.items() if k.lower() == "if-none-match" for v in v.split(",")}
    if etag in inm:
        return Response(304, headers, b"")
    return Response(200, headers, b"" if method == "HEAD" else data)
