"""Key, value and header converters of one connector, applied in Kafka's stage order.

Sink side (``to_sink_record``): KEY_CONVERTER → VALUE_CONVERTER → HEADER_CONVERTER, as
Kafka's ``WorkerSinkTask.convertAndTransformRecord``. Source side (``serialize``):
HEADER_CONVERTER → KEY_CONVERTER → VALUE_CONVERTER, as ``WorkerSourceTask``. A failure
raises ``StageError`` naming the stage and the converter class, which is what the DLQ
context headers and the CLI report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from lambda_connect.api.converter import Converter, HeaderConverter
from lambda_connect.api.errors import ConfigException, RetriableException
from lambda_connect.api.records import EMPTY_HEADERS, ConnectRecord, Header, Headers, SinkRecord, SourceRecord

from ._plugins import class_name_of, instantiate, prefixed
from .connector_config import DEFAULT_HEADER_CONVERTER, default_converter
from .errors import ErrorPolicy, Stage, StageError
from .registry import Registry

__all__ = ["RecordConverters"]

RawHeaders = Sequence[tuple[str, bytes | None]]
T = TypeVar("T")


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

    def _failed(self, stage: Stage, class_name: str, error: Exception, retry: Callable[[], T]) -> T:
        """The slow path after a converter raised: retry a RetriableException within the
        policy's budget, otherwise (or once exhausted) raise the StageError."""
        if isinstance(error, RetriableException) and self.policy is not None:
            return self.policy.execute(retry, stage, class_name, first_failure=error)
        raise StageError(stage, class_name, error) from error

    # --- Kafka bytes -> Connect data --------------------------------------------------
    def _to_connect(
        self, topic: str, key: bytes | None, value: bytes | None, headers: RawHeaders
    ) -> tuple[Any, Any, Headers]:
        try:
            k = self.key.to_connect_data(topic, key)
        except Exception as e:
            k = self._failed(Stage.KEY_CONVERTER, self.key_class, e, lambda: self.key.to_connect_data(topic, key))
        try:
            v = self.value.to_connect_data(topic, value)
        except Exception as e:
            v = self._failed(Stage.VALUE_CONVERTER, self.value_class, e,
                             lambda: self.value.to_connect_data(topic, value))
        if not headers:
            return k, v, EMPTY_HEADERS
        try:
            return k, v, self._headers_to_connect(topic, headers)
        except Exception as e:
            hs = self._failed(Stage.HEADER_CONVERTER, self.header_class, e,
                              lambda: self._headers_to_connect(topic, headers))
            return k, v, hs

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
        k, v, hs = self._to_connect(topic, key, value, headers)
        return SinkRecord(topic, partition, k.schema, k.value, v.schema, v.value, offset, timestamp, timestamp_type, hs)

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
        k, v, hs = self._to_connect(topic, key, value, headers)
        return SourceRecord(
            source_partition, source_offset, topic, partition, k.schema, k.value, v.schema, v.value, timestamp, hs
        )

    # --- Connect data -> Kafka bytes --------------------------------------------------
    def serialize(self, record: ConnectRecord) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]:
        """Bytes to produce for ``record``, in Kafka's source order header → key → value."""
        topic = record.topic
        out_headers: list[tuple[str, bytes | None]] = []
        if record.headers:
            try:
                out_headers = self._headers_from_connect(topic, record)
            except Exception as e:
                out_headers = self._failed(Stage.HEADER_CONVERTER, self.header_class, e,
                                           lambda: self._headers_from_connect(topic, record))
        try:
            key = self.key.from_connect_data(topic, record.key_schema, record.key, record.headers)
        except Exception as e:
            key = self._failed(Stage.KEY_CONVERTER, self.key_class, e, lambda: self.key.from_connect_data(
                topic, record.key_schema, record.key, record.headers))
        try:
            value = self.value.from_connect_data(topic, record.value_schema, record.value, record.headers)
        except Exception as e:
            value = self._failed(Stage.VALUE_CONVERTER, self.value_class, e, lambda: self.value.from_connect_data(
                topic, record.value_schema, record.value, record.headers))
        return key, value, out_headers

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
