"""``lambda-connect connectors …``: Kafka Connect's connector operations over its REST API.

Works against any Kafka Connect-compatible endpoint (``--url``; a local ``lambda-connect up``,
a deployed lambda-connect API — signed with SigV4 — or a Kafka Connect cluster). Tables for
people; ``--output json`` prints the API's response unchanged for scripts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from lambda_connect.api.errors import ConfigException

from ._config import load_connector_config, print_config_errors
from ._http import DEFAULT_URL, ConnectClient, ConnectError, quote_name
from ._output import add_output_args, print_json, print_table

__all__ = ["add_client_args", "client_of", "register", "run_guarded"]


def add_client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help=f"Kafka Connect REST endpoint (default {DEFAULT_URL})")
    add_output_args(parser)


def client_of(args: argparse.Namespace) -> ConnectClient:
    return ConnectClient(args.url)


def run_guarded(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print the API's error message (Kafka's ``message``) and exit 1 instead of a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return action(args)
        except ConnectError as e:
            where = f" (HTTP {e.status})" if e.status else ""
            sys.stderr.write(f"Error{where}: {e.message}\n")
            return 1
        except ConfigException as e:
            print_config_errors(e.errors or {"<config>": [str(e)]}, sys.stderr)
            return 2

    return run


def _path(name: str, suffix: str = "") -> str:
    return f"/connectors/{quote_name(name)}{suffix}"


def _first_line(text: str | None, limit: int = 100) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _print_status(status: dict[str, Any]) -> None:
    rows = [("connector", status["connector"]["state"], status["connector"].get("worker_id", ""),
             _first_line(status["connector"].get("trace")))]
    for task in status.get("tasks", []):
        rows.append((f"task {task['id']}", task["state"], task.get("worker_id", ""), _first_line(task.get("trace"))))
    sys.stdout.write(f"{status['name']} ({status.get('type', 'unknown')})\n")
    print_table(("INSTANCE", "STATE", "WORKER", "TRACE"), rows)


def _list(args: argparse.Namespace) -> int:
    client = client_of(args)
    if args.output == "json":
        print_json(client.request("GET", "/connectors", query={"expand": args.expand} if args.expand else None))
        return 0
    expanded = client.request("GET", "/connectors", query={"expand": ["status", "info"]})
    rows = []
    for name in sorted(expanded):
        item = expanded[name]
        status = item.get("status") or {}
        tasks = status.get("tasks") or []
        running = sum(1 for t in tasks if t.get("state") == "RUNNING")
        rows.append((name, status.get("type") or (item.get("info") or {}).get("type", ""),
                     (status.get("connector") or {}).get("state", ""), f"{running}/{len(tasks)}",
                     (item.get("info") or {}).get("config", {}).get("connector.class", "")))
    print_table(("NAME", "TYPE", "STATE", "TASKS RUNNING", "CLASS"), rows)
    return 0


def _get(args: argparse.Namespace) -> int:
    info = client_of(args).request("GET", _path(args.name))
    if args.output == "json":
        print_json(info)
        return 0
    sys.stdout.write(f"{info['name']} ({info.get('type', 'unknown')}), {len(info.get('tasks', []))} task(s)\n")
    print_table(("KEY", "VALUE"), sorted(info.get("config", {}).items()))
    return 0


def _load(path: str, name: str | None = None) -> tuple[str, dict[str, str]]:
    config = load_connector_config(path)
    name = name or config.get("name")
    if not name:
        raise ConfigException(errors={"name": [f"{path} names no connector: add \"name\" or pass --name"]})
    config.setdefault("name", name)
    return name, config


def _create(args: argparse.Namespace) -> int:
    name, config = _load(args.file, args.name)
    body: dict[str, Any] = {"name": name, "config": config}
    if args.initial_state:
        body["initial_state"] = args.initial_state
    reply = client_of(args).call("POST", "/connectors", body)
    if args.output == "json":
        print_json(reply.body)
    else:
        sys.stdout.write(f"Created connector {name}\n")
    _print_warning(reply.headers)
    return 0


def _print_warning(headers: dict[str, str]) -> None:
    """A create's warning (its response header): on stderr, so ``-o json`` output stays JSON."""
    warning = headers.get("x-lambda-connect-warning")
    if warning:
        sys.stderr.write(f"Warning: {warning}\n")


def _update(args: argparse.Namespace) -> int:
    name, config = _load(args.file, args.name)
    reply = client_of(args).call("PUT", _path(name, "/config"), config)
    if args.output == "json":
        print_json(reply.body)
    else:
        sys.stdout.write(f"{'Created' if reply.status == 201 else 'Updated'} connector {name}\n")
    _print_warning(reply.headers)
    return 0


def _patch(args: argparse.Namespace) -> int:
    patch: dict[str, Any] = {}
    if args.file:
        patch.update(load_connector_config(args.file))
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigException(errors={item: ["--set takes KEY=VALUE"]})
        patch[key] = value
    for key in args.unset or []:
        patch[key] = None
    if not patch:
        raise ConfigException(errors={"<patch>": ["nothing to change: give --set, --unset or -f"]})
    info = client_of(args).request("PATCH", _path(args.name, "/config"), patch)
    if args.output == "json":
        print_json(info)
    else:
        sys.stdout.write(f"Patched connector {args.name}\n")
    return 0


def _simple(method: str, suffix: str, done: str) -> Callable[[argparse.Namespace], int]:
    def action(args: argparse.Namespace) -> int:
        body = client_of(args).request(method, _path(args.name, suffix))
        if args.output == "json":
            print_json(body if body is not None else {"message": f"{done} {args.name}"})
        else:
            sys.stdout.write(f"{done} connector {args.name}\n")
        return 0

    return action


def _restart(args: argparse.Namespace) -> int:
    client = client_of(args)
    if args.task is not None:
        client.request("POST", _path(args.name, f"/tasks/{args.task}/restart"))
        body: Any = None
    else:
        query = {"includeTasks": str(args.include_tasks).lower(), "onlyFailed": str(args.only_failed).lower()}
        body = client.request("POST", _path(args.name, "/restart"), query=query)
    if args.output == "json":
        print_json(body if body is not None else {"message": f"Restarted {args.name}"})
    elif isinstance(body, dict) and "connector" in body:
        _print_status(body)
    else:
        what = f"task {args.task} of connector" if args.task is not None else "connector"
        sys.stdout.write(f"Restarted {what} {args.name}\n")
    return 0


def _status(args: argparse.Namespace) -> int:
    client = client_of(args)
    if args.task is not None:
        body = client.request("GET", _path(args.name, f"/tasks/{args.task}/status"))
        if args.output == "json":
            print_json(body)
        else:
            print_table(("TASK", "STATE", "WORKER", "TRACE"),
                        [(body["id"], body["state"], body.get("worker_id", ""), _first_line(body.get("trace")))])
        return 0
    status = client.request("GET", _path(args.name, "/status"))
    if args.output == "json":
        print_json(status)
    else:
        _print_status(status)
        if args.trace:
            for item in [status["connector"], *status.get("tasks", [])]:
                if item.get("trace"):
                    sys.stdout.write(f"\n{item.get('id', 'connector')}:\n{item['trace']}\n")
    return 0


def _tasks(args: argparse.Namespace) -> int:
    tasks = client_of(args).request("GET", _path(args.name, "/tasks"))
    if args.output == "json":
        print_json(tasks)
        return 0
    rows = []
    for task in tasks:
        for key, value in sorted(task.get("config", {}).items()):
            rows.append((task["id"]["task"], key, value))
    print_table(("TASK", "KEY", "VALUE"), rows)
    return 0


def _topics(args: argparse.Namespace) -> int:
    client = client_of(args)
    if args.reset:
        client.request("PUT", _path(args.name, "/topics/reset"))
        if args.output == "json":
            print_json({"message": f"Reset active topics of {args.name}"})
        else:
            sys.stdout.write(f"Reset active topics of connector {args.name}\n")
        return 0
    body = client.request("GET", _path(args.name, "/topics"))
    if args.output == "json":
        print_json(body)
    else:
        print_table(("TOPIC",), [(t,) for t in (body.get(args.name) or {}).get("topics", [])])
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("connectors", help="list, create, update, pause, restart… connectors over REST")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def cmd(name: str, help_: str, action: Callable[[argparse.Namespace], int], *, named: bool = True
            ) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_)
        if named:
            c.add_argument("name", metavar="NAME", help="connector name")
        add_client_args(c)
        c.set_defaults(handler=run_guarded(action))
        return c

    c = cmd("list", "list connectors with their state", _list, named=False)
    c.add_argument("--expand", action="append", choices=["status", "info"],
                   help="with --output json: GET /connectors?expand=… (repeatable)")
    cmd("get", "show a connector's config", _get)
    c = cmd("create", "create a connector from a JSON or .properties file", _create, named=False)
    c.add_argument("-f", "--file", required=True, help="connector config (JSON or .properties)")
    c.add_argument("--name", help="connector name (default: the file's)")
    c.add_argument("--initial-state", choices=["RUNNING", "PAUSED", "STOPPED"], help="KIP-980 initial state")
    c = cmd("update", "replace a connector's config (creates it if missing)", _update, named=False)
    c.add_argument("-f", "--file", required=True, help="connector config (JSON or .properties)")
    c.add_argument("--name", help="connector name (default: the file's)")
    c = cmd("patch", "change some keys of a connector's config (KIP-477)", _patch)
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="set a key (repeatable)")
    c.add_argument("--unset", action="append", metavar="KEY", help="remove a key (repeatable)")
    c.add_argument("-f", "--file", help="a partial config to merge")
    cmd("delete", "delete a connector", _simple("DELETE", "", "Deleted"))
    cmd("pause", "pause a connector and its tasks", _simple("PUT", "/pause", "Paused"))
    cmd("resume", "resume a paused or stopped connector", _simple("PUT", "/resume", "Resumed"))
    cmd("stop", "stop a connector (KIP-875; its offsets can then be edited)", _simple("PUT", "/stop", "Stopped"))
    c = cmd("restart", "restart a connector (and its tasks, KIP-745)", _restart)
    c.add_argument("--include-tasks", action="store_true", help="restart the tasks too")
    c.add_argument("--only-failed", action="store_true", help="only instances that are FAILED")
    c.add_argument("--task", type=int, help="restart only this task")
    c = cmd("status", "connector and task states", _status)
    c.add_argument("--task", type=int, help="only this task's status")
    c.add_argument("--trace", action="store_true", help="print failure traces in full")
    cmd("tasks", "task configs", _tasks)
    c = cmd("topics", "active topics (KIP-558)", _topics)
    c.add_argument("--reset", action="store_true", help="reset the connector's active topics")
