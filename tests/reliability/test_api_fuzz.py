"""Scenario 5 — the REST API under fuzzing, through the HTTP server of ``lambda-connect up``.

Requests are generated from the API's own ``/openapi.json`` (schemathesis: valid and invalid
parameters and bodies per operation). Every answer must be documented for its operation, carry
Kafka Connect's JSON error shape when it is an error, and never be a 5xx unless the document
says the operation can answer 500 (as Kafka Connect's own does, e.g. when the cluster cannot be
reached). A rejected request (4xx) must change nothing in the state table.

Then the bodies and names a hostile client sends on purpose: oversized and deeply nested JSON,
and connector names with ``..``, ``%2F``, unicode and 10,000 characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from .conftest import RestApi

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SEED = {"connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/lc-fuzz-never-written.txt"}
MAX_EXAMPLES = 8


@pytest.fixture
def fuzz_api(tmp_path: Path, kafka_broker: str) -> Iterator[RestApi]:
    api = RestApi(f"sqlite:///{tmp_path / 'state.db'}", tmp_path, kafka_broker)
    api.service.put_config("fuzz-sink", dict(SEED))
    try:
        yield api
    finally:
        api.close()


def snapshot(api: RestApi) -> dict[str, Any]:
    """What a request could have changed: every connector's config, version and target state."""
    out: dict[str, Any] = {}
    for name in sorted(api.store.list_connectors()):
        entry = api.store.get_connector(name)
        out[name] = None if entry is None else (dict(entry.config), entry.version, entry.target_state)
    return out


_SCHEMAS: dict[str, Any] = {}


def served_schema(api: RestApi) -> Any:
    """The document the server serves, parsed once per process (parsing costs ~2 s); every
    server of this module serves the same one, so only the base URL differs per test."""
    if "schema" not in _SCHEMAS:
        _SCHEMAS["schema"] = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    return _SCHEMAS["schema"]


def _operations() -> list[tuple[str, str]]:
    from lambda_connect.rest.router import ROUTES

    return [(route.method, route.template) for route in ROUTES]


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: str(v))
def test_generated_requests(fuzz_api: RestApi, method: str, path: str) -> None:
    """``MAX_EXAMPLES`` valid and invalid requests for one operation of the served document."""
    from hypothesis import given
    from hypothesis import strategies as st

    operation = served_schema(fuzz_api)[path][method]
    documented = {str(code) for code in operation.definition.raw.get("responses", {})}
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    if "{connector}" in path:  # also aim at a connector that exists
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"connector": "fuzz-sink"}))

    @given(case=st.one_of(strategies))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        before = snapshot(fuzz_api)
        response = case.call(base_url=fuzz_api.url, timeout=30)
        status = response.status_code
        where = f"{case.method} {case.formatted_path}"
        if status >= 500:
            assert str(status) in documented, f"{where} answered an undocumented {status}: {response.text[:500]}"
        case.validate_response(response, checks=(status_code_conformance, content_type_conformance))
        if status >= 400:
            body = response.json()
            assert body.get("error_code") == status and isinstance(body.get("message"), str), f"{where}: {body}"
            assert snapshot(fuzz_api) == before, f"rejected {where} ({status}) changed the state"

    run()


# --- hostile bodies and names ----------------------------------------------------------------
def assert_rejected(api: RestApi, response: requests.Response, before: dict[str, Any]) -> None:
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body["error_code"] == response.status_code and body["message"], body
    assert snapshot(api) == before


@pytest.mark.parametrize("depth", [64, 1_000, 20_000])
def test_deeply_nested_body_is_a_client_error(fuzz_api: RestApi, depth: int) -> None:
    """Defect 4: a body nested 20,000 deep answered 500 RecursionError."""
    before = snapshot(fuzz_api)
    nested = "[" * depth + "]" * depth
    body = '{"name": "deep", "config": {"connector.class": "FileStreamSink", "topics": "t", "x": ' + nested + "}}"
    response = requests.post(f"{fuzz_api.url}/connectors", data=body, timeout=60,
                             headers={"Content-Type": "application/json"})
    assert_rejected(fuzz_api, response, before)


def test_oversized_body_is_413(fuzz_api: RestApi) -> None:
    """Defect 19 territory: the client must get the 413 (not a broken pipe) and nothing is stored."""
    from lambda_connect.rest.router import MAX_BODY_BYTES

    before = snapshot(fuzz_api)
    big = json.dumps({"name": "big", "config": {**SEED, "padding": "x" * (MAX_BODY_BYTES + 1024)}})
    response = requests.post(f"{fuzz_api.url}/connectors", data=big, timeout=60,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text[:300]
    assert_rejected(fuzz_api, response, before)


HOSTILE_NAMES = ["..", "../fuzz-sink", "%2F", "a%2Fb", "a/../b", ".", "名前-コネクタ", "emoji-\U0001f680",
                 "x" * 10_000, "a\u0000b", " spaced ", "a%00b", "%2e%2e"]


def _path_segment(name: str) -> str:
    from urllib.parse import quote

    encoded = quote(name, safe="")
    return encoded.replace(".", "%2E") if set(name) == {"."} else encoded


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n[:20]))
def test_hostile_connector_names(fuzz_api: RestApi, name: str) -> None:
    """Create and read back through the body and through the path: either the name is refused
    with a 4xx and nothing changes, or it round-trips exactly and can be deleted again; never a
    5xx, and never another connector (``fuzz-sink``) touched."""
    from urllib.parse import quote

    before = snapshot(fuzz_api)
    response = requests.post(f"{fuzz_api.url}/connectors", json={"name": name, "config": dict(SEED)}, timeout=30)
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        assert_rejected(fuzz_api, response, before)
    else:
        stored = name.strip()  # Kafka Connect trims the name it is given
        assert response.status_code == 201 and response.json()["name"] == stored
        # Dot segments are percent-encoded, or every HTTP client would resolve them away.
        path = f"{fuzz_api.url}/connectors/{_path_segment(stored)}"
        got = requests.get(path, timeout=30)
        assert got.status_code == 200 and got.json()["name"] == stored, got.text[:300]
        assert requests.delete(path, timeout=30).status_code == 204
        assert snapshot(fuzz_api) == before
    # Through the path only: GET/PUT/DELETE of the raw name never reach another connector.
    for raw in {name, quote(name, safe=""), quote(name, safe="/")}:
        for method in ("GET", "DELETE", "PUT"):
            reply = requests.request(method, f"{fuzz_api.url}/connectors/{raw}/pause" if method == "PUT"
                                     else f"{fuzz_api.url}/connectors/{raw}", timeout=30)
            assert reply.status_code < 500, f"{method} {raw[:40]}: {reply.status_code} {reply.text[:300]}"
    after = snapshot(fuzz_api)
    assert after.get("fuzz-sink") == before["fuzz-sink"], "a hostile name reached another connector"
