"""``lambda-connect validate``: Kafka's config validation, offline.

Exactly what ``PUT /connector-plugins/{p}/config/validate`` runs; prints one line per
error naming its key and exits 2 when the config is invalid.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from lambda_connect.api.errors import ConfigException
from lambda_connect.runtime.validation import config_errors, validate_connector_config

from ._config import load_connector_config, print_config_errors

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    try:
        props = load_connector_config(args.config)
    except ConfigException as e:
        print_config_errors(e.errors or {"<config>": [str(e)]}, sys.stderr)
        return 2
    infos = validate_connector_config(props)
    errors = config_errors(infos)
    if args.output == "json":
        sys.stdout.buffer.write(orjson.dumps(infos, option=orjson.OPT_INDENT_2) + b"\n")
    elif errors:
        print_config_errors(errors, sys.stdout)
        sys.stdout.write(f"{infos['error_count']} error(s)\n")
    else:
        sys.stdout.write(f"Configuration is valid ({infos['name']})\n")
    return 2 if errors else 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("validate", help="validate a connector config as the REST API would")
    p.add_argument("--config", required=True, metavar="CONFIG", help="connector config (JSON or .properties)")
    p.add_argument("--output", choices=["text", "json"], default="text",
                   help="json prints Kafka's ConfigInfos (the validate endpoint's response)")
    p.set_defaults(handler=run)
