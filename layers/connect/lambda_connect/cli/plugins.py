"""``lambda-connect plugins``: the plugin catalogue with the names a config may use."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from lambda_connect.runtime.registry import Registry

__all__ = ["register", "run"]

_TYPES = {
    "connector": ("source", "sink"),
    "converter": ("converter", "header_converter"),
    "transformation": ("transformation",),
    "predicate": ("predicate",),
}


def run(args: argparse.Namespace) -> int:
    registry = Registry.default()
    wanted = _TYPES.get(args.type) if args.type else None
    descriptors = [d for d in registry.descriptors() if wanted is None or d.kind in wanted]
    if args.output == "json":
        sys.stdout.buffer.write(orjson.dumps([d.plugin_info() for d in descriptors], option=orjson.OPT_INDENT_2))
        sys.stdout.write("\n")
        return 0
    rows = [(d.class_name, d.kind or "", d.version or "", ", ".join(registry.aliases(d.class_name)))
            for d in descriptors]
    header = ("CLASS", "TYPE", "VERSION", "ALIASES")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for r in [header, *rows]:
        sys.stdout.write(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() + "\n")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("plugins", help="list connectors, converters, transformations and predicates")
    p.add_argument("--type", choices=sorted(_TYPES), help="only plugins of this type")
    p.add_argument("--output", choices=["text", "json"], default="text",
                   help="json prints Kafka's PluginInfo list (GET /connector-plugins?connectorsOnly=false)")
    p.set_defaults(handler=run)
