"""S3 source: every object under a prefix, in key order, one record per line.

Config names follow Confluent's S3 connectors (``s3.bucket.name``, ``s3.region``, ``store.url``,
``topics.dir``); what is read is simpler than Confluent's backup-and-restore source, and
documented here:

* Objects under ``topics.dir`` (a key prefix; empty means the whole bucket) are read in
  lexicographic key order (S3 lists that way), each line being one record for ``topic``.
  ``.gz`` objects are decompressed, so the S3 sink's gzip JSON output reads back directly.
  Directory markers (keys ending in ``/``) and the S3 sink's bookkeeping under
  ``_lambda_connect/`` are skipped.
* Values are schemaless: a line that parses as JSON becomes that value (a map for JSON
  objects); any other line is passed on as the raw string. Blank lines produce no record.
  Keys are None.
* Source partition ``{"bucket": b, "prefix": p}``; offset ``{"key": k, "line": n}`` = the
  first ``n`` lines of object ``k`` are delivered. A task resumes inside ``k`` after line
  ``n``, then lists on with ``StartAfter=k``, so objects added later with greater keys are
  picked up by a later invocation. Objects are assumed immutable once written (S3 has no
  append); an object added with a key *before* the offset is not read.
* One task per prefix: ``tasks.max`` above 1 still yields one task, because a single ordered
  listing cannot be split without losing the "resume after key k" offset.

``poll`` returns at most ``batch.size`` records and None when the listing is exhausted, so a
Lambda invocation ends instead of waiting for new objects.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from lambda_connect.api import (
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConnectException,
    Importance,
    RetriableException,
    SourceConnector,
    SourceRecord,
    SourceTask,
    Task,
)
from lambda_connect.api.config import NonEmptyString, Range

__all__ = ["S3SourceConnector", "S3SourceTask"]

_MISSING_EXTRA = "The S3 source needs boto3: pip install 'lambda-connect[aws]'"
_INTERNAL = "_lambda_connect/"
_LIST_PAGE = 1000

CONFIG_DEF = ConfigDef(
    ConfigKey(name="s3.bucket.name", type=ConfigType.STRING, validator=NonEmptyString(), importance=Importance.HIGH,
              doc="The S3 bucket to read from."),
    ConfigKey(name="s3.region", type=ConfigType.STRING, default="us-west-2", importance=Importance.MEDIUM,
              doc="The AWS region of the bucket."),
    ConfigKey(name="store.url", type=ConfigType.STRING, default=None, importance=Importance.LOW,
              doc="Store's connection URL (an S3-compatible endpoint); unset: AWS S3."),
    ConfigKey(name="topics.dir", type=ConfigType.STRING, default="topics", importance=Importance.HIGH,
              doc="Key prefix whose objects are read, in key order; empty reads the whole bucket. A trailing '/' "
                  "is added unless the value is empty or already ends with one."),
    ConfigKey(name="topic", type=ConfigType.STRING, validator=NonEmptyString(), importance=Importance.HIGH,
              doc="The Kafka topic every line is written to."),
    ConfigKey(name="batch.size", type=ConfigType.INT, default=2000, validator=Range.at_least(1),
              doc="The maximum number of records returned by one poll."),
)


def normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip().lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


class S3SourceConnector(SourceConnector):
    """Reads JSON lines (or plain text lines) from S3 objects under a prefix."""

    name: ClassVar[str] = "io.confluent.connect.s3.source.S3SourceConnector"
    version: ClassVar[str | None] = "2.6.0"
    config_def: ClassVar[ConfigDef] = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return S3SourceTask

    def start(self, props: Mapping[str, str]) -> None:
        CONFIG_DEF.parse(props)
        super().start(props)

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """One task: the ordered listing is the unit of work (see module docstring)."""
        return [dict(self.props)] if max_tasks >= 1 else []


class S3SourceTask(SourceTask):
    """Lists and reads the objects of one prefix, resuming at the committed (key, line)."""

    def start(self, props: Mapping[str, str]) -> None:
        cfg = CONFIG_DEF.parse(props)
        try:
            import boto3
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise ConnectException(_MISSING_EXTRA) from e
        self._bucket: str = cfg["s3.bucket.name"]
        self._prefix = normalise_prefix(cfg["topics.dir"] or "")
        self._topic: str = cfg["topic"]
        self._batch: int = cfg["batch.size"]
        self._client = boto3.client("s3", region_name=cfg["s3.region"], endpoint_url=cfg["store.url"] or None)
        self._partition = {"bucket": self._bucket, "prefix": self._prefix}
        stored = self.context.offset_storage_reader.offset(self._partition) if self.context is not None else None
        self._pending: deque[str] = deque()
        self._listed_after: str = ""  # the last key seen in a listing
        self._current: str | None = None
        self._lines: Iterator[bytes] | None = None
        self._line_no = 0
        self._body: Any = None
        if stored and stored.get("key"):
            # Reopen the committed object; its remaining lines come first.
            self._listed_after = str(stored["key"])
            self._pending.append(self._listed_after)
            self._resume_line = int(stored.get("line", 0))
        else:
            self._resume_line = 0

    def poll(self) -> list[SourceRecord] | None:
        out: list[SourceRecord] = []
        try:
            while len(out) < self._batch:
                if self._lines is None and not self._open_next():
                    break
                self._read_into(out)
        except ConnectException:
            raise
        except Exception as e:
            where = f"s3://{self._bucket}/{self._current or self._prefix}"
            if _is_transient(e):
                if self._lines is not None and self._current is not None:
                    # Reopen this object at the line reached, on the next poll.
                    self._pending.appendleft(self._current)
                    self._resume_line = self._line_no
                self._close_object()
                raise RetriableException(f"Reading {where} failed: {e}") from e
            raise ConnectException(f"Reading {where} failed: {e}") from e
        return out or None

    def _read_into(self, out: list[SourceRecord]) -> None:
        assert self._lines is not None and self._current is not None
        key, partition, topic = self._current, self._partition, self._topic
        for raw in self._lines:
            self._line_no += 1
            text = raw.decode("utf-8").rstrip("\r\n")
            if not text.strip():
                continue
            try:
                value: Any = json.loads(text)
            except ValueError:
                value = text
            out.append(SourceRecord(partition, {"key": key, "line": self._line_no}, topic, None, None, None, None,
                                    value))
            if len(out) >= self._batch:
                return
        self._close_object()

    def _open_next(self) -> bool:
        if not self._pending:
            self._list()
        while self._pending:
            key = self._pending.popleft()
            skip, self._resume_line = self._resume_line, 0
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            self._body = response["Body"]
            lines = self._line_iter(key, self._body)
            for _ in range(skip):
                if next(lines, None) is None:
                    break
            self._current, self._lines, self._line_no = key, lines, skip
            return True
        return False

    @staticmethod
    def _line_iter(key: str, body: Any) -> Iterator[bytes]:
        if key.endswith(".gz"):
            import gzip

            return iter(gzip.GzipFile(fileobj=body))
        return body.iter_lines(keepends=True)

    def _list(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": self._prefix, "MaxKeys": _LIST_PAGE}
        if self._listed_after:
            kwargs["StartAfter"] = self._listed_after
        response = self._client.list_objects_v2(**kwargs)
        for item in response.get("Contents", []):
            key = item["Key"]
            self._listed_after = key
            if key.endswith("/") or _INTERNAL in key:
                continue
            self._pending.append(key)

    def _close_object(self) -> None:
        body, self._body, self._lines = self._body, None, None
        if body is not None:
            body.close()

    def stop(self) -> None:
        try:
            self._close_object()
        except Exception:  # stop must not raise
            self._body = None


def _is_transient(error: BaseException) -> bool:
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(error, (ConnectionError, ReadTimeoutError)):
        return True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        return code in ("SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "ThrottlingException")
    return False
