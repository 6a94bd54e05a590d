"""Render the figures a reliability run wrote into the tables of ``docs/RELIABILITY.md``.

    LAMBDA_CONNECT_RELIABILITY_FIGURES=/tmp/figures.jsonl .venv/bin/python -m pytest tests/reliability -n 2
    .venv/bin/python -m tests.reliability.figures /tmp/figures.jsonl

One row per scenario, in file order; a scenario that ran more than once (a rerun) keeps its last row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def render(path: Path) -> str:
    rows: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["scenario"]] = row
    out = ["| Scenario | Records | Faults injected | Lost | Duplicated | Misrouted |", "|---|---:|---:|---:|---:|---:|"]
    for name in sorted(rows):
        r = rows[name]
        out.append(f"| `{name}` | {r['records']:,} | {r.get('faults', 0):,} | {r['lost']} | {r['duplicated']} | "
                   f"{r['misrouted'] + r['unknown']} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(Path(sys.argv[1])))
