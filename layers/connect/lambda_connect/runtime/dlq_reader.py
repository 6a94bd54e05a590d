"""Dead-lettered records read back: ``__connect.errors.*`` headers turned into entries people can
scan, filter and replay.

``runtime.dlq`` writes a failed record to the DLQ topic exactly as it was consumed and, with
``errors.deadletterqueue.context.headers.enable=true``, adds where it came from and why it
failed. This module is the reverse: a :class:`DlqEntry` per DLQ message, with the original
coordinates, the failing stage and exception, the key and a short preview of the value. No
Kafka client here: the messages come from whatever reads the topic (``aws.dlq_topic``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_connect.api.errors import ConfigException

from .dlq import HEADER_PREFIX

__all__ = [
    "ENTRY_KEYS",
    "FILTER_FIELDS",
    "DlqEntry",
    "DlqMessage",
    "entry_of",
    "parse_filters",
    "preview",
    "text_of",
]

#: The keys of one listed entry, in the order the CLI's ``--output json`` and the REST API use.
ENTRY_KEYS = ("topic", "partition", "offset", "stage", "error_class", "message", "key", "value",
              "dlq_partition", "dlq_offset")
#: Fields a filter may name (``FIELD=VALUE`` exact, ``FIELD~TEXT`` substring).
FILTER_FIELDS = ("topic", "partition", "offset", "stage", "error_class", "message", "key", "value")
PREVIEW_CHARS = 120


@dataclass(frozen=True)
class DlqMessage:
    """One message of a DLQ topic as a reader fetched it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()
    timestamp: int | None = None


def text_of(raw: bytes | None) -> str | None:
    """Bytes shown to a person: UTF-8 when they are, else ``base64:...`` (never a crash on binary data)."""
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


def preview(text: str | None, limit: int = PREVIEW_CHARS) -> str:
    """A value shortened for one table cell (newlines flattened)."""
    if text is None:
        return "null"
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class DlqEntry:
    """A DLQ message with its error context decoded. ``topic``/``partition``/``offset`` are the
    original record's (None when the connector wrote no context headers)."""

    message: DlqMessage
    topic: str | None
    partition: int | None
    offset: int | None
    stage: str | None
    error_class: str | None
    error_message: str | None
    context: dict[str, str | None] = field(default_factory=dict)

    @property
    def original_headers(self) -> list[tuple[str, bytes | None]]:
        """The record's own headers: everything but the ``__connect.errors.*`` context."""
        return [(k, v) for k, v in self.message.headers if not k.startswith(HEADER_PREFIX)]

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic, "partition": self.partition, "offset": self.offset, "stage": self.stage,
            "error_class": self.error_class, "message": self.error_message, "key": text_of(self.message.key),
            "value": text_of(self.message.value),
            "dlq_partition": self.message.partition, "dlq_offset": self.message.offset,
        }

    def field_text(self, name: str) -> str:
        """The text a filter compares for ``name`` (empty when absent)."""
        if name == "message":
            value: Any = self.error_message
        elif name == "key":
            value = text_of(self.message.key)
        elif name == "value":
            value = text_of(self.message.value)
        else:
            value = getattr(self, name)
        return "" if value is None else str(value)


def entry_of(message: DlqMessage) -> DlqEntry:
    """Decode the context headers of one DLQ message (the last value of a repeated header wins)."""
    context: dict[str, str | None] = {}
    for key, raw in message.headers:
        if key.startswith(HEADER_PREFIX):
            context[key[len(HEADER_PREFIX):]] = text_of(raw)
    return DlqEntry(
        message=message,
        topic=context.get("topic"),
        partition=_int(context.get("partition")),
        offset=_int(context.get("offset")),
        stage=context.get("stage"),
        error_class=context.get("exception.class.name"),
        error_message=context.get("exception.message"),
        context=context,
    )


Predicate = Callable[[DlqEntry], bool]


def _one_filter(spec: str) -> Predicate:
    for op in ("=", "~"):
        name, sep, wanted = spec.partition(op)
        if sep and name.strip() in FILTER_FIELDS and "=" not in name and "~" not in name:
            name = name.strip()
            if op == "=":
                return lambda e: e.field_text(name) == wanted
            lowered = wanted.lower()
            return lambda e: lowered in e.field_text(name).lower()
    raise ConfigException.for_key(
        "filter", spec,
        f"expected FIELD=VALUE (exact) or FIELD~TEXT (substring), FIELD one of {', '.join(FILTER_FIELDS)}",
    )


def parse_filters(specs: Iterable[str]) -> Predicate:
    """Filters combined with AND; none matches every entry. A bad filter is a ConfigException naming it."""
    predicates = [_one_filter(s) for s in specs if s is not None and s != ""]
    return lambda entry: all(p(entry) for p in predicates)
