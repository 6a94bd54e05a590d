"""Iceberg sink: Kafka records into Apache Iceberg tables, exactly once, with no coordinator.

Configured with the keys of Apache Iceberg's own connector
(``org.apache.iceberg.connect.IcebergSinkConnector``); see ``config`` for the keys and
``writer``/``offsets`` for how each invocation writes and commits. In short: the table's
snapshots carry the Kafka offsets they hold, so a redelivered batch is filtered against the
table's own history; with ``iceberg.control.commit.interval-ms`` > 0 invocations register
their files as pending in the state table and one later invocation (or the reconciler's
rescan, through :meth:`IcebergSinkTask.idle`) commits them together.

``put`` only buffers (per thread: the local runtime may run two partitions' batches on one
task at once); ``flush`` routes, fits and converts every record of the batch for every
table first — bad records go to the errant record reporter before anything is written, so a
batch that fails writes no snapshot — and then writes and commits table by table. The task
counts ``written``, ``skipped_duplicates`` and ``errant`` for the runtime's metrics.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

from lambda_connect.api import (
    ConfigException,
    ConfigValue,
    ConnectException,
    DataException,
    RetriableException,
    SinkConnector,
    SinkRecord,
    SinkTask,
    Task,
)

from .config import CONFIG_DEF, IcebergSinkConfig

__all__ = ["IcebergSinkConnector", "IcebergSinkTask"]

log = logging.getLogger(__name__)


class IcebergSinkTask(SinkTask):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()
        self.written = 0
        self.skipped_duplicates = 0
        self.errant = 0

    def version(self) -> str:
        return "1.0"

    def start(self, props: Mapping[str, str]) -> None:
        self.config = IcebergSinkConfig.parse(props)
        try:
            from .catalog import load_catalog
            from .routing import Router
            from .writer import Shared
        except ImportError as e:  # pragma: no cover - depends on installed extras
            raise ConfigException("The Iceberg sink needs pyiceberg and pyarrow: "
                                  "pip install 'lambda-connect[iceberg]'") from e
        context = self.context
        connector = context.connector_name if context is not None else props.get("name", "iceberg-sink")
        storage = context.storage if context is not None else None
        if self.config.commit_interval_ms > 0 and storage is None:
            log.warning("connector %s: no state table to keep pending files in, so every invocation commits",
                        connector)
        self.router = Router(self.config)
        self.shared = Shared(self.config, load_catalog(self.config.catalog_name, self.config.catalog), connector,
                             storage, self._report)
        if context is not None:  # marks are tied to the topic's incarnation (see ``offsets``)
            self.shared.identity = lambda topic, refresh: context.topic_identity(topic, refresh=refresh)

    def _report(self, record: SinkRecord, error: BaseException) -> None:
        reporter = self.context.errant_record_reporter if self.context is not None else None
        self.errant += 1
        if reporter is None:
            raise DataException(f"Record {record.original_topic}-{record.original_kafka_partition}"
                                f"@{record.original_kafka_offset} cannot be written: {error}") from error
        reporter(record, error)

    def _buffer(self) -> list[SinkRecord]:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = []
        return buffer

    def put(self, records: Sequence[SinkRecord]) -> None:
        self._buffer().extend(records)

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Write (or register) everything put since the last flush; see the module docstring."""
        from .writer import TableBatch

        records, self._local.buffer = self._buffer(), []
        if not records:
            return
        by_table: dict[str, list[SinkRecord]] = {}
        unroutable = 0
        if self.router.everything:  # no routing keys: the whole batch goes to every table
            by_table = {table: records for table in self.router.tables}
        else:
            for record in records:
                try:
                    tables = self.router.route(record)
                except DataException as e:
                    self._report(record, e)
                    unroutable += 1
                    continue
                for table in tables:
                    by_table.setdefault(table, []).append(record)
        batches = [TableBatch(self.shared, name, recs) for name, recs in sorted(by_table.items())]
        try:
            for batch in batches:
                batch.prepare()
            for batch in batches:
                batch.commit()
        except ConnectException:
            raise
        except Exception as e:
            raise _classify(e) from e
        failed = set().union(*(b.failed for b in batches))
        if len(batches) == 1:  # the usual case: a skipped record is skipped everywhere
            duplicates = len(batches[0].skipped_ids - failed)
        else:
            tables_of: dict[int, int] = {}
            skipped_in: dict[int, int] = {}
            for batch in batches:
                for record in batch.records:
                    tables_of[id(record)] = tables_of.get(id(record), 0) + 1
                for rid in batch.skipped_ids:
                    skipped_in[rid] = skipped_in.get(rid, 0) + 1
            duplicates = sum(1 for rid, n in skipped_in.items() if n == tables_of[rid] and rid not in failed)
        self.skipped_duplicates += duplicates
        self.written += len(records) - unroutable - len(failed) - duplicates

    def idle(self) -> None:
        """Commit pending files whose interval has passed (the reconciler's rescan calls this)."""
        from .pending import PREFIX
        from .writer import commit_pending

        storage = self.shared.storage
        if storage is None or self.config.commit_interval_ms <= 0:
            return
        tables = sorted({str(v.get("table")) for v in storage.items(PREFIX).values()})
        for name in tables:
            try:
                commit_pending(self.shared, name)
            except Exception as e:
                raise _classify(e) from e

    def stop(self) -> None:
        self._local = threading.local()


def _classify(error: Exception) -> ConnectException:
    """pyiceberg/pyarrow/storage errors as Connect errors: transient ones are retriable."""
    name = type(error).__name__
    transient = ("CommitFailedException", "CommitStateUnknownException", "ServiceUnavailableError",
                 "ServerError", "OperationalError", "ConnectionError", "TimeoutError", "OSError")
    message = f"Iceberg sink: {name}: {error}"
    if name in transient or isinstance(error, OSError | TimeoutError):
        return RetriableException(message)
    return ConnectException(message)


class IcebergSinkConnector(SinkConnector):
    """Apache Iceberg's Kafka Connect sink, on pyiceberg and pyarrow."""

    name = "org.apache.iceberg.connect.IcebergSinkConnector"
    version = "1.0"
    config_def = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return IcebergSinkTask

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[tuple[str, int], int | None]) -> bool:
        """Move the marks the tables keep (KIP-875), so that the consumer groups and the tables agree:
        after a reset, redelivered records are written again instead of being skipped as copies.

        With static routing the listed tables are updated, with dynamic routing every table of
        the catalog that holds marks of this connector. Files still pending in the state table
        stay pending (their records are then not written twice)."""
        from .catalog import load_catalog
        from .writer import move_marks, tables_with_marks

        config = IcebergSinkConfig.parse(props)
        connector = str(props.get("name") or "")
        if not connector:
            raise ConnectException("Cannot move the Iceberg offsets: the connector config has no name")
        catalog = load_catalog(config.catalog_name, config.catalog)
        tables = tables_with_marks(catalog, connector) if config.dynamic else list(config.tables)
        try:
            for table in tables:
                move_marks(catalog, table, connector, dict(offsets))
        except ConnectException:
            raise
        except Exception as e:
            raise _classify(e) from e
        return True

    def reset_offsets(self, props: Mapping[str, str], partitions: Sequence[tuple[str, int]]) -> bool:
        """Forget every mark of this connector in its tables, known partitions or not."""
        from .catalog import load_catalog, load_table
        from .offsets import read_marks
        from .writer import move_marks, tables_with_marks

        config = IcebergSinkConfig.parse(props)
        connector = str(props.get("name") or "")
        catalog = load_catalog(config.catalog_name, config.catalog)
        for name in tables_with_marks(catalog, connector) if config.dynamic else config.tables:
            table = load_table(catalog, name)
            if table is not None:
                known = read_marks(table.metadata, connector)[0]
                move_marks(catalog, name, connector, dict.fromkeys([*known, *partitions]))
        return True

    @classmethod
    def validate(cls, props: Mapping[str, str]) -> dict[str, ConfigValue]:
        try:
            IcebergSinkConfig.parse(props)
        except ConfigException as e:
            errors = e.errors or {"iceberg.catalog.type": [str(e)]}
            return {k: ConfigValue(k, props.get(k), errors=list(v)) for k, v in errors.items()}
        return {}
