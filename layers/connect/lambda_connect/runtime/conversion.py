"""Key, value and header converters of one connector, applied in Kafka's stage order.

Sink side (``to_sink_record``; ``sink_reader()`` for a loop over consumed records):
KEY_CONVERTER → VALUE_CONVERTER → HEADER_CONVERTER, as Kafka's
``WorkerSinkTask.convertAndTransformRecord``. Source side (``serialize``):
HEADER_CONVERTER → KEY_CONVERTER → VALUE_CONVERTER, as ``WorkerSourceTask``. A failure
raises ``StageError`` naming the stage and the converter class, which is what the DLQ
context headers and the CLI report.

Direct paths. A converter may offer ``direct_reader()`` and ``direct_writer()``, each
returning ``(schema, function)`` or None: the reader maps message bytes (or None) to a
value that always has ``schema``; the writer maps a non-null value whose record schema *is*
``schema`` to bytes. Either function may raise for input it does not take; the converter's
own ``to_connect_data``/``from_connect_data`` then runs and handles or reports it. For
schemaless JSON this turns a conversion into one ``orjson`` call (see bench/README.md).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any, TypeVar

from lambda_connect.api.converter import Converter, HeaderConverter
from lambda_connect.api.errors import ConfigException, RetriableException
from lambda_connect.api.records import EMPTY_HEADERS, ConnectRecord, Header, Headers, SinkRecord, SourceRecord

from ._plugins import class_name_of, instantiate, prefixed
from .connector_config import DEFAULT_HEADER_CONVERTER, default_converter
from .dlq import RawRecord
from .errors import ErrorPolicy, Stage, StageError
from .registry import Registry

__all__ = ["READ_FAILED", "RecordConverters"]

RawHeaders = Sequence[tuple[str, bytes | None]]
T = TypeVar("T")
_Reader = tuple[Any, Callable[[bytes | None], Any]]
_Writer = tuple[Any, Callable[[Any], bytes | None]]
_new_sink_record = SinkRecord.__new__


#: ``to_sink_record``'s arguments in the shape ``sink_reader()`` reads (a ``RawRecord``).
_Consumed = namedtuple("_Consumed", "topic partition offset timestamp timestamp_type key value headers")


_key_of = attrgetter("key")
_value_of = attrgetter("value")
#: Records per column read of ``sink_columns`` (a few hundred maps stay in the CPU cache).
COLUMN_CHUNK = 256
#: A direct read that raised (``sink_columns``' marker; never a converter's answer).
READ_FAILED: Any = object()
#: Answers that may be shared by every record of a column (nothing can edit them in place).
_IMMUTABLE = frozenset({type(None), str, bytes, int, float, bool})


def _read_column(read: Callable[[bytes | None], Any], data: list[bytes | None]) -> list[Any]:
    """``read`` of every item, ``READ_FAILED`` where it raised. A column of nulls (most sink keys)
    is read once when the answer is immutable; otherwise one C-level ``map``, and only when that
    raises, a second pass that marks the items it raised for."""
    if data.count(None) == len(data) and data:
        try:
            answer = read(None)
        except Exception:
            return [READ_FAILED] * len(data)
        if type(answer) in _IMMUTABLE:
            return [answer] * len(data)
    try:
        return list(map(read, data))
    except Exception:
        pass
    out = []
    append = out.append
    for item in data:
        try:
            append(read(item))
        except Exception:
            append(READ_FAILED)
    return out


def _direct(converter: Any, hook: str) -> Any:
    offer = getattr(converter, hook, None)
    return offer() if callable(offer) else None


def _converter_name(props: Mapping[str, Any], key: str, default: str) -> str:
    value = props.get(key)
    if value is None or not str(value).strip():
        return default
    return str(value).strip()


class RecordConverters:
    """The three converters of a connector, built once per task."""

    def __init__(
        self, key: Converter, value: Converter, header: HeaderConverter, policy: ErrorPolicy | None = None
    ) -> None:
        self.policy = policy if policy is not None and policy.retry_timeout_ms != 0 else None
        self.key = key
        self.value = value
        self.header = header
        self.key_class = class_name_of(type(key))
        self.value_class = class_name_of(type(value))
        self.header_class = class_name_of(type(header))
        self._key_reader: _Reader | None = _direct(key, "direct_reader")
        self._value_reader: _Reader | None = _direct(value, "direct_reader")
        self._key_writer: _Writer | None = _direct(key, "direct_writer")
        self._value_writer: _Writer | None = _direct(value, "direct_writer")
        self._sink_read = self._build_sink_reader()

    @classmethod
    def from_config(
        cls, props: Mapping[str, Any], registry: Registry | None = None, policy: ErrorPolicy | None = None
    ) -> RecordConverters:
        """Build from ``key.converter``/``value.converter``/``header.converter`` and the keys
        under each as prefix; one ConfigException names every bad key. With a ``policy``
        that has a retry budget, a RetriableException from a converter is retried."""
        registry = registry or Registry.default()
        errors: dict[str, list[str]] = {}
        built: dict[str, Any] = {}
        specs = (
            ("key.converter", default_converter(True), "converter", True),
            ("value.converter", default_converter(False), "converter", False),
            ("header.converter", DEFAULT_HEADER_CONVERTER, "header_converter", None),
        )
        for key, default, kind, is_key in specs:
            name = _converter_name(props, key, default)
            try:
                try:
                    conv_cls = registry.resolve(name, {kind})
                except Exception as e:
                    raise ConfigException(errors={key: [f"Invalid value {name} for configuration {key}: {e}"]}) from e
                sub = prefixed(props, key + ".")
                if is_key is None:
                    built[key] = instantiate(conv_cls, sub, key + ".", lambda c, k=conv_cls: k(c))
                else:
                    built[key] = instantiate(
                        conv_cls, sub, key + ".", lambda c, k=conv_cls, ik=is_key: k(c, is_key=ik)
                    )
            except ConfigException as e:
                for k, msgs in e.errors.items():
                    errors.setdefault(k, []).extend(msgs)
        if errors:
            raise ConfigException(errors=errors)
        return cls(built["key.converter"], built["value.converter"], built["header.converter"], policy)

    # --- for the batch pipeline ----------------------------------------------------------
    def value_direct_paths(self) -> tuple[_Reader | None, _Writer | None]:
        """The value converter's direct reader and writer, ``(schema, fn)`` each, or None."""
        return self._value_reader, self._value_writer

    def key_identity_check(self) -> Callable[[bytes], bool] | None:
        """The key converter's test for key bytes that convert back to themselves
        (``Converter.identity_check``; a converter offering one also keeps null keys null),
        or None when it offers none."""
        check: Callable[[bytes], bool] | None = _direct(self.key, "identity_check")
        return check

    def key_roundtrip(self, topic: str, key: bytes | None) -> bytes | None:
        """Key bytes after reading and writing them with the key converter, as the
        per-record path does for a record whose key nothing changes; raises on failure."""
        sv = self.key.to_connect_data(topic, key)
        return self.key.from_connect_data(topic, sv.schema, sv.value, EMPTY_HEADERS)

    def _failed(self, stage: Stage, class_name: str, error: Exception, retry: Callable[[], T]) -> T:
        """The slow path after a converter raised: retry a RetriableException within the
        policy's budget, otherwise (or once exhausted) raise the StageError."""
        if isinstance(error, RetriableException) and self.policy is not None:
            return self.policy.execute(retry, stage, class_name, first_failure=error)
        raise StageError(stage, class_name, error) from error

    # --- Kafka bytes -> Connect data --------------------------------------------------
    def _to_connect(
        self, topic: str, key: bytes | None, value: bytes | None, headers: RawHeaders
    ) -> tuple[Any, Any, Any, Any, Headers]:
        """Key schema, key, value schema, value and headers, in Kafka's stage order."""
        reader = self._key_reader
        if reader is None:
            key_schema, k = self._read_key(topic, key)
        else:
            key_schema = reader[0]
            try:
                k = reader[1](key)
            except Exception:
                key_schema, k = self._read_key(topic, key)
        reader = self._value_reader
        if reader is None:
            value_schema, v = self._read_value(topic, value)
        else:
            value_schema = reader[0]
            try:
                v = reader[1](value)
            except Exception:
                value_schema, v = self._read_value(topic, value)
        if not headers:
            return key_schema, k, value_schema, v, EMPTY_HEADERS
        return key_schema, k, value_schema, v, self._read_headers(topic, headers)

    def _read_key(self, topic: str, key: bytes | None) -> tuple[Any, Any]:
        try:
            sv = self.key.to_connect_data(topic, key)
        except Exception as e:
            sv = self._failed(Stage.KEY_CONVERTER, self.key_class, e, lambda: self.key.to_connect_data(topic, key))
        return sv.schema, sv.value

    def _read_value(self, topic: str, value: bytes | None) -> tuple[Any, Any]:
        try:
            sv = self.value.to_connect_data(topic, value)
        except Exception as e:
            sv = self._failed(Stage.VALUE_CONVERTER, self.value_class, e,
                              lambda: self.value.to_connect_data(topic, value))
        return sv.schema, sv.value

    def _read_headers(self, topic: str, headers: RawHeaders) -> Headers:
        try:
            return self._headers_to_connect(topic, headers)
        except Exception as e:
            return self._failed(Stage.HEADER_CONVERTER, self.header_class, e,
                                lambda: self._headers_to_connect(topic, headers))

    def _headers_to_connect(self, topic: str, headers: RawHeaders) -> Headers:
        to_header = self.header.to_connect_header
        items = []
        for name, data in headers:
            sv = to_header(topic, name, data)
            items.append(Header(name, sv.value, sv.schema))
        return Headers(items)

    def to_sink_record(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int | None,
        timestamp_type: str,
        key: bytes | None,
        value: bytes | None,
        headers: RawHeaders,
    ) -> SinkRecord:
        """A consumed Kafka record as a SinkRecord; raises StageError for the failing stage."""
        return self._sink_read(_Consumed(topic, partition, offset, timestamp, timestamp_type, key, value, headers))

    def header_reader(self) -> Callable[[str, RawHeaders], Headers]:
        """``(topic, raw headers) → Headers`` as ``sink_reader()`` reads a record's non-empty
        headers (failures raise StageError, retriable ones retried within the policy)."""
        return self._read_headers

    def sink_reader(self) -> Callable[[RawRecord], SinkRecord]:
        """``to_sink_record`` as a one-argument function of a consumed record (anything with
        ``topic``, ``partition``, ``offset``, ``timestamp``, ``timestamp_type``, ``key``,
        ``value`` and ``headers``), for the sink worker's per-record loop."""
        return self._sink_read

    def sink_columns(self) -> Callable[[Sequence[RawRecord]], tuple[Any, Any, Iterator[tuple[Any, Any]]]] | None:
        """A function from a batch of consumed records to ``(key schema, value schema, pairs)``,
        ``pairs`` yielding each record's read key and value, in order: each converter's direct
        reader over a chunk's column of keys, then of values, by C-level ``map`` (the sink worker
        builds its SinkRecords from them in its own loop). None when a converter has no direct
        reader.

        Read a chunk (``COLUMN_CHUNK`` records) at a time, as the pairs are taken: a record's map
        is parsed shortly before the worker uses it (a transform's copy then lets it go while it
        is still in the CPU cache), and nothing is read past where the worker stops.

        An item is ``READ_FAILED`` where the direct read raised; the caller then reads that
        record with ``sink_reader()``, which goes the converter's own way and names the failing
        stage, so every outcome is the per-record one. Nothing here retries, sleeps, logs or
        raises for a record. The direct readers are functions of their bytes: for a column of
        nulls (most sink keys) the reader runs once and its answer is shared when immutable."""
        if self._key_reader is None or self._value_reader is None:
            return None
        key_schema, key_fn = self._key_reader
        value_schema, value_fn = self._value_reader

        def read_chunk(chunk: Sequence[RawRecord]) -> Iterator[tuple[Any, Any]]:
            return zip(_read_column(key_fn, list(map(_key_of, chunk))),
                       _read_column(value_fn, list(map(_value_of, chunk))))

        def read_columns(records: Sequence[RawRecord]) -> tuple[Any, Any, Iterator[tuple[Any, Any]]]:
            if len(records) <= COLUMN_CHUNK:
                return key_schema, value_schema, read_chunk(records)
            chunks = (records[i:i + COLUMN_CHUNK] for i in range(0, len(records), COLUMN_CHUNK))
            return key_schema, value_schema, chain.from_iterable(map(read_chunk, chunks))

        return read_columns

    def _build_sink_reader(self) -> Callable[[RawRecord], SinkRecord]:
        """Key, value, headers, then one SinkRecord with every slot stored directly (its
        ``__init__`` resolves defaults and header types already known here). A closure, built
        once: it runs once per consumed record, and binding the direct readers and slow paths
        here saves looking them up on ``self`` (and passing eight arguments) every time."""
        read_key, read_value, read_headers = self._read_key, self._read_value, self._read_headers
        no_fn: Callable[[bytes | None], Any] | None = None
        key_schema0, key_fn = self._key_reader or (None, no_fn)
        value_schema0, value_fn = self._value_reader or (None, no_fn)
        new = _new_sink_record

        def read(consumed: RawRecord) -> SinkRecord:
            topic, key, value = consumed.topic, consumed.key, consumed.value
            if key_fn is None:
                key_schema, k = read_key(topic, key)
            else:
                try:
                    k = key_fn(key)
                    key_schema = key_schema0
                except Exception:
                    key_schema, k = read_key(topic, key)
            if value_fn is None:
                value_schema, v = read_value(topic, value)
            else:
                try:
                    v = value_fn(value)
                    value_schema = value_schema0
                except Exception:
                    value_schema, v = read_value(topic, value)
            headers = consumed.headers
            record = new(SinkRecord)
            record.topic = record.original_topic = topic
            record.kafka_partition = record.original_kafka_partition = consumed.partition
            record.kafka_offset = record.original_kafka_offset = consumed.offset
            record.key_schema = key_schema
            record.key = k
            record.value_schema = value_schema
            record.value = v
            record.timestamp = consumed.timestamp
            record.timestamp_type = consumed.timestamp_type
            record.headers = read_headers(topic, headers) if headers else EMPTY_HEADERS
            return record

        return read

    def to_source_record(
        self,
        topic: str,
        partition: int | None,
        timestamp: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: RawHeaders,
        source_partition: Mapping[str, Any] | None = None,
        source_offset: Mapping[str, Any] | None = None,
    ) -> SourceRecord:
        """Connect data for a record a source task would emit, read from its serialized
        form — how ``lambda-connect transform`` replays source-side records."""
        key_schema, k, value_schema, v, hs = self._to_connect(topic, key, value, headers)
        return SourceRecord(source_partition, source_offset, topic, partition, key_schema, k, value_schema, v,
                            timestamp, hs)

    # --- Connect data -> Kafka bytes --------------------------------------------------
    def serialize(self, record: ConnectRecord) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]:
        """Bytes to produce for ``record``, in Kafka's source order header → key → value."""
        headers = record.headers
        # ``is EMPTY_HEADERS`` first: Headers.__bool__ is a Python call, and most records have none.
        out_headers: list[tuple[str, bytes | None]] = (
            [] if headers is EMPTY_HEADERS or not headers else self._write_headers(record)
        )
        writer, k = self._key_writer, record.key
        if writer is None or k is None or record.key_schema is not writer[0]:
            key = self._write_key(record)
        else:
            try:
                key = writer[1](k)
            except Exception:
                key = self._write_key(record)
        writer, v = self._value_writer, record.value
        if writer is None or v is None or record.value_schema is not writer[0]:
            value = self._write_value(record)
        else:
            try:
                value = writer[1](v)
            except Exception:
                value = self._write_value(record)
        return key, value, out_headers

    def _write_headers(self, record: ConnectRecord) -> list[tuple[str, bytes | None]]:
        try:
            return self._headers_from_connect(record.topic, record)
        except Exception as e:
            return self._failed(Stage.HEADER_CONVERTER, self.header_class, e,
                                lambda: self._headers_from_connect(record.topic, record))

    def _write_key(self, record: ConnectRecord) -> bytes | None:
        try:
            return self.key.from_connect_data(record.topic, record.key_schema, record.key, record.headers)
        except Exception as e:
            return self._failed(Stage.KEY_CONVERTER, self.key_class, e, lambda: self.key.from_connect_data(
                record.topic, record.key_schema, record.key, record.headers))

    def _write_value(self, record: ConnectRecord) -> bytes | None:
        try:
            return self.value.from_connect_data(record.topic, record.value_schema, record.value, record.headers)
        except Exception as e:
            return self._failed(Stage.VALUE_CONVERTER, self.value_class, e, lambda: self.value.from_connect_data(
                record.topic, record.value_schema, record.value, record.headers))

    def _headers_from_connect(self, topic: str, record: ConnectRecord) -> list[tuple[str, bytes | None]]:
        from_header = self.header.from_connect_header
        return [(h.key, from_header(topic, h.key, h.schema, h.value)) for h in record.headers]

    def close(self) -> None:
        for c in (self.key, self.value, self.header):
            try:
                c.close()
            except Exception:  # best effort, as Kafka's closeQuietly
                import logging

                logging.getLogger(__name__).warning("Failed to close %s", type(c).__name__, exc_info=True)
