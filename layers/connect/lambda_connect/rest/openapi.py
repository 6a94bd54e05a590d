"""The OpenAPI 3.1 document of the REST API, generated from ``router.ROUTES`` and the entity
schemas — never written by hand, so it cannot drift from what the router serves."""

from __future__ import annotations

from functools import cache
from typing import Any

import lambda_connect

from .entities import SCHEMAS
from .router import ARRAY_RESPONSES, ROUTES, Route

__all__ = ["openapi_document"]

_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    413: "Content Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable",
}
#: What the HTTP server of ``lambda-connect up`` answers before a request reaches an operation
#: (framing it cannot read, a client too slow, too many connections) — same error body.
_TRANSPORT = (
    "Every error body, also below the operations, is `{\"error_code\": <status>, \"message\": <text>}`. "
    "The local HTTP server (`lambda-connect up`) may answer any request, before it reaches an operation, "
    "with 400 (unreadable framing: a bad request line, header or `Content-Length`), 408 (request not "
    "received in time), 413 (body over the limit), 414/431 (request line/headers too long), 501 (a "
    "transfer coding other than chunked) or 503 (too many open connections)."
)
_QUERY = {
    "expand": ({"type": "array", "items": {"type": "string", "enum": ["status", "info"]}},
               "Repeat to include `status` and/or `info` for each connector."),
    "includeTasks": ({"type": "boolean", "default": False}, "Also restart the connector's tasks."),
    "onlyFailed": ({"type": "boolean", "default": False}, "Only restart instances that are FAILED."),
    "connectorsOnly": ({"type": "boolean", "default": True}, "List only connector plugins."),
    "scope": ({"type": "string", "default": "worker"},
              "`worker` (default; unknown values act alike). `cluster` is refused: no shared logger channel."),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _success_schema(route: Route) -> dict[str, Any] | None:
    if route.template == "/connectors" and route.method == "GET":
        return {"oneOf": [{"type": "array", "items": {"type": "string"}},
                          {"type": "object", "additionalProperties": _ref("ConnectorExpanded")}]}
    if route.template == "/openapi.json":
        return {"type": "object"}
    if route.response is None:
        return None
    if (route.method, route.template) in ARRAY_RESPONSES:
        return {"type": "array", "items": _ref(route.response)}
    return _ref(route.response)


def _operation(route: Route) -> dict[str, Any]:
    params = [
        {"name": seg[1:-1], "in": "path", "required": True,
         "schema": {"type": "integer" if seg == "{task}" else "string"}}
        for seg in route.segments if seg.startswith("{")
    ]
    params += [
        {"name": q, "in": "query", "required": False, "schema": _QUERY[q][0], "description": _QUERY[q][1],
         **({"explode": True} if q == "expand" else {})}
        for q in route.query
    ]
    responses: dict[str, Any] = {}
    schema = _success_schema(route)
    for status in route.statuses:
        if status >= 400:
            responses[str(status)] = {"description": _REASONS[status], "content": _content(_ref("ErrorMessage"))}
        elif status in (204,) or (status == 202 and route.response is None) or schema is None:
            responses[str(status)] = {"description": _REASONS[status]}
        else:
            responses[str(status)] = {"description": _REASONS[status], "content": _content(schema)}
    op: dict[str, Any] = {
        "operationId": route.handler.__name__.lstrip("_") + "_" + route.method.lower(),
        "summary": route.summary,
        "parameters": params,
        "responses": responses,
    }
    if route.request:
        op["requestBody"] = {"required": True, "content": _content(_ref(route.request))}
    return op


@cache
def openapi_document() -> dict[str, Any]:
    """The document served at ``GET /openapi.json``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.template, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lambda-connect REST API",
            "version": lambda_connect.__version__,
            "description": "Kafka Connect's REST API (same paths, status codes and bodies), served by "
                           "functions/connector_api behind API Gateway and by `lambda-connect up` locally. "
                           + _TRANSPORT,
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
