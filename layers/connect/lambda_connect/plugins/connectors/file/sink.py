"""FileStreamSinkConnector: append each record's value to a file, one line per record.

Kafka's demo sink, kept faithful so its quickstart configs run unchanged: ``file`` names
the destination (unset or empty = standard output) and topics are the framework's
``topics``/``topics.regex``. Each value is written as its Java ``toString`` form.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import IO

from lambda_connect.api.config import ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.connector import SinkConnector, SinkTask, Task, TopicPartition
from lambda_connect.api.errors import ConnectException
from lambda_connect.api.records import SinkRecord

from ._render import java_string

__all__ = ["FileStreamSinkConnector", "FileStreamSinkTask"]

FILE_CONFIG = "file"


class FileStreamSinkTask(SinkTask):
    """Writes values as lines; ``flush`` makes them durable (fsync) before offsets commit."""

    def __init__(self) -> None:
        super().__init__()
        self._filename: str | None = None
        self._stream: IO[str] | None = None

    def version(self) -> str:
        return FileStreamSinkConnector.version or "unknown"

    def start(self, props: Mapping[str, str]) -> None:
        self._filename = (props.get(FILE_CONFIG) or "").strip() or None
        if self._filename is None:
            self._stream = sys.stdout
            return
        try:
            self._stream = open(self._filename, "a", encoding="utf-8")  # noqa: SIM115 - lives until stop()
        except OSError as e:
            raise ConnectException(f"Couldn't find or create file '{self._filename}' for FileStreamSinkTask") from e

    def put(self, records: Sequence[SinkRecord]) -> None:
        stream = self._stream
        if stream is None:
            raise ConnectException("FileStreamSinkTask.put called before start")
        stream.writelines(java_string(r.value) + "\n" for r in records)

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._stream is None:
            return
        self._stream.flush()
        if self._filename is not None:
            import os

            os.fsync(self._stream.fileno())

    def stop(self) -> None:
        if self._stream is not None and self._filename is not None:
            self._stream.close()
        self._stream = None


class FileStreamSinkConnector(SinkConnector):
    """Kafka's ``org.apache.kafka.connect.file.FileStreamSinkConnector``."""

    name = "org.apache.kafka.connect.file.FileStreamSinkConnector"
    version = "4.0.0"
    config_def = ConfigDef(
        ConfigKey(name=FILE_CONFIG, type=ConfigType.STRING, default=None, importance=Importance.HIGH,
                  doc="File the records are appended to; unset, they go to standard output."),
    )

    @classmethod
    def task_class(cls) -> type[Task]:
        return FileStreamSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]

