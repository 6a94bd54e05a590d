"""S3 sink: Kafka records into S3 objects, with Confluent's keys, layout and formats.

Object keys are Confluent's::

    <topics.dir>/<topic>/<encodedPartition>/<topic>+<kafkaPartition>+<startOffset:010d><ext>

A Lambda invocation keeps nothing for the next one, so each ``flush`` writes what its batch
holds: per topic-partition and encoded partition, objects of at most ``flush.size`` records
(and, for Avro, one value schema each).

Why every record lands exactly once, even when Kafka redelivers:

* Names are deterministic. An object is named after its first record's offset and holds
  the records that follow it in that batch, so writing the same batch again overwrites the
  same objects with the same bytes.
* A high-water mark per topic-partition (``<topics.dir>/_lambda_connect/offsets/<connector>/
  <topic>+<partition>.json``) is written *after* the data objects. Records at or below it
  are skipped, so a redelivery that overlaps an already written batch (the invocation
  wrote everything, then died before the event source mapping committed) only writes the
  new tail — under new names, with no second copy of the old records.
* A redelivery always starts at the committed offset, i.e. right after the mark, but it may
  be cut differently from the attempt that crashed half-way. Objects that attempt wrote but
  this one does not rewrite would hold second copies, so before writing data the mark file
  records the keys about to be written ("pending"); the next attempt deletes any pending key
  it does not write itself, then replaces the list with its own. S3 is read-after-write
  consistent, and one partition is only ever written by one invocation at a time (the event
  source mapping processes a partition's batches in order), so this needs no locking.

With ``timestamp.extractor=Wallclock`` the time-based layout depends on when a batch is
written, so only ``Record``/``RecordField`` keep that guarantee (as for Confluent).

The mark also names the topic incarnation its offset counts in (``topic_identity``, see
``..positions``). When the topic was deleted and created again, or the broker is new, the
mark's identity differs: the mark starts over at -1 under the new identity (a WARN says so)
and the new records are written. Their offsets start at 0 again, so their object names
would replace objects of the old incarnation; objects starting at or below the highest
offset any earlier incarnation reached (``floor``) therefore carry the reset count
(``generation``) as one more name field: ``<topic>+<partition>+<startOffset>+<generation>``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_connect.api import (
    ConfigDef,
    ConfigException,
    ConfigKey,
    ConfigType,
    ConfigValue,
    ConnectException,
    DataException,
    Importance,
    RetriableException,
    SinkConnector,
    SinkRecord,
    SinkTask,
    Task,
    Width,
)
from lambda_connect.api.config import CaseInsensitiveValidString, Range
from lambda_connect.api.connector import TopicPartition

from ..positions import current_identities, reconcile, warn_resets
from .formats import FORMATS, RecordFormat, build_format
from .partitioners import PARTITIONERS, Partitioner, build_partitioner

__all__ = ["S3SinkConnector", "S3SinkTask"]

log = logging.getLogger(__name__)

_S3 = "S3"
_STORAGE = "Storage"
_PARTITIONER = "Partitioner"
_CONNECTOR = "Connector"
_PARTITIONER_PKG = "io.confluent.connect.storage.partitioner."

_CONFIG_DEF = ConfigDef(
    ConfigKey(name="s3.bucket.name", type=ConfigType.STRING, importance=Importance.HIGH, group=_S3,
              order_in_group=1, width=Width.LONG, display_name="S3 Bucket", doc="The S3 Bucket."),
    ConfigKey(name="s3.region", type=ConfigType.STRING, default="us-west-2", importance=Importance.MEDIUM,
              group=_S3, order_in_group=2, width=Width.LONG, display_name="AWS region",
              doc="The AWS region to be used the connector."),
    ConfigKey(name="s3.compression.type", type=ConfigType.STRING, default="none",
              validator=CaseInsensitiveValidString("none", "gzip"), importance=Importance.LOW, group=_S3,
              order_in_group=3, width=Width.LONG, display_name="Compression type",
              doc="Compression type for files written to S3. Applied when using JsonFormat. "
                  "Available values: none, gzip."),
    ConfigKey(name="s3.compression.level", type=ConfigType.INT, default=-1, validator=Range.between(-1, 9),
              importance=Importance.LOW, group=_S3, order_in_group=4, width=Width.SHORT,
              display_name="Compression type",
              doc="Compression level for files written to S3. Applied when using JsonFormat with gzip; "
                  "-1 is the default level."),
    ConfigKey(name="s3.path.style.access.enabled", type=ConfigType.BOOLEAN, default=True,
              importance=Importance.LOW, group=_S3, order_in_group=5, width=Width.SHORT,
              display_name="Enable Path Style Access to S3",
              doc="Specifies whether or not to enable path style access to the bucket used by the connector."),
    ConfigKey(name="aws.access.key.id", type=ConfigType.STRING, default="", importance=Importance.HIGH,
              group=_S3, order_in_group=6, width=Width.LONG, display_name="AWS Access Key ID",
              doc="The AWS access key ID used to authenticate; empty uses the Lambda execution role."),
    ConfigKey(name="aws.secret.access.key", type=ConfigType.PASSWORD, default=None, importance=Importance.HIGH,
              group=_S3, order_in_group=7, width=Width.LONG, display_name="AWS Secret Access Key",
              doc="The secret access key used to authenticate personal AWS credentials."),
    ConfigKey(name="json.decimal.format", type=ConfigType.STRING, default="BASE64",
              validator=CaseInsensitiveValidString("BASE64", "NUMERIC"), importance=Importance.LOW, group=_S3,
              order_in_group=8, width=Width.MEDIUM, display_name="Decimal Format",
              doc="How the JSON format writes Decimal values: BASE64 (the unscaled bytes, base64 text) or "
                  "NUMERIC (a JSON number); any letter case."),
    ConfigKey(name="behavior.on.null.values", type=ConfigType.STRING, default="fail",
              validator=CaseInsensitiveValidString("ignore", "fail"), importance=Importance.LOW, group=_S3,
              order_in_group=9, width=Width.SHORT, display_name="Behavior for null-valued records",
              doc="What a tombstone (a record whose value is null) does: 'fail' stops the task, "
                  "'ignore' skips the record."),
    ConfigKey(name="avro.codec", type=ConfigType.STRING, default="null",
              validator=CaseInsensitiveValidString("null", "deflate", "bzip2", "xz"), importance=Importance.LOW,
              group=_S3, order_in_group=10, width=Width.LONG, display_name="Avro Compression Codec",
              doc="The Avro compression codec to be used for output files. Available values: null, deflate, "
                  "bzip2, xz."),
    ConfigKey(name="store.url", type=ConfigType.STRING, default=None, importance=Importance.HIGH, group=_STORAGE,
              order_in_group=1, width=Width.NONE, display_name="Store URL",
              doc="Store's connection URL, if applicable (an S3-compatible endpoint)."),
    ConfigKey(name="topics.dir", type=ConfigType.STRING, default="topics", importance=Importance.HIGH,
              group=_STORAGE, order_in_group=2, width=Width.NONE, display_name="Topics directory",
              doc="Top level directory to store the data ingested from Kafka."),
    ConfigKey(name="directory.delim", type=ConfigType.STRING, default="/", importance=Importance.MEDIUM,
              group=_STORAGE, order_in_group=3, width=Width.SHORT, display_name="Directory Delimiter",
              doc="Directory delimiter pattern"),
    ConfigKey(name="file.delim", type=ConfigType.STRING, default="+", importance=Importance.MEDIUM,
              group=_STORAGE, order_in_group=4, width=Width.SHORT, display_name="File Delimiter",
              doc="File delimiter pattern"),
    ConfigKey(name="format.class", type=ConfigType.CLASS, importance=Importance.HIGH, group=_CONNECTOR,
              order_in_group=1, width=Width.NONE, display_name="Format class",
              recommended_values=tuple(FORMATS),
              doc="The format class to use when writing data to the store."),
    ConfigKey(name="flush.size", type=ConfigType.INT, validator=Range.at_least(1), importance=Importance.HIGH,
              group=_CONNECTOR, order_in_group=2, width=Width.SHORT, display_name="Flush Size",
              doc="Number of records written to store before invoking file commits (here: the most records "
                  "one object holds)."),
    ConfigKey(name="partitioner.class", type=ConfigType.CLASS, default=_PARTITIONER_PKG + "DefaultPartitioner",
              importance=Importance.HIGH, group=_PARTITIONER, order_in_group=1, width=Width.LONG,
              display_name="Partitioner Class", recommended_values=tuple(_PARTITIONER_PKG + p for p in PARTITIONERS),
              doc="The partitioner to use when writing data to the store. You can use ``DefaultPartitioner``, "
                  "which preserves the Kafka partitions; ``FieldPartitioner``, which partitions the data to "
                  "different directories according to the value of the partitioning field specified in "
                  "``partition.field.name``; ``TimeBasedPartitioner``, which partitions data according to "
                  "ingestion time."),
    ConfigKey(name="partition.field.name", type=ConfigType.LIST, default="", importance=Importance.MEDIUM,
              group=_PARTITIONER, order_in_group=2, width=Width.NONE, display_name="Partition Field Name",
              doc="The name of the partitioning field when FieldPartitioner is used."),
    ConfigKey(name="partition.duration.ms", type=ConfigType.LONG, default=-1, importance=Importance.MEDIUM,
              group=_PARTITIONER, order_in_group=3, width=Width.LONG, display_name="Partition Duration (ms)",
              doc="The duration of a partition milliseconds used by ``TimeBasedPartitioner``. The default value "
                  "-1 means that we are not using ``TimeBasedPartitioner``."),
    ConfigKey(name="path.format", type=ConfigType.STRING, default="", importance=Importance.MEDIUM,
              group=_PARTITIONER, order_in_group=4, width=Width.LONG, display_name="Path Format",
              doc="This configuration is used to set the format of the data directories when partitioning with "
                  "``TimeBasedPartitioner``. The format set in this configuration converts the Unix timestamp to "
                  "proper directories strings. For example, if you set "
                  "``path.format='year'=YYYY/'month'=MM/'day'=dd/'hour'=HH``, the data directories will have the "
                  "format ``/year=2015/month=12/day=07/hour=15/``."),
    ConfigKey(name="locale", type=ConfigType.STRING, default="", importance=Importance.MEDIUM, group=_PARTITIONER,
              order_in_group=5, width=Width.LONG, display_name="Locale",
              doc="The locale to use when partitioning with ``TimeBasedPartitioner``."),
    ConfigKey(name="timezone", type=ConfigType.STRING, default="", importance=Importance.MEDIUM,
              group=_PARTITIONER, order_in_group=6, width=Width.LONG, display_name="Timezone",
              doc="The timezone to use when partitioning with ``TimeBasedPartitioner``."),
    ConfigKey(name="timestamp.extractor", type=ConfigType.STRING, default="Wallclock", importance=Importance.MEDIUM,
              group=_PARTITIONER, order_in_group=7, width=Width.LONG, display_name="Timestamp Extractor",
              doc="The extractor that gets the timestamp for records when partitioning with "
                  "``TimeBasedPartitioner``. It can be set to ``Wallclock``, ``Record`` or ``RecordField`` in order "
                  "to use one of the built-in timestamp extractors."),
    ConfigKey(name="timestamp.field", type=ConfigType.STRING, default="timestamp", importance=Importance.MEDIUM,
              group=_PARTITIONER, order_in_group=8, width=Width.LONG,
              display_name="Record Field for Timestamp Extractor",
              doc="The record field to be used as timestamp by the timestamp extractor."),
)


def _build(config: Mapping[str, Any]) -> tuple[RecordFormat, Partitioner]:
    gzip_on = str(config["s3.compression.type"]).lower() == "gzip"
    fmt = build_format(
        _class_name(config["format.class"]),
        gzip_level=config["s3.compression.level"] if gzip_on else None,
        decimal_numeric=str(config["json.decimal.format"]).upper() == "NUMERIC",
        avro_codec=str(config["avro.codec"]).lower(),
    )
    return fmt, build_partitioner(_class_name(config["partitioner.class"]), config)


def _class_name(value: Any) -> str:
    return value if isinstance(value, str) else getattr(value, "name", value.__qualname__)


# --- S3 access -----------------------------------------------------------------------------

_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def _client(region: str, endpoint: str | None, key_id: str, secret: str | None, path_style: bool) -> Any:
    """A boto3 S3 client per settings, kept for the container's life (warm starts reuse it)."""
    cache_key = (region, endpoint, key_id, secret, path_style)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            try:
                import boto3
                from botocore.config import Config as BotoConfig
            except ImportError as e:  # pragma: no cover - depends on installed extras
                raise ConfigException("The S3 sink needs boto3: pip install 'lambda-connect[aws]'") from e
            kwargs: dict[str, Any] = {"region_name": region, "endpoint_url": endpoint or None}
            if key_id:
                kwargs.update(aws_access_key_id=key_id, aws_secret_access_key=secret)
            kwargs["config"] = BotoConfig(s3={"addressing_style": "path" if path_style else "auto"},
                                          retries={"max_attempts": 3, "mode": "standard"})
            client = _clients[cache_key] = boto3.client("s3", **kwargs)
    return client


_TRANSIENT_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling",
                              "ThrottlingException", "RequestTimeTooSkewed"})


def _wrap(e: Exception, action: str) -> ConnectException:
    """RetriableException for throttling, 5xx and network failures; ConnectException otherwise."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "")
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _TRANSIENT_CODES or status >= 500:
            return RetriableException(f"Transient S3 error while {action}: {e}")
        return ConnectException(f"S3 error while {action}: {e}")
    if isinstance(e, BotoCoreError):
        return RetriableException(f"Transient S3 error while {action}: {e}")
    return ConnectException(f"Error while {action}: {e}")


# --- the task ------------------------------------------------------------------------------


def _marks_prefix(topics_dir: str, connector: str) -> str:
    return f"{topics_dir}/_lambda_connect/offsets/{connector}/"


@dataclass
class _Mark:
    offset: int = -1
    pending: list[str] = field(default_factory=list)
    #: The topic incarnation ``offset`` counts in; None for marks written before it was known.
    identity: str | None = None
    #: How many resets this partition has seen, and the highest offset reached before the last one.
    generation: int = 0
    floor: int = -1

    def to_json(self) -> bytes:
        data: dict[str, Any] = {"offset": self.offset, "pending": self.pending}
        if self.identity is not None:
            data["topic_identity"] = self.identity
        if self.generation:
            data.update(generation=self.generation, floor=self.floor)
        return json.dumps(data).encode()

    @classmethod
    def from_json(cls, body: bytes) -> _Mark:
        data = json.loads(body)
        identity = data.get("topic_identity")
        return cls(int(data.get("offset", -1)), list(data.get("pending", [])),
                   identity if isinstance(identity, str) else None,
                   int(data.get("generation", 0)), int(data.get("floor", -1)))

    def reset(self, identity: str) -> _Mark:
        """The mark of a new incarnation: nothing written yet, names kept apart from the old ones.
        The old pending list is dropped, not deleted: its objects hold records no topic can
        redeliver any more."""
        return _Mark(-1, [], identity, self.generation + 1, max(self.floor, self.offset))


class S3SinkTask(SinkTask):
    """Writes each batch's objects, then the partition's high-water mark (see module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer: list[SinkRecord] = []
        self.written = 0
        self.skipped_duplicates = 0
        self.errant = 0
        self.objects_written = 0

    def version(self) -> str:
        return "1.0"

    def start(self, props: Mapping[str, str]) -> None:
        config = S3SinkConnector.config_def.parse(props)
        self.format, self.partitioner = _build(config)
        self.bucket = config["s3.bucket.name"]
        self.topics_dir = config["topics.dir"].strip("/")
        self.dir_delim = config["directory.delim"]
        self.file_delim = config["file.delim"]
        self.flush_size = config["flush.size"]
        self.ignore_nulls = str(config["behavior.on.null.values"]).lower() == "ignore"
        self.connector = self.context.connector_name if self.context is not None else props.get("name", "s3-sink")
        self.marks_prefix = _marks_prefix(self.topics_dir, self.connector)
        self.s3 = _client(config["s3.region"], config["store.url"], config["aws.access.key.id"],
                          config.password("aws.secret.access.key"), config["s3.path.style.access.enabled"])

    def put(self, records: Sequence[SinkRecord]) -> None:
        """Buffer the batch; ``flush`` decides what is new and writes it."""
        self._buffer.extend(records)

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Write every buffered record once; raises (and writes nothing more) on failure."""
        records, self._buffer = self._buffer, []
        by_partition: dict[tuple[str, int], list[SinkRecord]] = {}
        for r in records:
            by_partition.setdefault((r.original_topic, r.original_kafka_partition), []).append(r)
        for (topic, partition), group in by_partition.items():
            self._flush_partition(topic, partition, sorted(group, key=lambda r: r.original_kafka_offset))

    def stop(self) -> None:
        self._buffer = []

    # --- one topic-partition ---------------------------------------------------------------
    def _flush_partition(self, topic: str, partition: int, records: list[SinkRecord]) -> None:
        mark_key = f"{self.marks_prefix}{topic}+{partition}.json"
        mark = self._checked(topic, partition, self._read_mark(mark_key), records[0].original_kafka_offset)
        live = [r for r in records if r.original_kafka_offset > mark.offset]
        skipped = len(records) - len(live)
        objects, errors = self._plan(live, mark)
        objects, more_errors = self._encode(objects, mark)
        errors.extend(more_errors)
        self._report(errors)
        keys = list(objects)
        stale = [k for k in mark.pending if k not in objects]
        if stale:
            self._delete(stale)
        if keys:
            self._write_mark(mark_key, _Mark(mark.offset, keys, mark.identity, mark.generation, mark.floor))
        for key, (body, _) in objects.items():
            self._put(key, body)
        highest = max(mark.offset, records[-1].original_kafka_offset)
        self._write_mark(mark_key, _Mark(highest, [], mark.identity, mark.generation, mark.floor))
        self.written += sum(len(recs) for _, recs in objects.values())
        self.objects_written += len(objects)
        self.skipped_duplicates += skipped
        self.errant += len(errors)

    def _checked(self, topic: str, partition: int, mark: _Mark, lowest: int) -> _Mark:
        """The mark as this batch must use it: claimed or re-keyed per the topic's identity."""
        p = (topic, partition)
        lookup = self._identity_lookup()
        current = current_identities({p: lowest}, {p: mark.offset}, {p: mark.identity}, lookup)
        check = reconcile({p: mark.offset}, {p: mark.identity}, current)
        if check.resets:
            warn_resets(self.connector, check.resets, f"s3://{self.bucket}/{self.marks_prefix}")
            return mark.reset(check.rekey[p][1])
        if p in check.rekey:
            return _Mark(mark.offset, mark.pending, check.rekey[p][1], mark.generation, mark.floor)
        return mark

    def _identity_lookup(self) -> Any:
        context = self.context
        if context is None:
            return lambda topic, refresh: None
        return lambda topic, refresh: context.topic_identity(topic, refresh=refresh)

    def _plan(
        self, records: Sequence[SinkRecord], mark: _Mark
    ) -> tuple[dict[str, tuple[str, list[SinkRecord]]], list[tuple[SinkRecord, BaseException]]]:
        """Object key → (encoded partition, records): one object per run of records that share
        topic, Kafka partition, encoded partition and format group, cut at ``flush.size``."""
        errors: list[tuple[SinkRecord, BaseException]] = []
        open_chunks: dict[tuple[str, int, str], tuple[Any, list[SinkRecord]]] = {}
        done: list[tuple[str, list[SinkRecord]]] = []
        for r in records:
            if r.value is None:
                if not self.ignore_nulls:
                    errors.append((r, DataException(
                        "Null valued records are not writeable with current behavior.on.null.values 'fail'.")))
                continue
            try:
                self.format.check(r)
                encoded = self.partitioner(r)
            except DataException as e:
                errors.append((r, e))
                continue
            slot = (r.topic, r.kafka_partition, encoded)
            group = self.format.group_key(r)
            current = open_chunks.get(slot)
            if current is not None and current[0] != group:
                done.append((encoded, current[1]))
                current = None
            if current is None:
                current = open_chunks[slot] = (group, [])
            current[1].append(r)
            if len(current[1]) >= self.flush_size:
                done.append((encoded, current[1]))
                del open_chunks[slot]
        done.extend((slot[2], recs) for slot, (_, recs) in open_chunks.items())
        return {self._key(recs[0], enc, mark): (enc, recs) for enc, recs in done}, errors

    def _key(self, first: SinkRecord, encoded: str, mark: _Mark) -> str:
        d, f = self.dir_delim, self.file_delim
        offset = f"{first.kafka_offset:010d}"
        if mark.generation and first.original_kafka_offset <= mark.floor:
            offset += f"{f}{mark.generation}"  # an earlier incarnation may own the plain name
        name = f"{first.topic}{f}{first.kafka_partition}{f}{offset}{self.format.extension}"
        return f"{self.topics_dir}{d}{first.topic}{d}{encoded}{d}{name}"

    def _encode(
        self, objects: Mapping[str, tuple[str, list[SinkRecord]]], mark: _Mark
    ) -> tuple[dict[str, tuple[bytes, list[SinkRecord]]], list[tuple[SinkRecord, BaseException]]]:
        """Bytes per object; a record the format rejects is singled out and the rest re-encoded."""
        out: dict[str, tuple[bytes, list[SinkRecord]]] = {}
        errors: list[tuple[SinkRecord, BaseException]] = []
        for key, (encoded, recs) in objects.items():
            try:
                out[key] = (self.format.encode(recs), recs)
                continue
            except Exception:
                log.warning("Encoding %s failed; isolating the bad records", key)
            good: list[SinkRecord] = []
            for r in recs:
                try:
                    self.format.encode([r])
                except Exception as e:
                    errors.append((r, e if isinstance(e, DataException) else DataException(str(e))))
                else:
                    good.append(r)
            if good:
                out[self._key(good[0], encoded, mark)] = (self.format.encode(good), good)
        return out, errors

    def _report(self, errors: Sequence[tuple[SinkRecord, BaseException]]) -> None:
        reporter = self.context.errant_record_reporter if self.context is not None else None
        for record, error in errors:
            if reporter is None:
                raise ConnectException(
                    f"Exception writing record to S3 (topic={record.topic}, partition={record.kafka_partition}, "
                    f"offset={record.kafka_offset}): {error}"
                ) from error
            reporter(record, error)

    # --- S3 calls ------------------------------------------------------------------------
    def _read_mark(self, key: str) -> _Mark:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as e:
            code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                return _Mark()
            raise _wrap(e, f"reading s3://{self.bucket}/{key}") from e
        return _Mark.from_json(body)

    def _write_mark(self, key: str, mark: _Mark) -> None:
        self._put(key, mark.to_json(), content_type="application/json")

    def _put(self, key: str, body: bytes, content_type: str | None = None) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if content_type:
            kwargs["ContentType"] = content_type
        try:
            self.s3.put_object(**kwargs)
        except Exception as e:
            raise _wrap(e, f"writing s3://{self.bucket}/{key}") from e

    def _delete(self, keys: Sequence[str]) -> None:
        try:
            for i in range(0, len(keys), 1000):
                self.s3.delete_objects(Bucket=self.bucket,
                                       Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True})
        except Exception as e:
            raise _wrap(e, f"deleting stale objects in s3://{self.bucket}") from e


class S3SinkConnector(SinkConnector):
    """Confluent's S3 sink connector: JSON lines or Avro objects, Confluent's layout and partitioners."""

    name = "io.confluent.connect.s3.S3SinkConnector"
    version = "1.0"
    config_def = _CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return S3SinkTask

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]) -> bool:
        """Move each partition's mark to just below the next offset to consume (KIP-875), so a
        rewound partition is written again; None forgets the mark. Identity and naming stay."""
        task = self._marks_task(props)
        for (topic, partition), offset in sorted(offsets.items()):
            key = f"{task.marks_prefix}{topic}+{partition}.json"
            try:
                mark = task._read_mark(key)
                mark.offset = -1 if offset is None else offset - 1
                task._write_mark(key, mark)
            except ConnectException as e:
                raise ConnectException(f"Could not move the mark of {topic}-{partition} at "
                                       f"s3://{task.bucket}/{key}: {e}") from e
        return True

    def reset_offsets(self, props: Mapping[str, str], partitions: Sequence[TopicPartition]) -> bool:
        """Every mark file of the connector back to -1 (listed in S3: the groups may know fewer)."""
        task = self._marks_task(props)
        try:
            keys = [o["Key"] for page in task.s3.get_paginator("list_objects_v2").paginate(
                Bucket=task.bucket, Prefix=task.marks_prefix) for o in page.get("Contents", [])]
        except Exception as e:
            raise _wrap(e, f"listing the marks in s3://{task.bucket}/{task.marks_prefix}") from e
        for key in keys:
            mark = task._read_mark(key)
            mark.offset = -1
            task._write_mark(key, mark)
        return True

    def stored_offsets(self, props: Mapping[str, str]) -> tuple[str, dict[TopicPartition, int]] | None:
        """The connector's mark files that hold an offset (the first 20 listed: enough to warn)."""
        task = self._marks_task(props)
        listed = task.s3.list_objects_v2(Bucket=task.bucket, Prefix=task.marks_prefix, MaxKeys=20)
        marks: dict[TopicPartition, int] = {}
        for item in listed.get("Contents", []):
            name = item["Key"][len(task.marks_prefix):].removesuffix(".json")
            topic, _, partition = name.rpartition("+")
            offset = task._read_mark(item["Key"]).offset
            if topic and partition.isdigit() and offset >= 0:
                marks[(topic, int(partition))] = offset
        return (f"s3://{task.bucket}/{task.marks_prefix}", marks) if marks else None

    @staticmethod
    def _marks_task(props: Mapping[str, str]) -> S3SinkTask:
        """A task started on ``props`` that only reads and writes marks."""
        task = S3SinkTask()
        task.start(props)
        return task

    @classmethod
    def validate(cls, props: Mapping[str, str]) -> dict[str, ConfigValue]:
        """Partitioner and format settings that only make sense together (time zone, path format…)."""
        results = cls.config_def.validate(props)
        if any(cv.errors for cv in results.values()):
            return {}
        try:
            _build({name: cv.value for name, cv in results.items()})
        except ConfigException as e:
            return {name: ConfigValue(name, results[name].value if name in results else None, errors=msgs)
                    for name, msgs in (e.errors or {"format.class": [str(e)]}).items()}
        return {}

