"""API Gateway HTTP API (payload format 2.0) events ⇄ router requests and responses.

This adapter lives in ``rest/`` rather than ``aws/`` because it needs the router and the
layering rules keep ``aws`` from importing ``rest``; it knows the event's JSON shape only,
no boto3. ``functions/connector_api/app.py`` builds a :class:`HttpApiHandler` once per container.

Event fields used: ``requestContext.http.method``, ``rawPath`` (falls back to
``requestContext.http.path``), ``rawQueryString``, ``headers`` (lower-cased by API
Gateway), ``body`` with ``isBase64Encoded``. A stage prefix in the path (``/prod/...``, REST
APIs and custom stages) is stripped when ``requestContext.stage`` is not ``$default``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from .router import Request, Response, Router, error_response

__all__ = ["HttpApiHandler", "build_handler", "request_from_event", "result_from_response"]

log = logging.getLogger(__name__)


class MalformedApiEvent(ValueError):
    """The event is not an HTTP API payload 2.0 request."""


def _strip_stage(path: str, context: Mapping[str, Any]) -> str:
    stage = context.get("stage")
    if stage and stage != "$default":
        prefix = f"/{stage}"
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix):] or "/"
    return path


def request_from_event(event: Mapping[str, Any]) -> Request:
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    method = http.get("method")
    if not isinstance(method, str) or not method:
        raise MalformedApiEvent("requestContext.http.method is missing: not an HTTP API payload 2.0 event")
    path = _strip_stage(str(event.get("rawPath") or http.get("path") or "/"), context)
    query = parse_qs(str(event.get("rawQueryString") or ""), keep_blank_values=True)
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body")
    if raw is None:
        body = b""
    elif event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as e:
            raise MalformedApiEvent(f"body is marked base64 but is not valid base64: {e}") from e
    else:
        body = str(raw).encode("utf-8")
    return Request(method.upper(), path, query, headers, body)


def result_from_response(response: Response) -> dict[str, Any]:
    """The Lambda proxy result; a JSON body is sent as text, anything else base64-encoded."""
    headers = dict(response.headers)
    try:
        text = response.body.decode("utf-8")
    except UnicodeDecodeError:
        return {"statusCode": response.status, "headers": headers,
                "body": base64.b64encode(response.body).decode("ascii"), "isBase64Encoded": True}
    return {"statusCode": response.status, "headers": headers, "body": text, "isBase64Encoded": False}


class HttpApiHandler:
    """``lambda_handler(event, context)`` for the connector API function."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Every outcome is a proxy result with Kafka Connect's error body: an exception escaping
        here would make API Gateway answer its own non-JSON 500."""
        try:
            request = request_from_event(event)
        except MalformedApiEvent as e:
            return result_from_response(error_response(400, str(e)))
        except Exception as e:  # an event of the wrong shape altogether (not from API Gateway)
            log.warning("Unreadable HTTP API event: %s", e)
            return result_from_response(error_response(400, f"Not an HTTP API payload 2.0 event: {e}"))
        try:
            return result_from_response(self.router.handle(request))
        except Exception as e:  # the router maps handler errors itself; this is a last resort
            log.exception("request %s %s failed", request.method, request.path)
            return result_from_response(error_response(500, f"{type(e).__name__}: {e}"))


def _flag(env: Mapping[str, str], name: str) -> bool:
    """A boolean worker setting from the environment, true unless set to ``false`` (Kafka's
    ``topic.tracking.*`` defaults)."""
    return env.get(name, "true").strip().lower() != "false"


def build_handler(
    store: Any,
    secrets: Any,
    sink_offsets: Any,
    env: Mapping[str, str],
    registry: Any = None,
    dlq_access: Any = None,
) -> HttpApiHandler:
    """Wire the API once per container. ``worker_id`` is the function name (what status shows
    for instances this API changed); the Kafka cluster id comes from
    ``$LAMBDA_CONNECT_KAFKA_CLUSTER_ID`` or, lazily, from the cluster; Kafka's worker settings
    ``topic.tracking.enable``/``topic.tracking.allow.reset`` from
    ``$LAMBDA_CONNECT_TOPIC_TRACKING_ENABLE``/``$LAMBDA_CONNECT_TOPIC_TRACKING_ALLOW_RESET``."""
    from .resources import ConnectService

    cluster_id = env.get("LAMBDA_CONNECT_KAFKA_CLUSTER_ID") or getattr(sink_offsets, "cluster_id", None) or ""
    service = ConnectService(
        store,
        registry,
        secrets,
        sink_offsets,
        worker_id=env.get("AWS_LAMBDA_FUNCTION_NAME", "connector-api"),
        kafka_cluster_id=cluster_id,
        commit=env.get("LAMBDA_CONNECT_COMMIT", ""),
        topic_tracking=_flag(env, "LAMBDA_CONNECT_TOPIC_TRACKING_ENABLE"),
        topic_tracking_reset=_flag(env, "LAMBDA_CONNECT_TOPIC_TRACKING_ALLOW_RESET"),
    )
    from . import dlq

    dlq.attach(service, dlq_access)  # ``aws.dlq_topic.KafkaDlqTopicAccess`` where the API has a cluster
    return HttpApiHandler(Router(service))
