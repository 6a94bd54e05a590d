"""The sink task Lambda: a Kafka event in, ``SinkWorker.process`` once, metrics and a response out.

Which connector a batch belongs to, in order of precedence:

1. ``event["connector"]`` — a local invoke (``lambda-connect invoke``) may name it;
2. ``$LAMBDA_CONNECT_CONNECTOR`` — a function dedicated to one connector;
3. the alias that qualifies ``context.invoked_function_arn``
   (``arn:aws:lambda:<region>:<acct>:function:<fn>:<alias>``), looked up in the state table
   (the reconciler gives every sink connector its own alias and event source mapping).

Anything else fails loudly: an unmapped batch must never be committed.

Records the event cannot decode (bad base64, a header that is not bytes, a record without
its coordinates, a partition or offset out of Kafka's range, a record filed under the key of
another topic or partition) still become records of the batch, carrying the decoding error,
so the worker applies the connector's error policy to them (stage ``KAFKA_CONSUME``). Keys
are read as numbers (``orders-00`` is ``orders-0``) and a record listed twice is kept once.
An event that is not a Kafka event at all (not an object, no ``records``) fails as a whole
before anything is written.

The dead letter queue is produced to the cluster of ``$LAMBDA_CONNECT_BOOTSTRAP_SERVERS``
(with its authentication settings, see ``aws.kafka_clients``), else to the event's own
``bootstrapServers`` without authentication (local runs). Producer and admin client are
built once per container and cluster.
"""

from __future__ import annotations

import binascii
import logging
import os
import threading
import time
from binascii import a2b_base64
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

from lambda_connect.api.errors import ConnectException
from lambda_connect.api.plans import NATIVE_SWITCH
from lambda_connect.runtime.dlq import ProducerLike
from lambda_connect.runtime.gc_tuning import relaxed_gc
from lambda_connect.runtime.sink_worker import (
    ConsumedRecord,
    SinkBatchResult,
    SinkWorker,
    UnknownConnectorError,
)
from lambda_connect.state.base import StateStore, StatusEntry, open_store

from .kafka_clients import (
    ENV_BOOTSTRAP,
    KafkaSettings,
    ensure_topic,
    kafka_settings_from_env,
    make_admin,
    make_producer,
)
from .kafka_event import (
    MAX_OFFSET,
    MAX_PARTITION,
    MAX_TIMESTAMP,
    NO_TIMESTAMP_TYPE,
    KafkaEvent,
    KafkaEventRecord,
    MalformedEventError,
    decode_header_value,
    parse_slot,
)
from .metrics import emit, make_metrics, sink_batch_metrics, worker_id
from .topic_identity import KafkaTopicIdentities

try:  # built by pip install like the plan engine; without it the Python loop of _slot_records runs
    from ._slot_decode import decode as _native_decode
except ImportError:  # pragma: no cover - depends on the build
    _native_decode = None

__all__ = ["CONNECTOR_ENV", "KafkaDlqTransport", "SinkHandler", "StoreStatusReporter", "consumed_records"]

log = logging.getLogger(__name__)

_partition_of = itemgetter(0, 1)  # a ConsumedRecord's (topic, partition), by position
_offset_of = itemgetter(2)

CONNECTOR_ENV = "LAMBDA_CONNECT_CONNECTOR"
DEADLINE_MARGIN_ENV = "LAMBDA_CONNECT_DEADLINE_MARGIN_MS"


class StoreStatusReporter:
    """Task status and active topics into the state table, written only when they change.

    A warm container sees the same connector batch after batch; writing RUNNING every time
    would cost one state-table write per invocation for no information.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._last: dict[tuple[str, int], str] = {}
        self._topics: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    # The cache is updated only after the store accepted the write: a failed write (the batch
    # is then redelivered) must be tried again, not remembered as done.
    def task_running(self, connector: str, task_id: int, worker_id: str) -> None:
        with self._lock:
            if self._last.get((connector, task_id)) == "RUNNING":
                return
        self.store.put_task_status(connector, task_id, StatusEntry("RUNNING", worker_id, None, time.time()))
        with self._lock:
            self._last[(connector, task_id)] = "RUNNING"

    def task_failed(self, connector: str, task_id: int, worker_id: str, trace: str) -> None:
        with self._lock:
            self._last.pop((connector, task_id), None)
        self.store.put_task_status(connector, task_id, StatusEntry("FAILED", worker_id, trace, time.time()))
        with self._lock:
            self._last[(connector, task_id)] = "FAILED"

    def topics_active(self, connector: str, topics: Iterable[str]) -> None:
        with self._lock:
            new = set(topics) - self._topics.get(connector, set())
        if new:
            self.store.add_active_topics(connector, new)
            with self._lock:
                self._topics.setdefault(connector, set()).update(new)


class KafkaDlqTransport:
    """Producer and topic creation for dead letter queues on one cluster, built on first use."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: ProducerLike | None = None
        self._admin: Any = None
        self._topics: set[str] = set()
        self._lock = threading.Lock()
        #: Topic identities of this cluster (cached per container; see ``runtime.topic_identity``).
        self.identities = KafkaTopicIdentities(lambda: make_admin(self.settings))

    def producer(self) -> ProducerLike:
        with self._lock:
            if self._producer is None:
                self._producer = make_producer(self.settings, {"linger.ms": 5})
            return self._producer

    def ensure_topic(self, topic: str, replication_factor: int) -> None:
        """One partition, RF from ``errors.deadletterqueue.topic.replication.factor`` capped to
        the number of brokers (Kafka's default of 3 cannot be met by a one-broker cluster)."""
        with self._lock:
            if topic in self._topics:
                return
            if self._admin is None:
                self._admin = make_admin(self.settings)
            brokers = len(self._admin.list_topics(timeout=10).brokers) or 1
            rf = replication_factor if replication_factor > 0 else -1
            ensure_topic(self._admin, topic, 1, min(rf, brokers) if rf > 0 else -1)
            self._topics.add(topic)


def _connector_from_arn(arn: str | None) -> str | None:
    """The alias qualifier of a function ARN, or None for an unqualified/version ARN."""
    if not arn:
        return None
    parts = arn.split(":")
    if len(parts) != 8 or parts[5] != "function":
        return None
    qualifier = parts[7]
    return None if qualifier.isdigit() or qualifier == "$LATEST" else qualifier


def _undecodable(data: Any, slot: str, error: MalformedEventError) -> ConsumedRecord:
    """A record whose fields cannot all be decoded: keep its raw fields for the DLQ.

    It is named by the key it was filed under when that key is well formed (the coordinates
    Lambda commits and reports), else by its own fields; a coordinate that is not a valid
    Kafka one becomes -1, so it can never move a stored position or be named to Lambda."""
    fields = data if isinstance(data, Mapping) else {}
    own_topic, own_partition, own_offset = fields.get("topic"), fields.get("partition"), fields.get("offset")
    coordinates = parse_slot(slot)
    if coordinates is not None:
        topic, partition = coordinates
    else:
        topic = own_topic if type(own_topic) is str and own_topic else slot
        partition = own_partition if type(own_partition) is int and 0 <= own_partition <= MAX_PARTITION else -1
    offset = own_offset if type(own_offset) is int and 0 <= own_offset <= MAX_OFFSET else -1
    timestamp = fields.get("timestamp")
    if type(timestamp) is not int or not -1 <= timestamp <= MAX_TIMESTAMP:
        timestamp = None

    def raw(name: str) -> bytes | None:
        value = fields.get(name)
        # surrogatepass: JSON may carry a lone surrogate ("\ud800"), which strict UTF-8 refuses;
        # the record must still reach the error policy, its text kept as it came
        return None if value is None else str(value).encode("utf-8", "surrogatepass")

    return ConsumedRecord(topic, partition, offset, timestamp, "NO_TIMESTAMP_TYPE", raw("key"), raw("value"), (),
                          consume_error=error)


class _Irregular(Exception):
    """A record field that is present but not of the type Lambda sends: the slow path names it."""


#: What the fast pass catches to send a record down the slow path (both builds of it).
_CAUGHT = (_Irregular, ValueError, TypeError, AttributeError, KeyError, binascii.Error)


def _headers(raw: Any) -> list[tuple[str, bytes | None]]:
    """Headers exactly as ``KafkaEventRecord.headers`` decodes them; anything it would refuse raises."""
    if type(raw) is not list:
        raise _Irregular
    headers: list[tuple[str, bytes | None]] = []
    for entry in raw:
        if type(entry) is not dict or len(entry) != 1:
            raise _Irregular
        ((name, value),) = entry.items()
        if type(name) is not str:
            raise _Irregular
        headers.append((name, None if value is None else decode_header_value(value)))
    return headers


def _slow(data: Any, slot: str) -> ConsumedRecord:
    """A record the fast path did not take: ``KafkaEventRecord`` decodes it or names its fault."""
    try:
        r = KafkaEventRecord(data, slot=slot)
        return ConsumedRecord(r.topic, r.partition, r.offset, r.timestamp, r.timestamp_type, r.key, r.value,
                              r.headers)
    except MalformedEventError as e:
        return _undecodable(data, slot, e)


def _slot_records(slot: str, items: list[Any], *, fast: bool = True) -> tuple[list[ConsumedRecord], bool]:
    """The records of one ``"<topic>-<partition>"`` slot, in event order, and whether they are
    plainly what Lambda sends: all decoded inline, of the slot's partition, offsets increasing
    (then the caller needs neither to group, sort nor look for repeats).

    One pass, inline, for the common case that every field has exactly the type and range
    Lambda sends and the record belongs to its slot; anything else (a missing, mistyped or
    out-of-range field, bad base64, a record of another partition) raises inside the pass and
    that record alone takes the slow path, which decodes it the same way or names its fault.
    Fields Lambda always sends are read by subscript (a missing one raises too, and the slow
    path then reads the record as it is); only ``key``, absent for a null key, is looked up.
    ``fast=False`` sends every record down the slow path (the differential tests compare)."""
    coordinates = parse_slot(slot) if fast else None
    if coordinates is None:  # a malformed key: every record of it is refused by the slow path
        return [_slow(data, slot) for data in items], False
    slot_topic, slot_partition = coordinates
    if _native_decode is not None and os.environ.get(NATIVE_SWITCH, "on").strip().lower() not in _OFF:
        # The loop below in C (aws/_slot_decode.c), step for step; None: a slot it does not take.
        taken = _native_decode(items, slot, slot_topic, slot_partition, _NATIVE_CONTEXT)
        if taken is not None:
            return taken
    max_offset, max_timestamp = MAX_OFFSET, MAX_TIMESTAMP
    new, record = tuple.__new__, ConsumedRecord  # the named tuple without its Python-level __new__
    out: list[ConsumedRecord] = []
    append = out.append
    plain = True
    last = -1
    for data in items:
        try:
            topic, partition, offset, timestamp = data["topic"], data["partition"], data["offset"], data["timestamp"]
            if (type(topic) is not str or topic != slot_topic or type(partition) is not int
                    or partition != slot_partition or type(offset) is not int or not 0 <= offset <= max_offset
                    or (timestamp is not None
                        and (type(timestamp) is not int or not -1 <= timestamp <= max_timestamp))):
                raise _Irregular
            key = data.get("key")
            if key is not None:
                if type(key) is not str:
                    raise _Irregular
                key = a2b_base64(key, strict_mode=True)
            value = data["value"]
            if value is not None:
                if type(value) is not str:
                    raise _Irregular
                value = a2b_base64(value, strict_mode=True)
            headers = data["headers"]
            if headers:
                headers = _headers(headers)
            elif headers is None or type(headers) is list:
                headers = ()
            else:
                raise _Irregular
            kind = data["timestampType"]
            append(new(record, (topic, partition, offset, timestamp,
                                kind if type(kind) is str and kind else NO_TIMESTAMP_TYPE, key, value, headers, None)))
        except _CAUGHT:
            append(_slow(data, slot))
            plain = False
            continue
        if offset > last:
            last = offset
        else:
            plain = False
    return out, plain


_OFF = frozenset({"off", "false", "0", "no"})  # values of NATIVE_SWITCH, read as api.plans reads them
#: What ``_slot_decode.decode`` needs of this module: the record type, the slow path and the
#: header decoding, the exceptions the Python loop catches, base64 in strict mode, the limits.
_NATIVE_CONTEXT = (ConsumedRecord, _slow, _headers,
                   _CAUGHT, a2b_base64, {"strict_mode": True}, NO_TIMESTAMP_TYPE, MAX_OFFSET, MAX_TIMESTAMP)


def _without_duplicates(records: list[ConsumedRecord]) -> list[ConsumedRecord]:
    """One partition's records in offset order with each offset kept once (its first occurrence).

    Records that could not be decoded are all kept: each must reach the error policy, and an
    invalid offset (-1) says nothing about which record it is."""
    seen: set[int] = set()
    out: list[ConsumedRecord] = []
    dropped = 0
    for r in records:
        if r.consume_error is None:
            if r.offset in seen:
                dropped += 1
                continue
            seen.add(r.offset)
        out.append(r)
    if dropped:
        log.warning("The event lists %d record(s) of %s-%d more than once; each is processed once",
                    dropped, records[0].topic, records[0].partition)
    return out


def _listed_records(event: Any) -> int:
    """How many entries the event lists, for a log line about an event that could not be parsed."""
    groups = event.get("records") if isinstance(event, Mapping) else None
    if not isinstance(groups, Mapping):
        return 0
    return sum(len(items) for items in groups.values() if isinstance(items, list))


def consumed_records(event: Any, *, fast: bool = True) -> list[ConsumedRecord]:
    """The event's records in Lambda's order (by partition, then offset), one bad record never
    hiding the others, each record once. Raises MalformedEventError only when the event itself
    is not a Kafka event (not an object, an unknown ``eventSource``, no ``records`` object)."""
    KafkaEvent(event)  # checks that it is an object and its event source
    groups = event.get("records")
    if groups is None:
        raise MalformedEventError("is missing", field="records")
    if not isinstance(groups, Mapping):
        raise MalformedEventError(f"must be an object, got {type(groups).__name__}", field="records")
    by_partition: dict[tuple[str, int], list[ConsumedRecord]] = {}
    in_order: set[tuple[str, int]] = set()  # partitions of one plain slot: already as the worker wants them
    for slot, items in groups.items():
        if not isinstance(items, list):
            raise MalformedEventError("must be a list", field=f"records[{_short_slot(slot)}]")
        records, plain = _slot_records(slot, items, fast=fast)
        if not records:
            continue
        if plain:  # as Lambda sends it: one partition, in offset order, each offset once
            partition = (records[0].topic, records[0].partition)
            if partition in by_partition:
                in_order.discard(partition)
                by_partition[partition].extend(records)
            else:
                in_order.add(partition)
                by_partition[partition] = records
            continue
        partitions = set(map(_partition_of, records))
        for partition in partitions:
            in_order.discard(partition)
        if len(partitions) == 1:  # the slot is one partition
            by_partition.setdefault(partitions.pop(), []).extend(records)
        else:
            for consumed in records:
                by_partition.setdefault((consumed.topic, consumed.partition), []).append(consumed)
    out: list[ConsumedRecord] = []
    for partition, records in by_partition.items():
        if partition in in_order:
            out.extend(records)
            continue
        ordered = sorted(records, key=_offset_of)  # linear when already in order, as Lambda sends it
        if len(set(map(_offset_of, ordered))) != len(ordered):
            ordered = _without_duplicates(ordered)
        out.extend(ordered)
    return out


def _short_slot(slot: object) -> str:
    text = repr(slot)
    return text if len(text) <= 60 else text[:60] + "..."


class SinkHandler:
    """Everything one container needs, built once; call it with ``(event, context)``."""

    def __init__(
        self,
        store: StateStore | None = None,
        *,
        env: Mapping[str, str] = os.environ,
        worker: SinkWorker | None = None,
        metrics: Any = None,
    ) -> None:
        self.env = env
        self.store = store if store is not None else open_store(env.get("LAMBDA_CONNECT_STATE_URL"))
        margin = float(env.get(DEADLINE_MARGIN_ENV, "5000"))
        self.worker = worker or SinkWorker(self.store, StoreStatusReporter(self.store), deadline_margin_ms=margin)
        self.metrics = metrics if metrics is not None else make_metrics("sink-task")
        self._transports: dict[str, KafkaDlqTransport] = {}
        self._lock = threading.Lock()

    def connector_name(self, event: Mapping[str, Any], context: Any, records: int | None = None) -> str:
        """See the module docstring; raises UnknownConnectorError when nothing names one (saying how
        many ``records`` the refused batch holds, when told)."""
        held = "" if records is None else f"; the batch of {records} record(s) is not committed"
        named = event.get("connector")
        if isinstance(named, str) and named:
            return named
        dedicated = self.env.get(CONNECTOR_ENV, "").strip()
        if dedicated:
            return dedicated
        arn = getattr(context, "invoked_function_arn", None)
        alias = _connector_from_arn(arn)
        if alias is None:
            raise UnknownConnectorError(
                f"Cannot tell which connector this batch belongs to: the function ARN {arn!r} has no alias, "
                f"${CONNECTOR_ENV} is unset and the event names no connector{held}"
            )
        name = self.store.connector_for_alias(alias)
        if name is None:
            raise UnknownConnectorError(f"Unknown connector: no connector is mapped to function alias {alias!r}"
                                        f"{held}")
        return name

    def dlq_transport(self, event: Mapping[str, Any]) -> KafkaDlqTransport:
        """The transport for the configured cluster, else for the event's own cluster."""
        if self.env.get(ENV_BOOTSTRAP, "").strip():
            key = "env"
            make = lambda: kafka_settings_from_env(self.env)  # noqa: E731
        else:
            servers = str(event.get("bootstrapServers") or "").strip()
            if not servers:
                raise ConnectException(f"No Kafka cluster for the dead letter queue: set ${ENV_BOOTSTRAP}")
            key = servers
            make = lambda: KafkaSettings(bootstrap_servers=servers)  # noqa: E731
        with self._lock:
            transport = self._transports.get(key)
            if transport is None:
                transport = self._transports[key] = KafkaDlqTransport(make())
            return transport

    def topic_identities(self, event: Mapping[str, Any]) -> _LazyIdentities:
        """The identities of the batch's cluster (the DLQ's), found when a sink first asks: sinks
        that keep no positions never make the handler read cluster settings."""
        return _LazyIdentities(self, event)

    def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        name = "unknown"
        result: SinkBatchResult | None = None
        decoded = 0
        try:
            # The batch's records live until it is written; the cycle collector would walk them
            # over and over and find nothing (see runtime.gc_tuning): off for the batch, one young
            # collection after it — which the records no longer reach: they are dropped first.
            with relaxed_gc():
                records = consumed_records(event)  # first: a malformed event fails before anything else
                decoded = len(records)
                try:
                    name = self.connector_name(event, context, decoded)
                    remaining = getattr(context, "get_remaining_time_in_millis", None)
                    result = self.worker.process(
                        name,
                        records,
                        dlq_transport=_LazyTransport(self, event),
                        remaining_ms=remaining,
                        worker_id=worker_id(context),
                        topic_identities=self.topic_identities(event),
                    )
                finally:
                    del records
        except Exception as e:
            count = decoded or _listed_records(event)
            log.error("Sink batch of connector %s (%d record(s)) failed: %s", name, count, e,
                      extra={"connector": name, "records_in": count})
            emit(self.metrics, name, sink_batch_metrics(records_in=decoded, written=0, dead_lettered=0,
                                                        failed=0, batch_failed=True))
            raise
        log.info(
            "Sink batch of connector %s task %d: %d record(s) in, %d written, %d dead-lettered, %d failed, "
            "%d dropped, %d duplicate(s) skipped, %d left for redelivery (put %.1f ms)",
            name, result.task_id, result.records_in, result.written, result.dead_lettered, result.failed,
            result.dropped, result.skipped_duplicates, len(result.item_failures), result.put_latency_ms,
            extra={"connector": name, "task": result.task_id, "records_in": result.records_in,
                   "written": result.written, "dead_lettered": result.dead_lettered, "failed": result.failed,
                   "put_latency_ms": round(result.put_latency_ms, 3), "item_failures": len(result.item_failures)},
        )
        emit(self.metrics, name, sink_batch_metrics(
            records_in=result.records_in, written=result.written, dead_lettered=result.dead_lettered,
            failed=result.failed, dropped=result.dropped, skipped_duplicates=result.skipped_duplicates,
            put_latency_ms=result.put_latency_ms, batch_failed=bool(result.item_failures),
        ), task=result.task_id)
        return {"batchItemFailures": [
            {"itemIdentifier": {"partition": f"{r.topic}-{r.partition}", "offset": r.offset}}
            for r in result.item_failures
        ]}


class _LazyIdentities:
    """``TopicIdentities`` of the batch's cluster; None (with one warning) when no cluster is known."""

    _warned = False

    def __init__(self, handler: SinkHandler, event: Mapping[str, Any]) -> None:
        self._handler = handler
        self._event = event

    def identity(self, topic: str, refresh: bool = False) -> str | None:
        try:
            source: KafkaTopicIdentities = self._handler.dlq_transport(self._event).identities
        except Exception as e:  # no cluster settings: sinks keep their positions unkeyed
            if not _LazyIdentities._warned:
                _LazyIdentities._warned = True
                log.warning("No Kafka cluster to ask for topic identities (%s): a deleted and recreated topic "
                            "will not be detected", e)
            return None
        return source.identity(topic, refresh)


class _LazyTransport:
    """Defers choosing (and connecting) the DLQ cluster until a record is actually dead-lettered."""

    def __init__(self, handler: SinkHandler, event: Mapping[str, Any]) -> None:
        self._handler = handler
        self._event = event

    def producer(self) -> ProducerLike:
        return self._handler.dlq_transport(self._event).producer()

    def ensure_topic(self, topic: str, replication_factor: int) -> None:
        self._handler.dlq_transport(self._event).ensure_topic(topic, replication_factor)
