"""Generate the config-key tables of the sink connectors from their ConfigDefs.

The tables in ``docs/readme/sink.md`` between the ``BEGIN/END GENERATED SINK CONFIG`` markers
are this script's output, so documentation and validation can never disagree.

    .venv/bin/python scripts/gen_config_docs.py            # print the Markdown
    .venv/bin/python scripts/gen_config_docs.py --write    # refresh docs/readme/sink.md
    .venv/bin/python scripts/gen_config_docs.py --check    # exit 1 when the file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lambda_connect.api.config import REQUIRED, ConfigDef, ConfigKey, ConfigType
from lambda_connect.runtime.connector_config import COMMON, SINK
from lambda_connect.runtime.registry import Registry

DOC = Path(__file__).parents[1] / "docs" / "readme" / "sink.md"
BEGIN = "<!-- BEGIN GENERATED SINK CONFIG (scripts/gen_config_docs.py) -->"
END = "<!-- END GENERATED SINK CONFIG -->"
SINKS = (
    "org.apache.kafka.connect.file.FileStreamSinkConnector",
    "io.confluent.connect.jdbc.JdbcSinkConnector",
    "io.confluent.connect.s3.S3SinkConnector",
)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(key: ConfigKey) -> str:
    if key.default is REQUIRED:
        return "*required*"
    if key.default is None:
        return "null"
    if key.type is ConfigType.PASSWORD:
        return "[hidden]"
    value = ",".join(map(str, key.default)) if isinstance(key.default, list | tuple) else str(key.default)
    return f"`{value}`" if value else '`""`'


def table(definition: ConfigDef) -> str:
    """One Markdown table: key, type, default, valid values, importance, documentation."""
    rows = ["| Key | Type | Default | Valid values | Importance | Description |", "|---|---|---|---|---|---|"]
    for key in sorted(definition, key=lambda k: (k.group or "", k.order_in_group or 0, k.name)):
        valid = _cell(str(key.validator)) if key.validator is not None else ""
        rows.append(f"| `{key.name}` | {key.type.name} | {_default(key)} | {valid} | {key.importance.name} "
                    f"| {_cell(key.doc or '')} |")
    return "\n".join(rows)


def render(registry: Registry | None = None) -> str:
    registry = registry or Registry.default()
    parts = [BEGIN, "", "#### Keys every sink connector accepts (Kafka Connect's framework keys)", "",
             table(COMMON + SINK)]
    for class_name in SINKS:
        connector = registry.resolve(class_name, {"sink"})
        aliases = ", ".join(f"`{a}`" for a in sorted(registry.aliases(class_name)))
        parts += ["", f"#### `{class_name}`", "", f"Aliases: {aliases}.", "", table(connector.config_def)]
    parts += ["", END]
    return "\n".join(parts)


def replace_generated(text: str, generated: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + generated + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"update {DOC.name} in place")
    mode.add_argument("--check", action="store_true", help=f"fail when {DOC.name} is out of date")
    args = parser.parse_args(argv)
    generated = render()
    if not (args.write or args.check):
        print(generated)
        return 0
    current = DOC.read_text()
    updated = replace_generated(current, generated)
    if args.check:
        if updated != current:
            print(f"{DOC} is out of date: run scripts/gen_config_docs.py --write", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
