"""``lambda-connect invoke FUNCTION --event FILE``: ``sam local invoke`` without Docker.

The function is found in ``template.yaml`` (logical id such as ``SinkTaskFunction``, or its
folder name ``sink_task``); its handler file is loaded by path and run in this process with a
Lambda context. Environment, lowest precedence first: the template's ``Globals`` and function
variables (intrinsics resolved from parameter defaults; ``--parameter`` overrides those), then
``LAMBDA_CONNECT_*``/``POWERTOOLS_*``/``AWS_*`` variables already set in your shell (so a laptop
can say ``LAMBDA_CONNECT_KAFKA_AUTH=none``), then ``--env KEY=VALUE``. ``--connector NAME``
qualifies the invoked ARN with that connector's alias, as its event source mapping would;
``--url URL`` points the handler at a running ``up``: its REST API says (``GET /local/environment``,
a lambda-connect extension) which state table, Kafka cluster and secrets file its task functions
use, so ``--connector NAME`` finds that up's connector by name without any environment variable.
``--state URL`` (and ``--bootstrap-servers``) say the same by hand, and win over ``--url``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from lambda_connect.local.context import LambdaContext, function_arn
from lambda_connect.local.functions import FunctionNotFound, find_function, load_handler, project_root
from lambda_connect.runtime.platform import connector_alias

__all__ = ["register", "run"]

_SHELL_PREFIXES = ("LAMBDA_CONNECT_", "POWERTOOLS_", "AWS_")


def _pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} takes KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def running_up_environment(url: str) -> dict[str, str]:
    """The task functions' variables of the ``lambda-connect up`` serving ``url``; ValueError
    (said as the fix) when it cannot tell them or they cannot be used from another process."""
    from ._http import ConnectClient, ConnectError

    try:
        answer = ConnectClient(url, timeout=10).request("GET", "/local/environment")
    except ConnectError as e:
        if e.status == 404:
            raise ValueError(f"{url} is not a lambda-connect up (no /local/environment): pass --state URL and "
                             "--bootstrap-servers instead") from None
        raise ValueError(f"cannot ask {url} for its environment: {e.message} (is lambda-connect up running there?)") \
            from None
    environment = answer.get("environment") if isinstance(answer, dict) else None
    if not isinstance(environment, dict):
        raise ValueError(f"{url}/local/environment answered {answer!r}, not an environment")
    state = str(environment.get("LAMBDA_CONNECT_STATE_URL") or "")
    if state.lower().startswith("memory:"):
        raise ValueError(f"the lambda-connect up at {url} keeps its state in memory, which invoke cannot read: "
                         "restart it with --state sqlite:///PATH (the default)")
    if ":***@" in state:
        raise ValueError(f"the state URL of the lambda-connect up at {url} holds a password it does not share "
                         f"({state}): pass the full URL with --state")
    return {str(k): str(v) for k, v in environment.items()}


def run(args: argparse.Namespace) -> int:
    try:
        overrides = _pairs(args.env, "--env")
        parameters = _pairs(args.parameter, "--parameter")
        root = Path(args.root) if args.root else project_root()
        spec = find_function(args.function, root, parameters=parameters)
        event: Any = json.loads(sys.stdin.read() if args.event == "-" else Path(args.event).read_text("utf-8"))
        running = running_up_environment(args.url) if args.url else {}
    except (ValueError, OSError, FunctionNotFound) as e:
        sys.stderr.write(f"Error: {e}\n")
        return 2
    env = dict(spec.environment)
    env.update({k: v for k, v in os.environ.items() if k.startswith(_SHELL_PREFIXES) and k in env})
    env.update(running)
    if args.state:  # the state table of a running ``up`` (its banner prints the URL)
        env["LAMBDA_CONNECT_STATE_URL"] = args.state
    if (args.state or args.url) and args.connector:  # by name: an alias exists only where a reconciler made one
        env["LAMBDA_CONNECT_CONNECTOR"] = args.connector
    if args.bootstrap_servers:
        env["LAMBDA_CONNECT_BOOTSTRAP_SERVERS"] = args.bootstrap_servers
    env.update(overrides)
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", spec.name)
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(spec.memory_mb))
    timeout_s = args.timeout or spec.timeout_seconds
    qualifier = connector_alias(args.connector) if args.connector else None
    context = LambdaContext(function_name=spec.name, timeout_ms=timeout_s * 1000, memory_limit_in_mb=spec.memory_mb,
                            invoked_function_arn=function_arn(spec.name, qualifier))
    try:
        handler = load_handler(spec, env)
        result = handler(event, context)
    except Exception as e:  # report as Lambda does: errorMessage/errorType/stackTrace, exit 1
        error = {"errorMessage": str(e), "errorType": type(e).__name__,
                 "stackTrace": traceback.format_exception(e)}
        sys.stdout.write(json.dumps(error, indent=2) + "\n")
        return 1
    if context.timed_out:
        sys.stderr.write(f"Task timed out after {timeout_s:.2f} seconds\n")
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    return 1 if context.timed_out else 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("invoke", help="run a function's handler locally with an event (no Docker)")
    p.add_argument("function", metavar="FUNCTION", help="logical id (SinkTaskFunction) or folder (sink_task)")
    p.add_argument("--event", "-e", required=True, help="event JSON file ('-' for stdin)")
    p.add_argument("--connector", help="invoke through this connector's alias (sink task)")
    p.add_argument("--state", metavar="URL",
                   help="state table URL, e.g. the one a running `lambda-connect up` prints (its connectors)")
    p.add_argument("--url", metavar="URL",
                   help="REST URL of a running `lambda-connect up` (e.g. http://127.0.0.1:8083): use its state table, "
                        "Kafka cluster and secrets, so --connector finds its connectors")
    p.add_argument("--bootstrap-servers", metavar="HOST:PORT", help="Kafka cluster for the DLQ and topic checks")
    p.add_argument("--env", action="append", metavar="KEY=VALUE", help="environment variable (repeatable)")
    p.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                   help="template parameter override, e.g. KafkaAuth=none (repeatable)")
    p.add_argument("--timeout", type=int, help="seconds (default: the function's Timeout)")
    p.add_argument("--root", help="project directory holding template.yaml (default: found from cwd)")
    p.set_defaults(handler=run)
