"""Generate the config-key tables of the sink and source connectors from their ConfigDefs.

The tables in ``docs/readme/sink.md`` and ``docs/readme/source.md`` between the
``BEGIN/END GENERATED … CONFIG`` markers are this script's output, so documentation and
validation can never disagree.

    .venv/bin/python scripts/gen_config_docs.py            # print the Markdown
    .venv/bin/python scripts/gen_config_docs.py --write    # refresh both files
    .venv/bin/python scripts/gen_config_docs.py --check    # exit 1 when a file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lambda_connect.api.config import REQUIRED, ConfigDef, ConfigKey, ConfigType
from lambda_connect.runtime.connector_config import COMMON, SINK, SOURCE
from lambda_connect.runtime.registry import Registry

DOCS = Path(__file__).parents[1] / "docs" / "readme"
SINKS = (
    "org.apache.kafka.connect.file.FileStreamSinkConnector",
    "io.confluent.connect.jdbc.JdbcSinkConnector",
    "io.confluent.connect.s3.S3SinkConnector",
)
SOURCES = (
    "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "io.confluent.connect.jdbc.JdbcSourceConnector",
    "io.confluent.connect.s3.source.S3SourceConnector",
    "io.confluent.kafka.connect.datagen.DatagenConnector",
)
# kind -> (file, connector classes, framework keys)
MESSAGING = (  # documented in their own section, sinks and sources together; framework keys as above
    "io.confluent.connect.http.HttpSinkConnector",
    "io.confluent.connect.mqtt.MqttSourceConnector",
    "io.confluent.connect.mqtt.MqttSinkConnector",
    "io.confluent.connect.rabbitmq.RabbitMQSourceConnector",
    "io.confluent.connect.rabbitmq.sink.RabbitMQSinkConnector",
    "com.redis.kafka.connect.RedisSinkConnector",
)
TARGETS = {"sink": ("sink.md", SINKS, COMMON + SINK), "source": ("source.md", SOURCES, COMMON + SOURCE),
           "messaging": ("connectors-messaging.md", MESSAGING, None)}


def markers(kind: str) -> tuple[str, str]:
    label = kind.upper()
    return (f"<!-- BEGIN GENERATED {label} CONFIG (scripts/gen_config_docs.py) -->",
            f"<!-- END GENERATED {label} CONFIG -->")


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


def render(kind: str = "sink", registry: Registry | None = None) -> str:
    registry = registry or Registry.default()
    _, classes, framework = TARGETS[kind]
    begin, end = markers(kind)
    parts = [begin]
    if framework is not None:
        parts += ["", f"#### Keys every {kind} connector accepts (Kafka Connect's framework keys)", "",
                  table(framework)]
    for class_name in classes:
        connector = registry.resolve(class_name, {kind} if framework is not None else {"sink", "source"})
        aliases = ", ".join(f"`{a}`" for a in sorted(registry.aliases(class_name)))
        parts += ["", f"#### `{class_name}`", "", f"Aliases: {aliases}.", "", table(connector.config_def)]
    parts += ["", end]
    return "\n".join(parts)


def replace_generated(text: str, generated: str, kind: str = "sink") -> str:
    begin, end = markers(kind)
    if begin not in text:  # first run for this file: append the section
        return text.rstrip() + f"\n\n### {kind.capitalize()} config keys\n\n" + generated + "\n"
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[:start] + generated + text[stop:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="update the docs in place")
    mode.add_argument("--check", action="store_true", help="fail when a doc is out of date")
    args = parser.parse_args(argv)
    stale = 0
    for kind, (filename, _, _) in TARGETS.items():
        generated = render(kind)
        if not (args.write or args.check):
            print(generated)
            continue
        doc = DOCS / filename
        current = doc.read_text()
        updated = replace_generated(current, generated, kind)
        if args.check and updated != current:
            print(f"{doc} is out of date: run scripts/gen_config_docs.py --write", file=sys.stderr)
            stale = 1
        elif args.write:
            doc.write_text(updated)
    return stale


if __name__ == "__main__":
    sys.exit(main())
