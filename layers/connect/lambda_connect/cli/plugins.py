"""``lambda-connect plugins``: the plugin catalogue with the names a config may use.

Offline by default (this installation's registry); with ``--url`` the catalogue of any
Kafka Connect-compatible endpoint (``GET /connector-plugins?connectorsOnly=false``), printed
the same way so the two can be compared line for line.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from lambda_connect.runtime.registry import Registry

from ._http import ConnectClient
from .connectors import run_guarded

__all__ = ["add_endpoint_args", "register", "run"]

_TYPES = {
    "connector": ("source", "sink"),
    "converter": ("converter", "header_converter"),
    "transformation": ("transformation",),
    "predicate": ("predicate",),
}


def add_endpoint_args(parser: argparse.ArgumentParser, json_help: str) -> None:
    """``--url`` (none: work offline) and ``--output``, shared by ``plugins`` and ``validate``."""
    parser.add_argument("--url", default=None,
                        help="ask this Kafka Connect REST endpoint (e.g. http://127.0.0.1:8083; execute-api hosts "
                             "are SigV4-signed) instead of the local plugins")
    parser.add_argument("--output", "-o", choices=["text", "table", "json"], default="text", help=json_help)


def _catalogue(url: str | None) -> tuple[list[dict[str, str]], Registry]:
    """Kafka's PluginInfo list and a registry that knows the aliases of its classes.

    Remotely the aliases are derived from the endpoint's own class names with Kafka's
    rules (simple name, then without the ``Connector``/``Converter``… suffix, collisions
    dropped), since PluginInfo does not carry them.
    """
    if url is None:
        registry = Registry.default()
        return [d.plugin_info() for d in registry.descriptors()], registry
    infos = ConnectClient(url).request("GET", "/connector-plugins", query={"connectorsOnly": "false"}) or []
    # A class this installation knows keeps its module target, so one plugin listed under two
    # class names (Iceberg's old and new) shares its aliases as it does offline; any other
    # class is a plugin of its own, and colliding short names are dropped.
    from lambda_connect.plugins import ALIASES

    known = Registry.default().targets()
    return infos, Registry(((info["class"], known.get(info["class"], info["class"])) for info in infos), ALIASES)


def _run(args: argparse.Namespace) -> int:
    infos, registry = _catalogue(args.url)
    wanted = _TYPES.get(args.type) if args.type else None
    infos = [i for i in infos if wanted is None or i.get("type") in wanted]
    if args.output == "json":
        sys.stdout.buffer.write(orjson.dumps(infos, option=orjson.OPT_INDENT_2))
        sys.stdout.write("\n")
        return 0
    rows = [(i["class"], i.get("type") or "", i.get("version") or "", ", ".join(registry.aliases(i["class"])))
            for i in infos]
    header = ("CLASS", "TYPE", "VERSION", "ALIASES")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for r in [header, *rows]:
        sys.stdout.write(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() + "\n")
    return 0


run = run_guarded(_run)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("plugins", help="list connectors, converters, transformations and predicates")
    p.add_argument("--type", choices=sorted(_TYPES), help="only plugins of this type")
    add_endpoint_args(p, "json prints Kafka's PluginInfo list (GET /connector-plugins?connectorsOnly=false)")
    p.set_defaults(handler=run)
