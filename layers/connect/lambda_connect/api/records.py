"""Records as they travel between Kafka, converters, transforms and connectors.

Records are values: a transform returns a new record (``record.new_record(...)``) and never
mutates the one it was given, so the runtime can keep the original for the DLQ. ``Headers``
is an immutable, ordered sequence that keeps duplicate names, as Kafka headers do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .data import Schema

__all__ = ["ConnectRecord", "Header", "Headers", "SinkRecord", "SourceRecord"]

_UNSET: Any = object()


class Header:
    """One header: a name, a Connect value and its schema (None when schemaless)."""

    __slots__ = ("key", "schema", "value")

    def __init__(self, key: str, value: Any, schema: Schema | None = None) -> None:
        self.key = key
        self.value = value
        self.schema = schema

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Header)
            and self.key == other.key
            and self.value == other.value
            and self.schema == other.schema
        )

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Header({self.key!r}, {self.value!r})"


class Headers:
    """Ordered, immutable header list; every change returns a new ``Headers``."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Header] = ()) -> None:
        self._items: tuple[Header, ...] = tuple(items)

    def __iter__(self) -> Iterator[Header]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"

    def all_with_name(self, key: str) -> list[Header]:
        return [h for h in self._items if h.key == key]

    def last_with_name(self, key: str) -> Header | None:
        for h in reversed(self._items):
            if h.key == key:
                return h
        return None

    def has(self, key: str) -> bool:
        return any(h.key == key for h in self._items)

    def add(self, key: str, value: Any, schema: Schema | None = None) -> Headers:
        """A copy with one header appended (existing ones with the same name stay)."""
        return Headers((*self._items, Header(key, value, schema)))

    def extend(self, headers: Iterable[Header]) -> Headers:
        return Headers((*self._items, *headers))

    def remove(self, *keys: str) -> Headers:
        """A copy without every header whose name is in ``keys``."""
        drop = set(keys)
        return Headers(h for h in self._items if h.key not in drop)


EMPTY_HEADERS = Headers()


class ConnectRecord:
    """Fields shared by sink and source records (Kafka's ``ConnectRecord``)."""

    __slots__ = (
        "headers",
        "kafka_partition",
        "key",
        "key_schema",
        "timestamp",
        "topic",
        "value",
        "value_schema",
    )

    def __init__(
        self,
        topic: str,
        kafka_partition: int | None,
        key_schema: Schema | None,
        key: Any,
        value_schema: Schema | None,
        value: Any,
        timestamp: int | None = None,
        headers: Headers | Iterable[Header] | None = None,
    ) -> None:
        self.topic = topic
        self.kafka_partition = kafka_partition
        self.key_schema = key_schema
        self.key = key
        self.value_schema = value_schema
        self.value = value
        self.timestamp = timestamp
        self.headers = headers if isinstance(headers, Headers) else (Headers(headers) if headers else EMPTY_HEADERS)

    def new_record(
        self,
        *,
        topic: str = _UNSET,
        kafka_partition: int | None = _UNSET,
        key_schema: Schema | None = _UNSET,
        key: Any = _UNSET,
        value_schema: Schema | None = _UNSET,
        value: Any = _UNSET,
        timestamp: int | None = _UNSET,
        headers: Headers = _UNSET,
    ) -> Any:
        """A copy with the given fields replaced, keeping the subclass's own fields.

        This is the only way transforms should derive records; it is on the hot path, so
        it copies slots directly instead of going through ``__init__``.
        """
        new = self._blank_copy()
        new.topic = self.topic if topic is _UNSET else topic
        new.kafka_partition = self.kafka_partition if kafka_partition is _UNSET else kafka_partition
        new.key_schema = self.key_schema if key_schema is _UNSET else key_schema
        new.key = self.key if key is _UNSET else key
        new.value_schema = self.value_schema if value_schema is _UNSET else value_schema
        new.value = self.value if value is _UNSET else value
        new.timestamp = self.timestamp if timestamp is _UNSET else timestamp
        new.headers = self.headers if headers is _UNSET else headers
        return new

    def _blank_copy(self) -> Any:
        """A new instance carrying this record's subclass-specific fields; the common ones
        are filled in by ``new_record``. Explicit per class because it is on the hot path."""
        return type(self).__new__(type(self))

    def with_value(self, value_schema: Schema | None, value: Any) -> Any:
        """Fast path for the most common derivation: only the value side changes."""
        return self.new_record(value_schema=value_schema, value=value)

    def with_key(self, key_schema: Schema | None, key: Any) -> Any:
        return self.new_record(key_schema=key_schema, key=key)

    def _fields(self) -> dict[str, Any]:
        return {s: getattr(self, s) for s in type(self)._all_slots}  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields().items())
        return f"{type(self).__name__}({inner})"


ConnectRecord._all_slots = ConnectRecord.__slots__  # type: ignore[attr-defined]


class SinkRecord(ConnectRecord):
    """A record read from Kafka, on its way to a sink connector.

    ``original_*`` keep the coordinates the record was consumed from even after a transform
    rewrites ``topic``/``kafka_partition``, so offsets are always committed where they belong.
    """

    __slots__ = (
        "kafka_offset",
        "original_kafka_offset",
        "original_kafka_partition",
        "original_topic",
        "timestamp_type",
    )

    def __init__(
        self,
        topic: str,
        kafka_partition: int,
        key_schema: Schema | None,
        key: Any,
        value_schema: Schema | None,
        value: Any,
        kafka_offset: int,
        timestamp: int | None = None,
        timestamp_type: str = "CREATE_TIME",
        headers: Headers | Iterable[Header] | None = None,
        *,
        original_topic: str | None = None,
        original_kafka_partition: int | None = None,
        original_kafka_offset: int | None = None,
    ) -> None:
        super().__init__(topic, kafka_partition, key_schema, key, value_schema, value, timestamp, headers)
        self.kafka_offset = kafka_offset
        self.timestamp_type = timestamp_type
        self.original_topic = original_topic if original_topic is not None else topic
        self.original_kafka_partition = (
            original_kafka_partition if original_kafka_partition is not None else kafka_partition
        )
        self.original_kafka_offset = original_kafka_offset if original_kafka_offset is not None else kafka_offset

    def _blank_copy(self) -> SinkRecord:
        new = SinkRecord.__new__(SinkRecord)
        new.kafka_offset = self.kafka_offset
        new.timestamp_type = self.timestamp_type
        new.original_topic = self.original_topic
        new.original_kafka_partition = self.original_kafka_partition
        new.original_kafka_offset = self.original_kafka_offset
        return new


SinkRecord._all_slots = ConnectRecord.__slots__ + SinkRecord.__slots__  # type: ignore[attr-defined]


class SourceRecord(ConnectRecord):
    """A record produced by a source task.

    ``source_partition`` names where in the external system the record came from (a table,
    a file) and ``source_offset`` how far that partition has been read; the runtime commits
    the offset once Kafka has acknowledged the record and every record before it.
    """

    __slots__ = ("source_offset", "source_partition")

    def __init__(
        self,
        source_partition: Mapping[str, Any] | None,
        source_offset: Mapping[str, Any] | None,
        topic: str,
        kafka_partition: int | None = None,
        key_schema: Schema | None = None,
        key: Any = None,
        value_schema: Schema | None = None,
        value: Any = None,
        timestamp: int | None = None,
        headers: Headers | Iterable[Header] | None = None,
    ) -> None:
        super().__init__(topic, kafka_partition, key_schema, key, value_schema, value, timestamp, headers)
        self.source_partition = dict(source_partition) if source_partition is not None else None
        self.source_offset = dict(source_offset) if source_offset is not None else None

    def _blank_copy(self) -> SourceRecord:
        new = SourceRecord.__new__(SourceRecord)
        new.source_partition = self.source_partition
        new.source_offset = self.source_offset
        return new


SourceRecord._all_slots = ConnectRecord.__slots__ + SourceRecord.__slots__  # type: ignore[attr-defined]
