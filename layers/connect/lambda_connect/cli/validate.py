"""``lambda-connect validate``: Kafka's config validation, offline or against an endpoint.

Offline it runs exactly what ``PUT /connector-plugins/{p}/config/validate`` runs; with
``--url`` it asks that endpoint (any Kafka Connect-compatible one). Either way it prints one
line per error naming its key and exits 2 when the config is invalid.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from typing import Any

import orjson

from lambda_connect.api.errors import ConfigException
from lambda_connect.runtime.validation import config_errors, validate_connector_config

from ._config import load_connector_config, print_config_errors
from ._http import ConnectClient, ConnectError, quote_name
from .connectors import run_guarded
from .plugins import add_endpoint_args

__all__ = ["register", "remote_config_infos", "run"]

# Kafka refuses to validate at all, with an error rather than ConfigInfos, when the
# connector class names no connector plugin it has.
_CLASS_REJECTED = re.compile(r"Failed to find any class that implements|contains no connector type")


def remote_config_infos(client: ConnectClient, props: Mapping[str, str]) -> dict[str, Any]:
    """The endpoint's ConfigInfos for ``props``.

    A missing or unknown ``connector.class`` raises ConfigException attributed to that key
    (worded as the offline validation words it), because the endpoint answers those with
    an error, not with ConfigInfos — and the path needs the class in the first place.
    """
    connector_class = str(props.get("connector.class") or "").strip()
    if not connector_class:
        raise ConfigException(errors={"connector.class": [
            'Missing required configuration "connector.class" which has no default value.']})
    path = f"/connector-plugins/{quote_name(connector_class)}/config/validate"
    try:
        return client.request("PUT", path, dict(props))
    except ConnectError as e:
        if e.status in (400, 500) and _CLASS_REJECTED.search(e.message):
            raise ConfigException.for_key("connector.class", connector_class, e.message) from None
        raise


def _run(args: argparse.Namespace) -> int:
    props = load_connector_config(args.config)
    try:
        infos = remote_config_infos(ConnectClient(args.url), props) if args.url else validate_connector_config(props)
    except ConfigException as e:  # the endpoint would not validate this connector class
        if args.output == "json":
            print_config_errors(e.errors, sys.stderr)
        else:
            print_config_errors(e.errors, sys.stdout)
            sys.stdout.write(f"{sum(len(m) for m in e.errors.values())} error(s)\n")
        return 2
    errors = config_errors(infos)
    if args.output == "json":
        sys.stdout.buffer.write(orjson.dumps(infos, option=orjson.OPT_INDENT_2) + b"\n")
    elif errors:
        print_config_errors(errors, sys.stdout)
        sys.stdout.write(f"{infos['error_count']} error(s)\n")
    else:
        sys.stdout.write(f"Configuration is valid ({infos['name']})\n")
    return 2 if errors else 0


run = run_guarded(_run)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("validate", help="validate a connector config as the REST API would")
    p.add_argument("--config", required=True, metavar="CONFIG", help="connector config (JSON or .properties)")
    add_endpoint_args(p, "json prints Kafka's ConfigInfos (the validate endpoint's response)")
    p.set_defaults(handler=run)
