"""Tables for people, JSON for scripts: the two ways every REST command prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["add_output_args", "print_json", "print_table"]


def add_output_args(parser: Any) -> None:
    parser.add_argument("--output", "-o", choices=["table", "json"], default="table",
                        help="json prints the REST API's response as is")


def print_json(value: Any, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(json.dumps(value, indent=2, sort_keys=False) + "\n")


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]], stream: TextIO | None = None) -> None:
    """Left-aligned columns, two spaces apart; the last column is never padded."""
    out = stream or sys.stdout
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        line = "  ".join(c.ljust(widths[i]) if i < len(row) - 1 else c for i, c in enumerate(row))
        out.write(line.rstrip() + "\n")
