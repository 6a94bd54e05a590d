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
#: Boolean query parameters are parsed as JAX-RS does: only ``true`` (any case) is true, any other
#: text is false rather than an error — so the schema admits any string.
_FLAG = {"anyOf": [{"type": "boolean"}, {"type": "string"}]}
_QUERY = {
    "expand": ({"type": "array", "items": {"type": "string", "examples": ["status", "info"]}},
               "Repeat to include `status` and/or `info` for each connector; other values are ignored."),
    "includeTasks": ({**_FLAG, "default": False}, "Also restart the connector's tasks."),
    "onlyFailed": ({**_FLAG, "default": False}, "Only restart instances that are FAILED."),
    "connectorsOnly": ({**_FLAG, "default": True}, "List only connector plugins."),
    "limit": ({"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
              "At most this many entries, the newest."),
    "filter": ({"type": "array", "items": {"type": "string", "examples": ["stage=VALUE_CONVERTER", "message~timeout"]}},
               "Repeat to narrow the list: `FIELD=VALUE` (exact) or `FIELD~TEXT` (substring, any case), FIELD one "
               "of topic, partition, offset, stage, error_class, message, key, value."),
    "scope": ({"type": "string", "default": "worker"},
              "`worker` (default; unknown values act alike). `cluster` is refused: no shared logger channel."),
}


_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f"
#: What request bodies may hold, tighter than the response schemas of the same names: Kafka
#: coerces JSON numbers and booleans in a config to strings, a config that is submitted names its
#: ``connector.class``, a connector name is 1-180 characters without ``/`` or control characters,
#: and an alter-offsets request lists at least one partition.
_CONFIG_VALUE = {"type": ["string", "number", "boolean"]}
_REQUEST_SCHEMAS: dict[str, dict[str, Any]] = {
    "ConnectorConfigRequest": {
        "type": "object",
        "required": ["connector.class"],
        "properties": {"connector.class": {"type": "string", "pattern": "\\S"}},
        "additionalProperties": _CONFIG_VALUE,
    },
    "CreateConnectorRequestBody": {
        "type": "object",
        "required": ["name", "config"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 180,
                     "pattern": f"^[^/{_CONTROL}]*[^/\\s{_CONTROL}][^/{_CONTROL}]*$"},
            "config": {"$ref": "#/components/schemas/ConnectorConfigRequest"},
            "initial_state": {"type": "string", "description": "RUNNING, PAUSED or STOPPED, in any case (KIP-980).",
                              "pattern": "^([Rr][Uu][Nn][Nn][Ii][Nn][Gg]|[Pp][Aa][Uu][Ss][Ee][Dd]|"
                                         "[Ss][Tt][Oo][Pp][Pp][Ee][Dd])$"},
        },
        "additionalProperties": False,
    },
    "ConnectorConfigPatchRequest": {"type": "object", "additionalProperties": {"type": ["string", "number",
                                                                                         "boolean", "null"]}},
    "ConnectorOffsetsRequest": {
        "type": "object",
        "required": ["offsets"],
        "properties": {"offsets": {"type": "array", "minItems": 1,
                                   "items": {"$ref": "#/components/schemas/ConnectorOffset"}}},
        "additionalProperties": False,
    },
}
#: Request schema used in place of the entity named by ``Route.request``.
_REQUEST_FOR = {"ConnectorConfig": "ConnectorConfigRequest", "CreateConnectorRequest": "CreateConnectorRequestBody",
                "ConnectorConfigPatch": "ConnectorConfigPatchRequest", "ConnectorOffsets": "ConnectorOffsetsRequest"}


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
         **({"explode": True} if q in ("expand", "filter") else {})}
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
        body = _REQUEST_FOR.get(route.request, route.request)
        op["requestBody"] = {"required": True, "content": _content(_ref(body))}
    if route.extension:
        op["tags"] = ["lambda-connect extensions"]
        op["x-lambda-connect-extension"] = True
        op["description"] = "Not part of Kafka Connect's REST API: added by lambda-connect, with the same auth."
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
        "components": {"schemas": {**SCHEMAS, **_REQUEST_SCHEMAS}},
    }
