"""Helpers shared by the REST tests: HTTP API payload 2.0 events built from the checked-in
samples in ``events/``, a fake sink-offsets backend, and a client that drives a handler."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_connect.runtime.sink_offsets import SinkOffset, group_for

EVENTS = Path(__file__).parents[3] / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def api_event(method: str, target: str, body: Any = None, *, raw: bytes | None = None,
              base64_body: bool = False) -> dict[str, Any]:
    """An event shaped exactly like the sample ``api-list-connectors.json``, retargeted."""
    event = copy.deepcopy(load_event("api-list-connectors.json"))
    path, _, query = target.partition("?")
    event["rawPath"] = path
    event["rawQueryString"] = query
    event.pop("queryStringParameters", None)
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if data is None:
        event.pop("body", None)
        event["isBase64Encoded"] = False
    elif base64_body:
        event["body"] = base64.b64encode(data).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = data.decode()
        event["isBase64Encoded"] = False
    return event


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class ApiClient:
    """Calls a Lambda handler with API events and decodes its proxy results."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]], context: Any = None) -> None:
        self.handler = handler
        self.context = context

    def call(self, method: str, target: str, body: Any = None, **kw: Any) -> Reply:
        result = self.handler(api_event(method, target, body, **kw), self.context)
        text = result.get("body") or ""
        if result.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        return Reply(result["statusCode"], dict(result.get("headers") or {}), text)

    def get(self, target: str) -> Reply:
        return self.call("GET", target)

    def post(self, target: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("POST", target, body, **kw)

    def put(self, target: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("PUT", target, body, **kw)

    def patch(self, target: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("PATCH", target, body, **kw)

    def delete(self, target: str) -> Reply:
        return self.call("DELETE", target)


class FakeSinkOffsets:
    """Consumer-group offsets in memory, keyed by group — same contract as KafkaSinkOffsets."""

    def __init__(self, earliest: int = 0) -> None:
        self.groups: dict[str, dict[tuple[str, int], int]] = {}
        self.earliest = earliest

    def get(self, connector: str, groups_by_topic: Mapping[str, str]) -> list[SinkOffset]:
        out = []
        for group in set(groups_by_topic.values()):
            for (topic, partition), offset in self.groups.get(group, {}).items():
                if group_for(topic, groups_by_topic) == group:
                    out.append((topic, partition, offset))
        return sorted(out)

    def alter(self, connector: str, groups_by_topic: Mapping[str, str], offsets: Iterable[SinkOffset]) -> None:
        for topic, partition, offset in offsets:
            group = self.groups.setdefault(group_for(topic, groups_by_topic), {})
            group[(topic, partition)] = self.earliest if offset is None else offset

    def reset(self, connector: str, groups_by_topic: Mapping[str, str]) -> None:
        for group in set(groups_by_topic.values()):
            self.groups.pop(group, None)


@dataclass
class LambdaContext:
    """The attributes of a Lambda context that Powertools and the handlers read."""

    function_name: str = "connector-api"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:connector-api"
    aws_request_id: str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
