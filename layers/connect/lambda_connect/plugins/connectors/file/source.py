"""FileStreamSourceConnector: publish each new line of a file to one topic.

Same offsets as Kafka's ``FileStreamSourceTask``, so offsets copied from (or inspected
next to) a Kafka Connect cluster mean the same thing: source partition
``{"filename": path}``, source offset ``{"position": n}``. Our position counts bytes from
the start of the file (Kafka counts characters; identical for ASCII). Only complete lines
are emitted; a trailing line without newline waits for the next poll. ``poll`` returns
None at end of file, so a scheduled invocation ends as soon as there is nothing new.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from lambda_connect.api.config import ConfigDef, ConfigKey, ConfigType, ConfigValue, Importance, NonEmptyString, Range
from lambda_connect.api.connector import SourceConnector, SourceTask, Task
from lambda_connect.api.data import STRING_SCHEMA
from lambda_connect.api.errors import ConnectException
from lambda_connect.api.records import SourceRecord

__all__ = ["FileStreamSourceConnector", "FileStreamSourceTask"]

FILE_CONFIG = "file"
TOPIC_CONFIG = "topic"
BATCH_SIZE_CONFIG = "batch.size"
DEFAULT_BATCH_SIZE = 2000
FILENAME_FIELD = "filename"
POSITION_FIELD = "position"
SINGLE_TOPIC = "'topic' in FileStreamSourceConnector configuration requires definition of a single topic"


class FileStreamSourceTask(SourceTask):
    """Reads lines from the committed position onwards, ``batch.size`` at a time."""

    def __init__(self) -> None:
        super().__init__()
        self._filename: str | None = None
        self._topic = ""
        self._batch_size = DEFAULT_BATCH_SIZE
        self._stream: IO[bytes] | None = None
        self._position = 0
        self._buffer = b""

    def version(self) -> str:
        return FileStreamSourceConnector.version or "unknown"

    def start(self, props: Mapping[str, str]) -> None:
        self._filename = (props.get(FILE_CONFIG) or "").strip() or None
        self._topic = (props.get(TOPIC_CONFIG) or "").strip()
        if not self._topic or "," in self._topic:
            raise ConnectException(SINGLE_TOPIC)
        self._batch_size = int(props.get(BATCH_SIZE_CONFIG) or DEFAULT_BATCH_SIZE)

    def _open(self) -> IO[bytes] | None:
        if self._filename is None:
            return sys.stdin.buffer
        try:
            stream = open(self._filename, "rb")  # noqa: SIM115 - lives until stop()
        except FileNotFoundError:
            return None  # Kafka waits for the file to appear: nothing to read yet
        committed = None
        if self.context is not None:
            committed = self.context.offset_storage_reader.offset({FILENAME_FIELD: self._filename})
        if committed:
            position = committed.get(POSITION_FIELD)
            if not isinstance(position, int):
                stream.close()
                raise ConnectException("Offset position is the incorrect type")
            stream.seek(position)
            self._position = position
        return stream

    def poll(self) -> list[SourceRecord] | None:
        if self._stream is None:
            self._stream = self._open()
            if self._stream is None:
                return None
        records: list[SourceRecord] = []
        while len(records) < self._batch_size:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                chunk = self._stream.read1(65536) if hasattr(self._stream, "read1") else self._stream.read(65536)
                if not chunk:
                    break
                self._buffer += chunk
                continue
            raw, self._buffer = self._buffer[:newline], self._buffer[newline + 1:]
            self._position += newline + 1
            line = raw[:-1] if raw.endswith(b"\r") else raw
            records.append(self._record(line.decode("utf-8", errors="replace")))
        return records or None

    def _record(self, line: str) -> SourceRecord:
        partition: dict[str, Any] | None = None
        offset: dict[str, Any] | None = None
        if self._filename is not None:
            partition, offset = {FILENAME_FIELD: self._filename}, {POSITION_FIELD: self._position}
        return SourceRecord(partition, offset, self._topic, None, None, None, STRING_SCHEMA, line,
                            int(time.time() * 1000))

    def stop(self) -> None:
        if self._stream is not None and self._filename is not None:
            self._stream.close()
        self._stream = None


class FileStreamSourceConnector(SourceConnector):
    """Kafka's ``org.apache.kafka.connect.file.FileStreamSourceConnector``."""

    name = "org.apache.kafka.connect.file.FileStreamSourceConnector"
    version = "4.0.0"
    natural_poll_interval_ms = 1000  # Kafka's task tails the file with a one-second wait
    config_def = ConfigDef(
        ConfigKey(name=FILE_CONFIG, type=ConfigType.STRING, default=None, importance=Importance.HIGH,
                  doc="File to read lines from; unset, standard input is read."),
        ConfigKey(name=TOPIC_CONFIG, type=ConfigType.LIST, validator=NonEmptyString(), importance=Importance.HIGH,
                  doc="The topic to publish data to"),
        ConfigKey(name=BATCH_SIZE_CONFIG, type=ConfigType.INT, default=str(DEFAULT_BATCH_SIZE),
                  validator=Range.at_least(1), importance=Importance.LOW,
                  doc="Upper bound on the lines one poll returns."),
    )

    @classmethod
    def task_class(cls) -> type[Task]:
        return FileStreamSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """One task: a file has one reader (Kafka's connector ignores tasks.max too)."""
        return [dict(self.props)]

    @classmethod
    def validate(cls, props: Mapping[str, str]) -> dict[str, ConfigValue]:
        topics = [t.strip() for t in str(props.get(TOPIC_CONFIG) or "").split(",") if t.strip()]
        if len(topics) > 1:
            return {TOPIC_CONFIG: ConfigValue(TOPIC_CONFIG, props.get(TOPIC_CONFIG), errors=[SINGLE_TOPIC])}
        return {}

    def exactly_once_support(self, props: Mapping[str, str]) -> bool | None:
        """Exactly once is possible: offsets are byte positions in a file that only grows."""
        return True

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        """Offsets live only in the framework; validate their shape as Kafka does."""
        for offset in offsets.values():
            if offset is None:
                continue
            position = offset.get(POSITION_FIELD) if isinstance(offset, Mapping) else None
            if not isinstance(position, int) or position < 0:
                raise ConnectException(
                    f"The value for the '{POSITION_FIELD}' key in the offset is expected to be a non-negative integer"
                )
        return True
