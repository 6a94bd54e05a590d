"""Hostile request bodies through the connector_api handler (API Gateway HTTP API events): each
is answered with a 4xx in Kafka Connect's error shape — or the 500 Kafka itself gives a body it
cannot bind — every such status is listed in /openapi.json, and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lambda_connect.rest.bodies import MAX_NESTING_DEPTH
from lambda_connect.rest.http_api import build_handler
from lambda_connect.rest.router import MAX_BODY_BYTES, ROUTES
from lambda_connect.state import open_store

from tests.unit.rest.api_events import ApiClient, FakeSinkOffsets, api_event

SINK = {"connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/unused.txt"}


class Client(ApiClient):
    def send(self, method: str, target: str, raw: bytes, content_type: str | None = None,
             base64_body: bool = False) -> Any:
        event = api_event(method, target, raw=raw, base64_body=base64_body)
        if content_type is not None:
            event["headers"]["content-type"] = content_type
        result = self.handler(event, self.context)
        return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


@pytest.fixture
def api() -> Client:
    store = open_store("memory://")
    client = Client(build_handler(store, None, FakeSinkOffsets(), {}))
    assert client.post("/connectors", {"name": "orders", "config": SINK}).status == 201
    assert client.put("/connectors/orders/stop").status == 204
    return client


def nested(depth: int) -> bytes:
    return b'{"name": "deep", "config": ' + b"[" * depth + b"]" * depth + b"}"


def _assert_error(reply: tuple[int, Any], status: int, fragment: str) -> None:
    got, body = reply
    assert got == status, body
    assert body == {"error_code": status, "message": body["message"]}
    assert fragment in body["message"], body["message"]


def test_a_20000_deep_body_is_400_not_a_recursion_error(api: Client) -> None:
    for base64_body in (False, True):
        _assert_error(api.send("POST", "/connectors", nested(20_000), base64_body=base64_body), 400,
                      f"deeper than the limit of {MAX_NESTING_DEPTH} levels")
    assert api.get("/connectors").json == ["orders"]


def test_the_nesting_limit_is_exact(api: Client) -> None:
    """64 levels parse (and fail later for what they are); 65 are refused as too deep."""
    def body(levels: int) -> bytes:  # the top-level object is level 1, config (the first "a") level 2
        inner = b'{"a": ' * (levels - 1) + b"1" + b"}" * (levels - 1)
        return b'{"name": "n", "config": ' + inner + b"}"
    status, reply = api.send("POST", "/connectors", body(MAX_NESTING_DEPTH))
    assert status == 400 and "must be a string" in reply["message"]  # a binding error, not nesting
    _assert_error(api.send("POST", "/connectors", body(MAX_NESTING_DEPTH + 1)), 400, "deeper than the limit")


BODY_ROUTES = [r for r in ROUTES if r.request]


def _target(template: str) -> str:
    return (template.replace("{connector}", "orders").replace("{plugin}", "FileStreamSink")
            .replace("{logger}", "root"))


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_every_body_route_refuses_hostile_bodies_with_documented_statuses(api: Client, route: Any) -> None:
    target = _target(route.template)
    cases = [
        (nested(20_000), None, 400, "deeper than the limit"),
        (b"[" * 5000, None, 400, "deeper than the limit"),  # unterminated as well as deep
        (b'{"a": 1}', "text/plain", 415, "HTTP 415 Unsupported Media Type"),
        (b'{"a": 1}', "application/x-www-form-urlencoded", 415, "Unsupported Media Type"),
        (b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}', "application/json", 413, "larger than the limit"),
        (b"\xff\xfe not json", None, 400, "not valid JSON"),
        (b"", None, 400, "missing"),
    ]
    for raw, content_type, status, fragment in cases:
        reply = api.send(route.method, target, raw, content_type, base64_body=raw.startswith(b"\xff"))
        _assert_error(reply, status, fragment)
        assert status in route.statuses, (route.method, route.template, status)
    assert api.get("/connectors").json == ["orders"]
    assert api.get("/connectors/orders/config").json == {**SINK, "name": "orders"}


def test_json_content_types_with_parameters_or_suffixes_are_accepted(api: Client) -> None:
    body = json.dumps({"name": "typed", "config": SINK}).encode()
    for i, content_type in enumerate(("application/json; charset=utf-8", "Application/JSON",
                                      "application/vnd.kafka+json")):
        raw = body.replace(b'"typed"', b'"typed%d"' % i)
        assert api.send("POST", "/connectors", raw, content_type)[0] == 201, content_type
    # A bodiless route ignores the Content-Type, as JAX-RS does for a method with no entity.
    event = api_event("PUT", "/connectors/orders/resume")
    event["headers"]["content-type"] = "text/plain"
    assert api.handler(event, None)["statusCode"] == 202


def test_trace_on_a_known_path_is_405_and_documented_methods_only(api: Client) -> None:
    reply = api.call("TRACE", "/connectors")
    assert reply.status == 405 and reply.json == {"error_code": 405, "message": "HTTP 405 Method Not Allowed"}


def test_openapi_lists_the_statuses_of_hostile_bodies(api: Client) -> None:
    document = api.get("/openapi.json").json
    for route in ROUTES:
        responses = document["paths"][route.template][route.method.lower()]["responses"]
        assert "500" in responses, (route.method, route.template)
        if route.request:
            assert {"400", "413", "415", "500"} <= set(responses), (route.method, route.template)
    patch_config = document["paths"]["/connectors/{connector}/config"]["patch"]["responses"]
    patch_offsets = document["paths"]["/connectors/{connector}/offsets"]["patch"]["responses"]
    assert "500" in patch_config and "500" in patch_offsets
    assert patch_config["415"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorMessage"}


def test_patch_config_and_offsets_binding_errors_are_400s(api: Client) -> None:
    status, body = api.send("PATCH", "/connectors/orders/config", b'["not", "an", "object"]')
    assert status == 400 and "must be a JSON object" in body["message"]
    status, body = api.send("PATCH", "/connectors/orders/offsets", b'{"offsets": [], "extra": 1}')
    assert status == 400 and "Unrecognized field" in body["message"]


@pytest.mark.parametrize("event", [
    [], {"requestContext": {"http": {"method": "GET"}}, "headers": ["not", "a", "map"]},
    {"requestContext": "nope"},
    {"requestContext": {"http": {"method": "POST"}}, "body": "e30=", "isBase64Encoded": True,
     "rawPath": "/connectors", "headers": {"content-type": "text/plain"}},
])
def test_events_of_the_wrong_shape_get_a_json_answer(api: Client, event: Any) -> None:
    result = api.handler(event, None)
    body = json.loads(result["body"])
    assert result["statusCode"] in (400, 415) and body["error_code"] == result["statusCode"], body
    assert result["headers"]["Content-Type"] == "application/json"
