"""``lambda-connect offsets get|alter|reset``: KIP-875 offset management over REST.

Alter and reset need the connector STOPPED (``lambda-connect connectors stop NAME``); the API
answers 400 with Kafka's message otherwise. Sink offsets are the consumer group's
(``{"kafka_topic", "kafka_partition"}`` → ``{"kafka_offset"}``), source offsets the connector's own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lambda_connect.api.errors import ConfigException

from ._http import quote_name
from ._output import print_json, print_table
from .connectors import add_client_args, client_of, run_guarded

__all__ = ["register"]


def _render(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "null" if value is None else str(value)


def _get(args: argparse.Namespace) -> int:
    body = client_of(args).request("GET", f"/connectors/{quote_name(args.name)}/offsets")
    if args.output == "json":
        print_json(body)
    else:
        rows = [(_render(o.get("partition")), _render(o.get("offset"))) for o in body.get("offsets", [])]
        print_table(("PARTITION", "OFFSET"), rows)
    return 0


def _read_offsets(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigException(errors={"<offsets>": [f"Cannot read {path}: {e.strerror}"]}) from e
    except ValueError as e:
        raise ConfigException(errors={"<offsets>": [f"{path} is not valid JSON: {e}"]}) from e
    if isinstance(data, list):
        data = {"offsets": data}
    if not isinstance(data, dict):
        raise ConfigException(errors={"<offsets>": [f'{path} must hold {{"offsets": [...]}} or a list']})
    return data


def _alter(args: argparse.Namespace) -> int:
    body = client_of(args).request("PATCH", f"/connectors/{quote_name(args.name)}/offsets", _read_offsets(args.file))
    if args.output == "json":
        print_json(body)
    else:
        sys.stdout.write(f"{(body or {}).get('message', 'Offsets altered')}\n")
    return 0


def _reset(args: argparse.Namespace) -> int:
    body = client_of(args).request("DELETE", f"/connectors/{quote_name(args.name)}/offsets")
    if args.output == "json":
        print_json(body)
    else:
        sys.stdout.write(f"{(body or {}).get('message', 'Offsets reset')}\n")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("offsets", help="read, alter or reset a connector's offsets (KIP-875)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_, action in (("get", "show offsets", _get),
                                ("alter", "alter offsets from a JSON file (connector must be STOPPED)", _alter),
                                ("reset", "reset all offsets (connector must be STOPPED)", _reset)):
        c = sub.add_parser(name, help=help_)
        c.add_argument("name", metavar="NAME", help="connector name")
        if name == "alter":
            c.add_argument("-f", "--file", required=True,
                           help='{"offsets": [{"partition": {...}, "offset": {...}}]} as for PATCH …/offsets')
        add_client_args(c)
        c.set_defaults(handler=run_guarded(action))
