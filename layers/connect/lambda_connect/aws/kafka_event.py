"""Read-only views over the event Lambda sends for MSK and self-managed Kafka sources.

The event (see reference ``aws-serverless.md`` §1) carries records base64-encoded and grouped
under ``"<topic>-<partition>"`` keys. The views here decode lazily and explicitly, and fix the
pitfalls of the Powertools helpers that matter for Kafka Connect fidelity: tombstones
(``value`` null or missing) are ``None`` rather than an error, binary values stay bytes,
and headers keep their order, duplicates and case. Header bytes may arrive signed (Java
bytes) and are masked with ``& 0xFF``.

``build_kafka_event`` is the inverse: it renders records into the exact shape Lambda sends,
so the local event source mapping emulator and ``lambda-connect events generate`` feed the
handlers the same payload AWS would.

Nothing here mutates the event it was given.

The event is checked as strictly as Kafka itself would have it, because everything
downstream (target tables, stored high-water marks, ``batchItemFailures``) trusts these
fields: a partition is an int32 and an offset an int64, neither negative; a record must be
filed under the ``"<topic>-<partition>"`` key of its own topic and partition (``orders-00``
is read as ``orders-0``); a header value is a list of bytes. The sink's fast decoding path
(``aws.sink_handler``) applies the very same checks through the helpers below.
"""

from __future__ import annotations

import base64
import binascii
import logging
from binascii import a2b_base64
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from itertools import groupby
from types import MappingProxyType
from typing import Any, NamedTuple

__all__ = [
    "KAFKA_EVENT_SOURCES",
    "LOCAL_CLUSTER_ARN",
    "MAX_OFFSET",
    "MAX_PARTITION",
    "MAX_TIMESTAMP",
    "KafkaEvent",
    "KafkaEventRecord",
    "KafkaRecordTuple",
    "MalformedEventError",
    "build_kafka_event",
    "decode_header_value",
    "kafka_event_json",
    "parse_slot",
]

log = logging.getLogger(__name__)

MSK_SOURCE = "aws:kafka"
SELF_MANAGED_SOURCE = "SelfManagedKafka"
#: Every ``eventSource`` a Kafka event may carry; the legacy spelling appears in older fixtures.
KAFKA_EVENT_SOURCES = frozenset({MSK_SOURCE, SELF_MANAGED_SOURCE, "aws:SelfManagedKafka"})
#: ``eventSourceArn`` used for locally built MSK events when the caller names no cluster.
LOCAL_CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:000000000000:cluster/lambda-connect-local/00000000-0000-0000-0000-000000000000-1"
)
#: Kafka's ``TimestampType.NO_TIMESTAMP_TYPE`` name, used when a record carries no timestamp.
NO_TIMESTAMP_TYPE = "NO_TIMESTAMP_TYPE"
#: Kafka partitions are int32 and offsets int64; a record never carries a negative one.
MAX_PARTITION = 2**31 - 1
MAX_OFFSET = 2**63 - 1
#: Timestamps are int64 epoch milliseconds; -1 is Kafka's "no timestamp".
MAX_TIMESTAMP = 2**63 - 1
_INTS_ONLY = frozenset({int})


def parse_slot(slot: object) -> tuple[str, int] | None:
    """``(topic, partition)`` of a ``"<topic>-<partition>"`` records key, or None when it is not one.

    Topic names may contain dashes, so the partition is what follows the last one; it is read
    as a number (``orders-00`` is partition 0 of ``orders``), ASCII digits only, within int32.
    """
    if type(slot) is not str:
        return None
    topic, _, digits = slot.rpartition("-")
    if not topic or not digits.isascii() or not digits.isdigit():
        return None
    partition = int(digits)
    return (topic, partition) if partition <= MAX_PARTITION else None


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def decode_header_value(raw: object) -> bytes:
    """A header value sent as a list of byte values; Java's signed bytes (-128..-1) are masked.

    Raises ValueError (the message says what is wrong) for anything else, so an integer never
    becomes a buffer of that many zero bytes and a string is never read as bytes.
    """
    if type(raw) is not list:
        raise ValueError(f"value must be a list of bytes, got {_short(raw)}")
    try:
        data = bytes(raw)  # ints 0..255 (and booleans, refused just below)
    except (ValueError, TypeError):  # outside 0..255 (Java's signed bytes?) or not numbers at all
        data = None
    if not _INTS_ONLY.issuperset(map(type, raw)):
        bad = next(b for b in raw if type(b) is not int)
        raise ValueError(f"holds {_short(bad)}, which is not a byte (-128..255)")
    if data is None:
        bad = next((b for b in raw if not -128 <= b <= 255), None)
        if bad is not None:
            raise ValueError(f"holds {_short(bad)}, which is not a byte (-128..255)")
        data = bytes(b & 0xFF for b in raw)
    return data


class MalformedEventError(ValueError):
    """The event does not have the shape Lambda sends; names the record and field at fault."""

    def __init__(self, message: str, *, field: str, record: str | None = None) -> None:
        self.field = field
        self.record = record
        where = f"record {record}: " if record else ""
        super().__init__(f"Malformed Kafka event: {where}field '{field}' {message}")


class KafkaRecordTuple(NamedTuple):
    """One record to render with ``build_kafka_event`` (bytes in, as a Kafka client sees it)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class KafkaEventRecord:
    """One Kafka record of a Lambda Kafka event."""

    def __init__(self, data: Mapping[str, Any], *, slot: str = "?") -> None:
        if not isinstance(data, Mapping):
            raise MalformedEventError("must be an object", field="records", record=slot)
        self._data = data
        # The "<topic>-<partition>" key the record was listed under: the only label left
        # when the record's own topic/partition/offset fields are missing.
        self._slot = slot
        # Validate identity eagerly: grouping, ordering and every error message need it.
        _ = self.topic, self.partition, self.offset
        if slot != "?":
            self._check_slot()

    def _check_slot(self) -> None:
        """The record must be filed under the key of its own topic and partition."""
        coordinates = parse_slot(self._slot)
        if coordinates is None:
            raise MalformedEventError(f"key {_short(self._slot)} is not '<topic>-<partition>'", field="records",
                                      record=self.label)
        topic, partition = coordinates
        if self.topic != topic:
            raise MalformedEventError(f"is {self.topic!r} but the record is filed under key {self._slot!r}",
                                      field="topic", record=self.label)
        if self.partition != partition:
            raise MalformedEventError(f"is {self.partition} but the record is filed under key {self._slot!r}",
                                      field="partition", record=self.label)

    def _require_int(self, name: str, maximum: int) -> int:
        value = self._data.get(name)
        if value is None:
            raise MalformedEventError("is missing", field=name, record=self._label_so_far())
        if not _is_int(value):
            raise MalformedEventError(f"must be an integer, got {_short(value)}", field=name,
                                      record=self._label_so_far())
        if not 0 <= value <= maximum:
            raise MalformedEventError(f"must be between 0 and {maximum}, got {value}", field=name,
                                      record=self._label_so_far())
        return value

    def _label_so_far(self) -> str:
        topic = self._data.get("topic")
        partition = self._data.get("partition")
        offset = self._data.get("offset")
        if isinstance(topic, str) and topic and _is_int(partition):
            head = f"{topic}-{partition}"
        else:
            head = self._slot
        return f"{head}@{offset if _is_int(offset) else '?'}"

    @cached_property
    def topic(self) -> str:
        """Topic the record was read from."""
        topic = self._data.get("topic")
        if not isinstance(topic, str) or not topic:
            problem = "is missing" if topic is None else f"must be a non-empty string, got {_short(topic)}"
            raise MalformedEventError(problem, field="topic", record=self._label_so_far())
        return topic

    @cached_property
    def partition(self) -> int:
        """Partition the record was read from."""
        return self._require_int("partition", MAX_PARTITION)

    @cached_property
    def offset(self) -> int:
        """Offset of the record within its partition."""
        return self._require_int("offset", MAX_OFFSET)

    @property
    def label(self) -> str:
        """``<topic>-<partition>@<offset>``: how errors and logs name this record."""
        return f"{self.topic}-{self.partition}@{self.offset}"

    @property
    def topic_partition(self) -> tuple[str, int]:
        """``(topic, partition)`` of the record."""
        return self.topic, self.partition

    @property
    def timestamp(self) -> int | None:
        """Epoch milliseconds, or None when the record carries no timestamp."""
        value = self._data.get("timestamp")
        if value is None:
            return None
        if not _is_int(value):
            raise MalformedEventError(f"must be an integer, got {_short(value)}", field="timestamp",
                                      record=self.label)
        if not -1 <= value <= MAX_TIMESTAMP:
            raise MalformedEventError(f"must be -1 (none) or between 0 and {MAX_TIMESTAMP}, got {value}",
                                      field="timestamp", record=self.label)
        return value

    @property
    def timestamp_type(self) -> str:
        """``CREATE_TIME`` or ``LOG_APPEND_TIME`` (``NO_TIMESTAMP_TYPE`` when absent)."""
        value = self._data.get("timestampType")
        return value if isinstance(value, str) and value else NO_TIMESTAMP_TYPE

    @property
    def raw_key(self) -> str | None:
        """Key as sent by Lambda: a base64 string, or None when the record has no key."""
        return self._raw_base64("key")

    @property
    def raw_value(self) -> str | None:
        """Value as sent by Lambda: a base64 string, or None for a tombstone."""
        return self._raw_base64("value")

    @cached_property
    def key(self) -> bytes | None:
        """Decoded key bytes; None when the key field is missing or null."""
        return self._decode("key")

    @cached_property
    def value(self) -> bytes | None:
        """Decoded value bytes; None for a tombstone (value missing or null)."""
        return self._decode("value")

    @property
    def is_tombstone(self) -> bool:
        """True when the record has no value (a delete marker for compacted topics)."""
        return self.raw_value is None

    @property
    def raw_headers(self) -> Sequence[Mapping[str, Any]]:
        """Headers as sent: a list of single-entry ``{name: [byte, ...]}`` objects."""
        headers = self._data.get("headers")
        if headers is None:
            return ()
        if not isinstance(headers, list):
            problem = f"must be a list, got {type(headers).__name__}"
            raise MalformedEventError(problem, field="headers", record=self.label)
        return headers

    @cached_property
    def headers(self) -> list[tuple[str, bytes | None]]:
        """Decoded headers in order, duplicates and case kept; a null header value stays None."""
        decoded: list[tuple[str, bytes | None]] = []
        for index, entry in enumerate(self.raw_headers):
            field = f"headers[{index}]"
            if not isinstance(entry, Mapping) or len(entry) != 1:
                raise MalformedEventError("must be an object with exactly one entry", field=field, record=self.label)
            ((name, raw),) = entry.items()
            if not isinstance(name, str):
                raise MalformedEventError(f"name must be a string, got {_short(name)}", field=field, record=self.label)
            if raw is None:
                decoded.append((name, None))
                continue
            try:
                decoded.append((name, decode_header_value(raw)))
            except ValueError as e:
                raise MalformedEventError(str(e), field=field, record=self.label) from None
        return decoded

    @property
    def key_schema_metadata(self) -> Mapping[str, Any] | None:
        """``{"dataFormat", "schemaId"}`` when the ESM has a schema registry configured."""
        return self._metadata("keySchemaMetadata")

    @property
    def value_schema_metadata(self) -> Mapping[str, Any] | None:
        """``{"dataFormat", "schemaId"}`` when the ESM has a schema registry configured."""
        return self._metadata("valueSchemaMetadata")

    @property
    def item_identifier(self) -> dict[str, Any]:
        """This record in the ``batchItemFailures[].itemIdentifier`` shape Lambda expects."""
        return {"partition": f"{self.topic}-{self.partition}", "offset": self.offset}

    @property
    def raw_record(self) -> Mapping[str, Any]:
        """The record object exactly as it appeared in the event (do not modify)."""
        return self._data

    def to_tuple(self) -> KafkaRecordTuple:
        """Fully decode the record (raising on any malformed field) into ``build_kafka_event``'s input."""
        return KafkaRecordTuple(
            self.topic,
            self.partition,
            self.offset,
            self.timestamp if self.timestamp is not None else -1,
            self.timestamp_type,
            self.key,
            self.value,
            self.headers,
        )

    def _raw_base64(self, name: str) -> str | None:
        raw = self._data.get(name)
        if raw is None or isinstance(raw, str):
            return raw
        problem = f"must be a base64 string or null, got {type(raw).__name__}"
        raise MalformedEventError(problem, field=name, record=self.label)

    def _decode(self, name: str) -> bytes | None:
        raw = self._raw_base64(name)
        if raw is None:
            return None
        try:
            return a2b_base64(raw, strict_mode=True)
        except (binascii.Error, ValueError) as e:
            raise MalformedEventError(f"is not valid base64 ({e})", field=name, record=self.label) from None

    def _metadata(self, name: str) -> Mapping[str, Any] | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise MalformedEventError("must be an object", field=name, record=self.label)
        return MappingProxyType(dict(value))

    def __repr__(self) -> str:
        return f"KafkaEventRecord({self.label})"


def _decodes(record: KafkaEventRecord) -> bool:
    try:
        record.to_tuple()
    except MalformedEventError:
        return False
    return True


class KafkaEvent:
    """The whole event of one MSK or self-managed Kafka invocation."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        if not isinstance(event, Mapping):
            raise MalformedEventError(f"must be an object, got {type(event).__name__}", field="event")
        self._event = event
        source = event.get("eventSource")
        if source not in KAFKA_EVENT_SOURCES:
            expected = ", ".join(sorted(KAFKA_EVENT_SOURCES))
            raise MalformedEventError(f"is {source!r}, expected one of {expected}", field="eventSource")

    @property
    def raw_event(self) -> Mapping[str, Any]:
        """The event exactly as received (do not modify)."""
        return self._event

    @property
    def event_source(self) -> str:
        """``aws:kafka`` for MSK, ``SelfManagedKafka`` (or legacy ``aws:SelfManagedKafka``) otherwise."""
        return self._event["eventSource"]

    @property
    def is_msk(self) -> bool:
        """True for an Amazon MSK event, False for self-managed Kafka."""
        return self.event_source == MSK_SOURCE

    @property
    def event_source_arn(self) -> str | None:
        """MSK cluster ARN; None for self-managed Kafka."""
        return self._event.get("eventSourceArn")

    @cached_property
    def bootstrap_servers(self) -> list[str]:
        """The cluster's ``host:port`` bootstrap list (Lambda sends one comma-separated string)."""
        raw = self._event.get("bootstrapServers")
        if raw is None:
            return []
        if not isinstance(raw, str):
            raise MalformedEventError(f"must be a string, got {type(raw).__name__}", field="bootstrapServers")
        return [server.strip() for server in raw.split(",") if server.strip()]

    @cached_property
    def records(self) -> tuple[KafkaEventRecord, ...]:
        """Every record, grouped by topic-partition (first-seen order) and in offset order inside a group.

        A record listed twice (the same coordinates, under one key or under two spellings of
        it) is kept once: the first occurrence in event order. A copy that cannot be decoded
        is kept too, so that reading it raises, as the sink's decoding refuses it."""
        groups: dict[tuple[str, int], list[KafkaEventRecord]] = {}
        for record in self._iter_raw():
            groups.setdefault(record.topic_partition, []).append(record)
        ordered: list[KafkaEventRecord] = []
        for group in groups.values():
            for _, copies in groupby(sorted(group, key=lambda r: r.offset), key=lambda r: r.offset):
                first, *others = copies
                if not others:  # the usual case: nothing is decoded before it is read
                    ordered.append(first)
                    continue
                good = False
                for record in (first, *others):
                    if not _decodes(record):
                        ordered.append(record)
                    elif not good:
                        ordered.append(record)
                        good = True
        return tuple(ordered)

    def partitions(self) -> list[tuple[str, int]]:
        """The ``(topic, partition)`` pairs present in the event, in the order of ``records``."""
        return list(dict.fromkeys(record.topic_partition for record in self.records))

    def __iter__(self) -> Iterator[KafkaEventRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def _iter_raw(self) -> Iterator[KafkaEventRecord]:
        groups = self._event.get("records")
        if groups is None:
            raise MalformedEventError("is missing", field="records")
        if not isinstance(groups, Mapping):
            raise MalformedEventError(f"must be an object, got {type(groups).__name__}", field="records")
        for slot, records in groups.items():
            if not isinstance(records, list):
                raise MalformedEventError("must be a list", field=f"records[{slot!r}]")
            for data in records:
                yield KafkaEventRecord(data, slot=slot)

    def __repr__(self) -> str:
        return f"KafkaEvent({self.event_source}, {len(self.records)} records)"


def build_kafka_event(
    records: Iterable[KafkaRecordTuple | tuple[Any, ...]],
    *,
    source: str = MSK_SOURCE,
    bootstrap_servers: str | Sequence[str] = "127.0.0.1:9092",
    cluster_arn: str | None = None,
) -> dict[str, Any]:
    """Render records in the exact shape Lambda sends for an MSK or self-managed Kafka batch.

    Records are listed under ``"<topic>-<partition>"`` in the order given (Lambda sends each
    partition in offset order); a ``None`` key leaves the ``key`` field out, a ``None`` value
    becomes ``"value": null`` (a tombstone) and header bytes become lists of unsigned ints.
    MSK events carry ``eventSourceArn`` (``cluster_arn`` or a local placeholder); self-managed
    events have none.
    """
    if source not in KAFKA_EVENT_SOURCES:
        raise ValueError(f"source must be one of {', '.join(sorted(KAFKA_EVENT_SOURCES))}, got {source!r}")
    if source != MSK_SOURCE and cluster_arn is not None:
        raise ValueError("cluster_arn is only sent for MSK events (source 'aws:kafka')")
    servers = bootstrap_servers if isinstance(bootstrap_servers, str) else ",".join(bootstrap_servers)

    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in records:
        topic, partition, offset, timestamp, timestamp_type, key, value, headers = item
        rendered: dict[str, Any] = {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp": timestamp,
            "timestampType": timestamp_type,
        }
        if key is not None:
            rendered["key"] = base64.b64encode(key).decode("ascii")
        rendered["value"] = None if value is None else base64.b64encode(value).decode("ascii")
        rendered["headers"] = [{name: None if data is None else list(data)} for name, data in headers]
        grouped.setdefault(f"{topic}-{partition}", []).append(rendered)

    event: dict[str, Any] = {"eventSource": source}
    if source == MSK_SOURCE:
        event["eventSourceArn"] = cluster_arn or LOCAL_CLUSTER_ARN
    event["bootstrapServers"] = servers
    event["records"] = grouped
    return event


#: The range of integers orjson writes (int64 and uint64); outside it, it raises.
try:  # optional: built at install (pyproject ext-modules); this module's Python loop is the fallback
    from ._event_render import render_records as _native_render
except ImportError:  # pragma: no cover - no C compiler at install time
    _native_render = None


def native_render_enabled() -> bool:
    """``LAMBDA_CONNECT_NATIVE_PLANS=off`` turns the project's native code off, this renderer included."""
    import os

    from lambda_connect.api.plans import NATIVE_SWITCH

    return os.environ.get(NATIVE_SWITCH, "on").strip().lower() not in ("off", "false", "0", "no")


_JSON_INT_MIN = -(2**63)
_JSON_INT_MAX = 2**64 - 1


def kafka_event_json(
    records: Iterable[KafkaRecordTuple | tuple[Any, ...]],
    *,
    source: str = MSK_SOURCE,
    bootstrap_servers: str | Sequence[str] = "127.0.0.1:9092",
    cluster_arn: str | None = None,
) -> bytes:
    """``orjson.dumps(build_kafka_event(records, ...))``, byte for byte, without building the event.

    This is the payload as it crosses the invoke boundary; the local event source mapping sends
    it through ``orjson.loads``, as the Lambda runtime parses the payload before the handler
    sees it. Writing the JSON text directly skips a dict, a base64 ``str`` and a header list per
    record, which the mapping would build only to serialise them again: on the two cores of a
    laptop that work competes with the handler, while in AWS it happens outside the function.

    Records are rendered from fixed pieces (a per-partition prefix, the field names, base64 of
    key and value). Anything off that path — a field that is not exactly ``str``/``int``/
    ``bytes``/``None``, an integer orjson would refuse, headers that are not ``(str, bytes |
    None)`` pairs — sends the whole batch through ``build_kafka_event`` + ``orjson.dumps``, so the
    result (or the error) is always the plain path's. ``tests/unit/aws/test_kafka_event_json.py``
    compares the two byte for byte.
    """
    import orjson

    def plain() -> bytes:
        return orjson.dumps(build_kafka_event(items, source=source, bootstrap_servers=bootstrap_servers,
                                              cluster_arn=cluster_arn))

    items = records if isinstance(records, list) else list(records)
    head = plain() if not items else orjson.dumps(
        build_kafka_event((), source=source, bootstrap_servers=bootstrap_servers, cluster_arn=cluster_arn))
    if not items:
        return head
    if _native_render is not None and native_render_enabled():
        # The loop below in C (aws/_event_render.c), step for step; None: an item it does not take.
        rendered = _native_render(items, _json_str, _headers_json)
        if rendered is not None:
            return head[:-3] + b"{" + rendered + b"}}"
    groups: dict[str, list[str]] = {}
    prefixes: dict[tuple[str, int], tuple[list[str], str]] = {}
    kinds: dict[str, str] = {}
    b64 = binascii.b2a_base64
    low, high = _JSON_INT_MIN, _JSON_INT_MAX
    for item in items:
        try:
            topic, partition, offset, timestamp, timestamp_type, key, value, headers = item
        except (TypeError, ValueError):
            return plain()
        if (type(topic) is not str or type(partition) is not int or type(offset) is not int
                or type(timestamp) is not int or type(timestamp_type) is not str
                or not (low <= offset <= high and low <= timestamp <= high)):
            return plain()
        entry = prefixes.get((topic, partition))
        if entry is None:
            if not low <= partition <= high:
                return plain()
            prefix = f'{{"topic":{_json_str(topic)},"partition":{partition},"offset":'
            entry = prefixes[(topic, partition)] = (groups.setdefault(f"{topic}-{partition}", []), prefix)
        kind = kinds.get(timestamp_type)
        if kind is None:
            kind = kinds[timestamp_type] = _json_str(timestamp_type)
        if key is None:
            key_part = ""
        elif type(key) is bytes:
            key_part = f',"key":"{b64(key, newline=False).decode()}"'
        else:
            return plain()
        if value is None:
            value_part = "null"
        elif type(value) is bytes:
            value_part = f'"{b64(value, newline=False).decode()}"'
        else:
            return plain()
        if headers:
            header_part = _headers_json(headers)
            if header_part is None:
                return plain()
        else:
            header_part = "[]"
        entry[0].append(f'{entry[1]}{offset},"timestamp":{timestamp},"timestampType":{kind}{key_part},'
                        f'"value":{value_part},"headers":{header_part}}}')
    body = ",".join(f"{_json_str(slot)}:[{','.join(rendered)}]" for slot, rendered in groups.items())
    return head[:-3] + b"{" + body.encode() + b"}}"


def _json_str(text: str) -> str:
    """``text`` as orjson writes a JSON string (it raises for text that is not valid UTF-8)."""
    import orjson

    return orjson.dumps(text).decode()


def _headers_json(headers: Any) -> str | None:
    """Headers as ``build_kafka_event`` + ``orjson`` write them; None for anything irregular."""
    if type(headers) not in (list, tuple):
        return None
    parts = []
    for pair in headers:
        if type(pair) is not tuple or len(pair) != 2:
            return None
        name, data = pair
        if type(name) is not str:
            return None
        if data is None:
            parts.append(f"{{{_json_str(name)}:null}}")
        elif type(data) is bytes:
            parts.append(f"{{{_json_str(name)}:[{','.join(map(str, data))}]}}")
        else:
            return None
    return f"[{','.join(parts)}]"
