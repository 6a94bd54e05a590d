"""The HTTP API payload 2.0 adapter and the generated OpenAPI document."""

from __future__ import annotations

from typing import Any

from lambda_connect.rest.http_api import HttpApiHandler, request_from_event, result_from_response
from lambda_connect.rest.openapi import openapi_document
from lambda_connect.rest.resources import ConnectService
from lambda_connect.rest.router import ROUTES, Response, Router
from lambda_connect.state import open_store

from tests.unit.rest.api_events import api_event


def test_event_fields_become_a_request() -> None:
    event = api_event("POST", "/connectors/a%20b/restart?includeTasks=true&onlyFailed=false", {"x": 1},
                      base64_body=True)
    request = request_from_event(event)
    assert request.method == "POST" and request.path == "/connectors/a%20b/restart"
    assert request.flag("includeTasks") and not request.flag("onlyFailed")
    assert request.body == b'{"x": 1}'
    assert request.headers["accept"] == "application/json"


def test_a_named_stage_prefix_is_stripped() -> None:
    event = api_event("GET", "/prod/connectors")
    event["requestContext"]["stage"] = "prod"
    assert request_from_event(event).path == "/connectors"


def test_a_malformed_event_is_a_400_error_body() -> None:
    handler = HttpApiHandler(Router(ConnectService(open_store("memory://"), None, None, None)))
    result = handler({"rawPath": "/"}, None)
    assert result["statusCode"] == 400 and "payload 2.0" in result["body"]
    bad = api_event("POST", "/connectors", raw=b"{}", base64_body=False)
    bad["isBase64Encoded"] = True
    bad["body"] = "***"
    assert handler(bad, None)["statusCode"] == 400


def test_percent_encoded_names_are_decoded() -> None:
    service = ConnectService(open_store("memory://"), None, None, None)
    handler = HttpApiHandler(Router(service))
    config = {"connector.class": "FileStreamSink", "topics": "t"}
    assert handler(api_event("PUT", "/connectors/my%20sink/config", config), None)["statusCode"] == 201
    assert service.store.list_connectors() == ["my sink"]


def test_binary_bodies_are_base64_encoded() -> None:
    result = result_from_response(Response(200, {}, b"\xff\x00"))
    assert result["isBase64Encoded"] is True and result["body"] == "/wA="


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_covers_every_route_and_every_ref_resolves() -> None:
    doc = openapi_document()
    operations = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert operations == {(r.method, r.template) for r in ROUTES}
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    create = doc["paths"]["/connectors"]["post"]
    assert set(create["responses"]) >= {"201", "400", "409", "413", "500"}
