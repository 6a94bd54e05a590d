"""``lambda-connect events generate msk|self-managed-kafka|schedule|api``: sample events.

``sam local generate-event`` has no Kafka generator; this one renders records from JSON lines
into the exact event Lambda sends (``aws.kafka_event.build_kafka_event``), plus the schedule
input of a source task and an HTTP API (payload 2.0) request for the REST function.

Kafka records file: one JSON object per line with ``value`` and optionally ``key``,
``headers`` (``[[name, value], …]`` or ``{name: value}``), ``topic``, ``partition``, ``offset``,
``timestamp``, ``timestampType``. String keys/values are taken as UTF-8 text, ``null`` is null
(a tombstone value), anything else is serialised as compact JSON — what a JSON producer sends.
A line that is not JSON at all becomes a record whose value is that line's bytes (with a
warning): a poison record, as a broken producer would write it.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from lambda_connect.aws.kafka_event import KafkaRecordTuple, build_kafka_event

__all__ = ["api_event", "kafka_event_from_lines", "register", "schedule_event"]

_REGION = "us-east-1"
_ACCOUNT = "000000000000"


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _headers(raw: Any, line_no: int) -> list[tuple[str, bytes | None]]:
    if raw is None:
        return []
    pairs = raw.items() if isinstance(raw, dict) else raw
    out: list[tuple[str, bytes | None]] = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"line {line_no}: headers must be [[name, value], …] or {{name: value}}")
        out.append((str(pair[0]), _bytes(pair[1])))
    return out


def _stderr(message: str) -> None:
    sys.stderr.write(f"Warning: {message}\n")


def kafka_event_from_lines(lines: list[str], *, source: str, topic: str, partition: int,
                           bootstrap_servers: str, cluster_arn: str | None = None,
                           warn: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """The Lambda Kafka event for the JSON-lines ``lines`` (see the module docstring)."""
    next_offset: dict[tuple[str, int], int] = {}
    records: list[KafkaRecordTuple] = []
    now_ms = int(time.time() * 1000)
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as e:
            # A producer that writes garbage makes exactly this record: keep it, as a poison
            # record whose value is the line's bytes, so the event exercises the error path.
            warn(f"line {line_no} is not JSON ({e}): it becomes a record whose value is the line's raw bytes")
            item = {"value": line}
        if not isinstance(item, dict):
            raise ValueError(f"line {line_no}: expected an object with 'value' (and 'key', 'headers', …)")
        t = str(item.get("topic", topic))
        p = int(item.get("partition", partition))
        offset = int(item.get("offset", next_offset.get((t, p), 0)))
        next_offset[(t, p)] = offset + 1
        records.append(KafkaRecordTuple(
            t, p, offset, int(item.get("timestamp", now_ms)), str(item.get("timestampType", "CREATE_TIME")),
            _bytes(item.get("key")), _bytes(item.get("value")), _headers(item.get("headers"), line_no),
        ))
    kafka_source = "aws:kafka" if source == "msk" else "SelfManagedKafka"
    return build_kafka_event(records, source=kafka_source, bootstrap_servers=bootstrap_servers,
                             cluster_arn=cluster_arn if source == "msk" else None)


def schedule_event(connector: str, task: int, *, eventbridge: bool = False, schedule: str | None = None
                   ) -> dict[str, Any]:
    """The source task's input: the scheduler's ``{"connector", "task"}``, or an EventBridge
    scheduled event carrying it in ``detail``."""
    payload = {"connector": connector, "task": task}
    if not eventbridge:
        return payload
    name = schedule or f"connect-{connector}-task-{task}"
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": _ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": _REGION,
        "resources": [f"arn:aws:scheduler:{_REGION}:{_ACCOUNT}:schedule/lambda-connect/{name}"],
        "detail": payload,
    }


def api_event(method: str, target: str, body: str | None = None, headers: dict[str, str] | None = None
              ) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 request for ``method target`` (``/path?query``)."""
    parts = urlsplit(target)
    now = time.time()
    hdrs = {"accept": "application/json", "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "lambda-connect-cli"}
    if body is not None:
        hdrs["content-type"] = "application/json"
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "$default", "rawPath": parts.path or "/", "rawQueryString": parts.query,
        "headers": hdrs,
        "requestContext": {
            "accountId": _ACCOUNT, "apiId": "abc123", "domainName": hdrs["host"], "domainPrefix": "abc123",
            "http": {"method": method.upper(), "path": parts.path or "/", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": hdrs["user-agent"]},
            "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if parts.query:
        event["queryStringParameters"] = {k: v for k, _, v in (q.partition("=") for q in parts.query.split("&"))}
    if body is not None:
        try:
            body.encode("utf-8")
            event["body"] = body
        except UnicodeEncodeError:
            event["body"] = base64.b64encode(body.encode("utf-8", "surrogateescape")).decode()
            event["isBase64Encoded"] = True
    return event


def _read(path: str | None) -> str:
    if path is None or path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def _write(event: dict[str, Any], out: str | None, stream: TextIO | None = None) -> None:
    text = json.dumps(event, indent=2) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        (stream or sys.stdout).write(text)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.kind in ("msk", "self-managed-kafka"):
            event = kafka_event_from_lines(
                _read(args.records).splitlines(), source=args.kind, topic=args.topic, partition=args.partition,
                bootstrap_servers=args.bootstrap_servers, cluster_arn=args.cluster_arn,
            )
        elif args.kind == "schedule":
            event = schedule_event(args.connector, args.task, eventbridge=args.eventbridge)
        else:
            body = _read(args.body) if args.body else None
            event = api_event(args.method, args.path, body)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"Error: {e}\n")
        return 2
    _write(event, args.out)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("events", help="generate sample events for the functions")
    sub = p.add_subparsers(dest="events_action", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="write a sample event as JSON")
    kinds = gen.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, help_ in (("msk", "an Amazon MSK event from JSON-lines records"),
                        ("self-managed-kafka", "a self-managed Kafka event from JSON-lines records")):
        k = kinds.add_parser(kind, help=help_)
        k.add_argument("--records", "-r", help="JSON-lines records (default: stdin)")
        k.add_argument("--topic", default="topic", help="topic of records that name none (default: topic)")
        k.add_argument("--partition", type=int, default=0, help="partition of records that name none")
        k.add_argument("--bootstrap-servers", default="127.0.0.1:9092", help="the event's bootstrapServers")
        if kind == "msk":
            k.add_argument("--cluster-arn", help="the event's eventSourceArn (default: a local placeholder)")
        else:
            k.set_defaults(cluster_arn=None)
    k = kinds.add_parser("schedule", help="a source task's schedule input")
    k.add_argument("--connector", required=True)
    k.add_argument("--task", type=int, default=0)
    k.add_argument("--eventbridge", action="store_true", help="an EventBridge scheduled event with the input in detail")
    k = kinds.add_parser("api", help="an HTTP API (payload 2.0) request for the REST function")
    k.add_argument("--method", default="GET")
    k.add_argument("--path", default="/connectors", help="path and query, e.g. /connectors?expand=status")
    k.add_argument("--body", help="file with the request body")
    for action in kinds.choices.values():
        action.add_argument("--out", help="write to this file instead of stdout")
        action.set_defaults(handler=_run)
