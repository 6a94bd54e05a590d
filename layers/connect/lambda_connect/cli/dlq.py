"""``lambda-connect dlq list|replay``: a sink connector's dead letter queue over the REST API
(``GET /connectors/NAME/dlq``, ``POST /connectors/NAME/dlq/replay``), so it works against
``lambda-connect up`` and a deployed API alike (requests to API Gateway are SigV4-signed).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lambda_connect.runtime.dlq_reader import ENTRY_KEYS, preview

from ._http import quote_name
from ._output import print_json, print_table
from .connectors import add_client_args, client_of, run_guarded

__all__ = ["register"]

_FILTER_HELP = ("FIELD=VALUE (exact) or FIELD~TEXT (substring, any case); repeat to combine. FIELD: topic, "
                "partition, offset, stage, error_class, message, key, value")


def _list(args: argparse.Namespace) -> int:
    query: dict[str, Any] = {"limit": args.limit}
    if args.filter:
        query["filter"] = args.filter
    body = client_of(args).request("GET", f"/connectors/{quote_name(args.name)}/dlq", query=query)
    entries = body.get("entries", [])
    if args.output == "json":
        print_json([{k: e.get(k) for k in ENTRY_KEYS} for e in entries])
        return 0
    rows = [(e["topic"], e["partition"], e["offset"], e["stage"], e["error_class"], preview(e["message"], 60),
             preview(e["key"], 24), preview(e["value"], 48)) for e in entries]
    print_table(("TOPIC", "PARTITION", "OFFSET", "STAGE", "ERROR_CLASS", "MESSAGE", "KEY", "VALUE"), rows)
    sys.stderr.write(f"{len(entries)} of {body.get('total', len(entries))} record(s) in {body.get('dlq_topic')}\n")
    return 0


def _replay(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"dry_run": bool(args.dry_run)}
    if args.to_topic:
        request["to_topic"] = args.to_topic
    if args.filter:
        request["filter"] = args.filter
    body = client_of(args).request("POST", f"/connectors/{quote_name(args.name)}/dlq/replay", request)
    if args.output == "json":
        print_json(body)
        return 0
    verb = "would replay" if body.get("dry_run") else "replayed"
    where = f"to {args.to_topic}" if args.to_topic else "to their original topics"
    sys.stdout.write(f"{body['replayed']} record(s) {verb} from {body['dlq_topic']} {where}"
                     f" ({body['already_replayed']} replayed before, {body['skipped']} left by the filter)\n")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("dlq", help="list or replay a sink connector's dead letter queue")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = sub.add_parser("list", help="the dead-lettered records, newest last, with their error context")
    c.add_argument("name", metavar="NAME", help="connector name")
    c.add_argument("--limit", type=int, default=100, help="at most this many records, the newest (default 100)")
    c.add_argument("--filter", action="append", default=[], help=_FILTER_HELP)
    add_client_args(c)
    c.set_defaults(handler=run_guarded(_list))
    c = sub.add_parser("replay", help="re-produce dead-lettered records to their original topics, each once")
    c.add_argument("name", metavar="NAME", help="connector name")
    c.add_argument("--to-topic", help="produce to this topic instead of each record's original one")
    c.add_argument("--dry-run", action="store_true", help="count what would be replayed, produce nothing")
    c.add_argument("--filter", action="append", default=[], help=_FILTER_HELP + "; records left out stay pending")
    add_client_args(c)
    c.set_defaults(handler=run_guarded(_replay))
