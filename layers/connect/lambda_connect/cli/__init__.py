"""``lambda-connect``: the command line.

Each command group lives in its own module with a ``register(subparsers)`` function; the
list below is the one place a new group is wired in, so adding ``up``, ``connectors`` or
``invoke`` is a new module plus one line here.

Exit codes: 0 success, 1 the command ran but something failed (e.g. a record failed with
``errors.tolerance=none``), 2 invalid usage or an invalid connector config.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "lambda_connect.cli.transform",
    "lambda_connect.cli.plugins",
    "lambda_connect.cli.validate",
    "lambda_connect.cli.up",
    "lambda_connect.cli.connectors",
    "lambda_connect.cli.offsets",
    "lambda_connect.cli.dlq",
    "lambda_connect.cli.console",
    "lambda_connect.cli.invoke",
    "lambda_connect.cli.events",
    "lambda_connect.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lambda-connect",
        description="Kafka Connect as AWS Lambda functions: run converters and SMTs, inspect plugins, "
        "validate connector configs.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lambda-connect`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:  # output piped into `head`: not an error
        return 0


if __name__ == "__main__":
    sys.exit(main())
