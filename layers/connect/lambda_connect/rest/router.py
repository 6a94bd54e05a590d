"""A framework-free HTTP router for Kafka Connect's REST paths.

``ROUTES`` is data — (method, path template, handler, status, schemas) — so the SAM template
test and the OpenAPI document are derived from the very table that serves requests. The
router speaks plain :class:`Request`/:class:`Response` values: the Lambda adapter
(``aws.api_handler``) and the local HTTP server both translate to and from them.

Errors follow Kafka Connect: unknown paths 404 ``HTTP 404 Not Found``, a known path with
another method 405 ``HTTP 405 Method Not Allowed``, every error body
``{"error_code", "message"}``. A route that takes a body refuses a non-JSON ``Content-Type``
with 415 and a body over 256 KiB with 413, both before parsing; a body nested deeper than
``bodies.MAX_NESTING_DEPTH`` is a 400.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from lambda_connect.api.errors import (
    AlreadyExistsException,
    ConfigException,
    ConflictException,
    NotFoundException,
)

from . import bodies
from .errors import STALE_CONFIG_MESSAGE, PayloadTooLarge, RestError, UnsupportedMediaType
from .resources import ConnectService

__all__ = ["MAX_BODY_BYTES", "ROUTES", "Request", "Response", "Route", "Router", "error_response", "is_json_media_type"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def from_target(
        cls, method: str, target: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Request:
        """Build from a request target such as ``/connectors?expand=status`` (for servers and tests)."""
        path, _, query = target.partition("?")
        return cls(method, path, parse_qs(query, keep_blank_values=True), dict(headers or {}), body)

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter, parsed as JAX-RS does (only ``true`` is true)."""
        values = self.query.get(name)
        if not values:
            return default
        return values[-1].strip().lower() == "true"


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def _json(status: int, value: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, {**_JSON, **(headers or {})}, json.dumps(value, ensure_ascii=False).encode())


def _empty(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """202/204 answers: no body, but the same ``Content-Type`` as every other response so
    clients that dispatch on it never see a bare response."""
    return Response(status, {**_JSON, **(headers or {})}, b"")


def _location(name: str) -> dict[str, str]:
    """Kafka builds ``Location`` with a URI builder, so names are percent-encoded."""
    return {"Location": "/connectors/" + quote(name, safe="")}


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json(status, {"error_code": status, "message": message}, headers)


Params = dict[str, str]
Handler = Callable[[ConnectService, Request, Params], Response]


@dataclass(frozen=True)
class Route:
    """One endpoint: ``template`` segments in braces are parameters (``{connector}``)."""

    method: str
    template: str
    handler: Handler
    summary: str
    status: int
    response: str | None = None
    request: str | None = None
    query: tuple[str, ...] = ()
    extra_statuses: tuple[int, ...] = ()
    #: Not in Kafka Connect's API: lambda-connect's own (marked so in the OpenAPI document).
    extension: bool = False

    @property
    def segments(self) -> list[str]:
        return [s for s in self.template.split("/") if s]

    @property
    def statuses(self) -> tuple[int, ...]:
        """Every status this operation can answer, for the OpenAPI document: its own, 500 for
        any unexpected failure (Kafka's exception mapper does the same), and for a route with
        a body the answers of the body checks (400 nesting, 413 size, 415 media type, 500 a
        body that cannot be bound)."""
        body = (400, 413, 415, 500) if self.request else ()
        return tuple(sorted({self.status, *self.extra_statuses, *body, 500}))


def _task(params: Params) -> int:
    try:
        return int(params["task"])
    except ValueError as e:
        raise RestError(404, "HTTP 404 Not Found") from e  # JAX-RS: an unparsable path param is 404


def _body(request: Request) -> Any:
    return bodies.json_body(request.body)


def _header(request: Request, name: str) -> str | None:
    """A request header by case-insensitive name (servers lower-case them, tests may not)."""
    wanted = name.lower()
    for key, value in request.headers.items():
        if key.lower() == wanted:
            return value
    return None


def is_json_media_type(content_type: str | None) -> bool:
    """``Content-Type`` acceptable for a JSON body: absent (curl without ``-H``, most tests),
    ``application/json`` or a ``+json`` type, with any parameters (``charset=utf-8``)."""
    if content_type is None or not content_type.strip():
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


# --- handlers (one line each; the semantics are in ConnectService) --------------------------------
def _root(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.server_info())


def _health(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(*s.health())


def _list(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.list_connectors(list(r.query.get("expand", []))))


def _warned(s: ConnectService, name: str, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus the create's warning, if it has one (one latin-1 line, as HTTP wants)."""
    take = getattr(s, "take_create_warning", None)
    warning = take(name) if take is not None else None
    if warning:
        from .resources import WARNING_HEADER

        line = " ".join(warning.split())
        headers[WARNING_HEADER] = line.encode("latin-1", "backslashreplace").decode("latin-1")
    return headers


def _create(s: ConnectService, r: Request, p: Params) -> Response:
    name, info = s.create_connector(_body(r))
    return _json(201, info, _warned(s, name, _location(name)))


def _get(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.get_connector(p["connector"]))


def _delete(s: ConnectService, r: Request, p: Params) -> Response:
    s.delete(p["connector"])
    return _empty(204)


def _get_config(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.get_config(p["connector"]))


def _put_config(s: ConnectService, r: Request, p: Params) -> Response:
    created, info = s.put_config(p["connector"], _body(r))
    if created:
        return _json(201, info, _warned(s, p["connector"], _location(p["connector"])))
    return _json(200, info)


def _patch_config(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.patch_config(p["connector"], _body(r)))


def _status(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.status(p["connector"]))


def _restart(s: ConnectService, r: Request, p: Params) -> Response:
    snapshot = s.restart(p["connector"], r.flag("includeTasks"), r.flag("onlyFailed"))
    return _empty(204) if snapshot is None else _json(202, snapshot)


def _pause(s: ConnectService, r: Request, p: Params) -> Response:
    s.pause(p["connector"])
    return _empty(202)


def _resume(s: ConnectService, r: Request, p: Params) -> Response:
    s.resume(p["connector"])
    return _empty(202)


def _stop(s: ConnectService, r: Request, p: Params) -> Response:
    s.stop(p["connector"])
    return _empty(204)


def _tasks(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.tasks(p["connector"]))


def _tasks_config(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.tasks_config(p["connector"]))


def _task_status(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.task_status(p["connector"], _task(p)))


def _task_restart(s: ConnectService, r: Request, p: Params) -> Response:
    s.restart_task(p["connector"], _task(p))
    return _empty(204)


def _topics(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.topics(p["connector"]))


def _topics_reset(s: ConnectService, r: Request, p: Params) -> Response:
    s.reset_topics(p["connector"])
    return _empty(202)


def _get_offsets(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.get_offsets(p["connector"]))


def _alter_offsets(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.alter_offsets(p["connector"], _body(r)))


def _reset_offsets(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.reset_offsets(p["connector"]))


def _plugins(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.plugins(r.flag("connectorsOnly", default=True)))


def _plugin_config(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.plugin_config(p["plugin"]))


def _validate(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.validate(p["plugin"], _body(r)))


def _loggers(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.loggers.all_levels())


def _logger(s: ConnectService, r: Request, p: Params) -> Response:
    return _json(200, s.loggers.level(p["logger"]))


def _set_logger(s: ConnectService, r: Request, p: Params) -> Response:
    scope = (r.query.get("scope") or ["worker"])[-1]
    return _json(200, s.loggers.set_level(p["logger"], _body(r), scope))


def _dlq_list(s: ConnectService, r: Request, p: Params) -> Response:
    from .dlq import dlq_of

    return _json(200, dlq_of(s).list(p["connector"], dict(r.query)))


def _dlq_replay(s: ConnectService, r: Request, p: Params) -> Response:
    from .dlq import dlq_of

    body = _body(r)
    return _json(200, dlq_of(s).replay(p["connector"], body))


def _local_environment(s: ConnectService, r: Request, p: Params) -> Response:
    """What ``lambda-connect invoke --url`` needs to act on the connectors of a running ``up``;
    a deployed API (no local runtime behind it) has nothing to share."""
    provider = getattr(s, "local_environment", None)
    if provider is None:
        return error_response(404, "This API is not served by lambda-connect up: it has no local environment to "
                                   "share (pass --state and --bootstrap-servers to invoke instead)")
    return _json(200, provider())


def _openapi(s: ConnectService, r: Request, p: Params) -> Response:
    from .openapi import openapi_document

    return _json(200, openapi_document())


_C = "/connectors/{connector}"
ROUTES: list[Route] = [
    Route("GET", "/", _root, "Worker version, commit and Kafka cluster id", 200, "ServerInfo"),
    Route("GET", "/health", _health, "Health of the API and its state table", 200, "WorkerStatus",
          extra_statuses=(500,)),
    Route("GET", "/connectors", _list, "Connector names, or name → status/info with ?expand=", 200, None,
          query=("expand",)),
    Route("POST", "/connectors", _create, "Create a connector", 201, "ConnectorInfo", "CreateConnectorRequest",
          extra_statuses=(400, 409, 413, 500)),
    Route("GET", _C, _get, "Connector info", 200, "ConnectorInfo", extra_statuses=(404,)),
    Route("DELETE", _C, _delete, "Delete a connector", 204, extra_statuses=(404,)),
    Route("GET", _C + "/config", _get_config, "Connector config (secrets as references)", 200, "ConnectorConfig",
          extra_statuses=(404,)),
    Route("PUT", _C + "/config", _put_config, "Create (201) or replace (200) a connector's config", 200,
          "ConnectorInfo", "ConnectorConfig", extra_statuses=(201, 400, 409, 413, 500)),
    Route("PATCH", _C + "/config", _patch_config, "Merge-patch a connector's config (null removes a key)", 200,
          "ConnectorInfo", "ConnectorConfigPatch", extra_statuses=(400, 404, 409, 413)),
    Route("GET", _C + "/status", _status, "Connector and task states", 200, "ConnectorStateInfo",
          extra_statuses=(404,)),
    Route("POST", _C + "/restart", _restart, "Restart the connector (204), or with flags its instances (202)", 204,
          "ConnectorStateInfo", query=("includeTasks", "onlyFailed"), extra_statuses=(202, 404)),
    Route("PUT", _C + "/pause", _pause, "Pause the connector and its tasks", 202, extra_statuses=(404,)),
    Route("PUT", _C + "/resume", _resume, "Resume a paused or stopped connector", 202, extra_statuses=(404,)),
    Route("PUT", _C + "/stop", _stop, "Stop the connector (no tasks; offsets may then be edited)", 204,
          extra_statuses=(404,)),
    Route("GET", _C + "/tasks", _tasks, "Task configs", 200, "TaskInfo", extra_statuses=(404,)),
    Route("GET", _C + "/tasks-config", _tasks_config,
          "Task configs by task name (deprecated by KIP-970, kept for 3.x tooling)", 200, "TasksConfig",
          extra_statuses=(404,)),
    Route("GET", _C + "/tasks/{task}/status", _task_status, "One task's state", 200, "TaskState",
          extra_statuses=(404,)),
    Route("POST", _C + "/tasks/{task}/restart", _task_restart, "Restart one task", 204, extra_statuses=(404,)),
    Route("GET", _C + "/topics", _topics, "Active topics (KIP-558); an unknown connector has none", 200,
          "ActiveTopicsInfo", extra_statuses=(403,)),
    Route("PUT", _C + "/topics/reset", _topics_reset, "Reset the active topics", 202, extra_statuses=(403,)),
    Route("GET", _C + "/offsets", _get_offsets, "Committed offsets (KIP-875)", 200, "ConnectorOffsets",
          extra_statuses=(404,)),
    Route("PATCH", _C + "/offsets", _alter_offsets, "Alter offsets of a STOPPED connector", 200, "Message",
          "ConnectorOffsets", extra_statuses=(400, 404)),
    Route("DELETE", _C + "/offsets", _reset_offsets, "Reset offsets of a STOPPED connector", 200, "Message",
          extra_statuses=(400, 404)),
    Route("GET", _C + "/dlq", _dlq_list,
          "The connector's dead letter queue, oldest first (lambda-connect extension)", 200, "DlqList",
          query=("limit", "filter"), extra_statuses=(400, 404), extension=True),
    Route("POST", _C + "/dlq/replay", _dlq_replay,
          "Replay the dead letter queue to the records' original topics, each record once (lambda-connect "
          "extension)", 200, "DlqReplayResult", "DlqReplayRequest", extra_statuses=(400, 404, 409),
          extension=True),
    Route("GET", "/connector-plugins", _plugins, "Installed plugins", 200, "PluginInfo", query=("connectorsOnly",)),
    Route("GET", "/connector-plugins/{plugin}/config", _plugin_config, "A plugin's config definition", 200,
          "ConfigKeyInfo", extra_statuses=(400, 404)),
    Route("PUT", "/connector-plugins/{plugin}/config/validate", _validate, "Validate a config without storing it",
          200, "ConfigInfos", "ConnectorConfig", extra_statuses=(400, 500)),
    Route("GET", "/admin/loggers", _loggers, "Levels of the loggers that have one of their own", 200,
          "LoggerLevels"),
    Route("GET", "/admin/loggers/{logger}", _logger, "One logger's level", 200, "LoggerLevel",
          extra_statuses=(404,)),
    Route("PUT", "/admin/loggers/{logger}", _set_logger,
          "Set the level of a logger and its descendants in this process (scope=worker)", 200, "AffectedLoggers",
          "LoggerLevelRequest", query=("scope",), extra_statuses=(400, 404, 500)),
    Route("GET", "/local/environment", _local_environment,
          "The task functions' environment of a running lambda-connect up, for `lambda-connect invoke --url` "
          "(lambda-connect extension)", 200, "LocalEnvironment", extra_statuses=(404,), extension=True),
    Route("GET", "/openapi.json", _openapi, "This API as an OpenAPI 3.1 document", 200),
]

#: Routes whose response is an array of the named schema.
ARRAY_RESPONSES = frozenset({("GET", _C + "/tasks"), ("GET", "/connector-plugins"),
                             ("GET", "/connector-plugins/{plugin}/config")})


def _match(route: Route, segments: list[str]) -> Params | None:
    pattern = route.segments
    if len(pattern) != len(segments):
        return None
    params: Params = {}
    for want, got in zip(pattern, segments):
        if want.startswith("{") and want.endswith("}"):
            if not got:  # ``/connectors//status`` names no connector
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


def _segments(path: str) -> list[str]:
    """Path segments, percent-decoded one by one (so ``%2F`` stays inside a name). One
    trailing slash is ignored, as Jersey does (``/connectors/`` lists connectors); empty
    segments elsewhere are kept so they match no route."""
    path = path or "/"
    if path != "/" and path.endswith("/"):
        path = path[:-1]
    if path == "/":
        return []
    return [unquote(s) for s in path.removeprefix("/").split("/")]


def _allow(methods: list[str]) -> str:
    """The ``Allow`` header: HEAD comes with GET, OPTIONS with every path (JAX-RS does both)."""
    allowed = set(methods) | {"OPTIONS"}
    if "GET" in allowed:
        allowed.add("HEAD")
    return ", ".join(sorted(allowed))


def _map_exception(exc: BaseException) -> Response:
    """Kafka's ConnectExceptionMapper: known failures keep their status, the rest are 500."""
    if isinstance(exc, RestError):
        return error_response(exc.status, exc.message)
    if isinstance(exc, NotFoundException):
        return error_response(404, str(exc))
    if isinstance(exc, AlreadyExistsException):
        return error_response(409, str(exc))
    if isinstance(exc, ConflictException):
        return error_response(409, STALE_CONFIG_MESSAGE)
    if isinstance(exc, ConfigException):
        return error_response(400, str(exc))
    log.exception("Unhandled error serving a REST request")
    return error_response(500, f"{type(exc).__name__}: {exc}")


class Router:
    """Dispatches :class:`Request` values to :data:`ROUTES` handlers over one service."""

    def __init__(self, service: ConnectService, routes: list[Route] | None = None) -> None:
        self.service = service
        self.routes = routes if routes is not None else ROUTES

    def _outside_api(self, request: Request) -> Response | None:
        """The web console's files and, where the service has metrics (``lambda-connect up``),
        ``GET /metrics``: not Kafka Connect operations, so not in ``ROUTES`` nor the OpenAPI document."""
        path = request.path or "/"
        if path == "/ui" or path.startswith("/ui/"):
            from .static import serve_ui

            return serve_ui(request)
        metrics = getattr(self.service, "metrics", None)
        if path == "/metrics" and metrics is not None:
            from .metrics import serve_metrics

            return serve_metrics(request, metrics)
        return None

    def handle(self, request: Request) -> Response:
        outside = self._outside_api(request)
        if outside is not None:
            return outside
        segments = _segments(request.path)
        method = request.method.upper()
        matches = [(route, params) for route in self.routes if (params := _match(route, segments)) is not None]
        if not matches:
            return error_response(404, "HTTP 404 Not Found")
        allowed = [route.method for route, _ in matches]
        if method == "OPTIONS":
            return _empty(204, {"Allow": _allow(allowed)})
        wanted = "GET" if method == "HEAD" else method
        for route, params in matches:
            if route.method == wanted:
                refused = self._refuse_body(route, request)
                response = refused or self._dispatch(route, request, params)
                if method == "HEAD":
                    return Response(response.status, response.headers, b"")
                return response
        return error_response(405, "HTTP 405 Method Not Allowed", {"Allow": _allow(allowed)})

    @staticmethod
    def _refuse_body(route: Route, request: Request) -> Response | None:
        """The transport checks of a body route, in Jersey's order (media type, then size);
        a route without a body ignores whatever was sent, as JAX-RS does."""
        if route.request is None:
            return None
        if not is_json_media_type(_header(request, "Content-Type")):
            return _map_exception(UnsupportedMediaType())
        if len(request.body) > MAX_BODY_BYTES:
            return _map_exception(PayloadTooLarge(MAX_BODY_BYTES))
        return None

    def _dispatch(self, route: Route, request: Request, params: Params) -> Response:
        try:
            return route.handler(self.service, request, params)
        except Exception as e:
            return _map_exception(e)
