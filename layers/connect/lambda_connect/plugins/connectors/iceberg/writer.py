"""One table's share of a batch: filter by the table's marks, fit the schema, write, commit.

Order of work, and why:

1. load (or create) the table and read its marks (``offsets``), plus the offsets of files
   still pending in the state table: records below them are already written and are skipped.
   Marks count only in the topic incarnation they name: when the batch's topic has a new
   identity (deleted and created again, a new broker), a WARN says so, files still pending
   from the old incarnation are committed, and a snapshot without files starts the topic's
   marks over under the new identity (``_identify``);
2. fit every remaining record to the table's schema (evolving it first when allowed) and
   turn the rows into one Arrow table; a record that cannot be written is handed back as bad
   *before* anything is written, so a failed batch leaves no snapshot;
3. write the data files, then either commit them with the merged marks (interval 0, upsert)
   or record them as pending (deferred commits).

A commit that loses Iceberg's optimistic-concurrency race re-reads the table: if the winner
already covered our records (a zombie invocation did the same batch) we are done; if it
covered part of them we filter again and rewrite; else the same files are committed onto the
new parent with freshly merged marks. Retries back off with jitter and stop at the
invocation's budget as a ``RetriableException`` (the batch is redelivered, nothing is lost).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from lambda_connect.api import ConfigException, ConnectException, DataException, RetriableException, SinkRecord

from .. import positions
from . import offsets as marks_
from .catalog import create_table, load_table, no_retry, partition_spec
from .config import IcebergSinkConfig, TableOptions
from .pending import PendingEntry, decode_file, encode_file, table_prefix
from .schema import EVOLVE, FlatCheck, RowShapes, plain, rows_to_arrow, to_iceberg_schema

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from lambda_connect.api.storage import TaskStorage

__all__ = ["TableBatch", "Shared"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
_coordinates = attrgetter("original_topic", "original_kafka_partition")
_offset = attrgetter("original_kafka_offset")
_value = attrgetter("value")
#: Summary key: when (by the task's clock) a deferred commit happened, for the interval.
COMMITTED_MS = "lambda-connect.committed-ms"
Reporter = Callable[[SinkRecord, BaseException], None]
TP = tuple[str, int]


@dataclass
class Shared:
    """What every table of a task shares: config, catalog, storage, per-table shape caches."""

    config: IcebergSinkConfig
    catalog: Catalog
    connector: str
    storage: TaskStorage | None
    report: Reporter
    shapes: dict[str, RowShapes] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    #: ``(topic, refresh) -> identity``: ``SinkTaskContext.topic_identity`` (None: cannot be known).
    identity: Callable[[str, bool], str | None] = lambda topic, refresh: None

    @property
    def deferred(self) -> bool:
        return self.config.commit_interval_ms > 0 and self.storage is not None


class _Overlap(Exception):
    """Another commit added some of our records meanwhile: filter again and rewrite."""


class TableBatch:
    """Writes ``records`` (already routed to ``name``) into that table."""

    def __init__(self, shared: Shared, name: str, records: list[SinkRecord]) -> None:
        self.s = shared
        self.name = name
        self.options: TableOptions = shared.config.options(name)
        self.records = records
        self.skipped_ids: set[int] = set()  # id() of records the table already holds
        self.failed: set[int] = set()  # id() of records reported as bad
        self.table: Table | None = None
        self._files: list[Any] | None = None
        #: topic -> identity of the incarnation the batch's records come from (known ones only).
        self.identities: dict[str, str] = {}

    # --- entry ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Steps 1 and 2 (see the module docstring): nothing is written yet."""
        self.table = self._load()
        # Partition runs, grouped once: the identity check and the filter both walk them.
        runs = [(tp, list(group)) for tp, group in groupby(self.records, _coordinates)]
        self._identify(runs)
        self._fresh(self._existing_marks(), runs)

    def commit(self) -> None:
        """Step 3, with retries on conflicts."""
        for attempt in range(MAX_ATTEMPTS):
            if not self.kept:
                return
            try:
                if self.s.config.keyed:
                    self._commit_keyed()
                elif self.s.deferred:
                    self._write_pending()
                else:
                    if self._files is None:
                        self._files = self._write_files()
                    self._commit_append(self._files)
                return
            except _Overlap:
                log.info("table %s: a concurrent commit added some of this batch; filtering again", self.name)
                self._files = None
            except _Conflict:
                pass
            _sleep_backoff(self.s, attempt)
            self.table = self._load()
            self._keep_above(self._existing_marks())
        raise RetriableException(f"Iceberg table {self.name}: gave up after {MAX_ATTEMPTS} conflicting commits; "
                                 "the batch is redelivered")

    # --- step 1 ----------------------------------------------------------------------------
    def _load(self) -> Table:
        cfg = self.s.config
        table = load_table(self.s.catalog, self.name)
        if table is not None:
            return table
        if not cfg.auto_create:
            raise ConnectException(f"Iceberg table {self.name} does not exist and "
                                   "iceberg.tables.auto-create-enabled is false")
        sample = next((r for r in self.records if isinstance(r.value, dict) or hasattr(r.value, "schema")), None)
        if sample is None:
            raise DataException(f"Cannot create Iceberg table {self.name}: the batch has no record value to take "
                                "a schema from")
        struct = self._shapes.struct_of(sample.value)
        if cfg.force_optional:
            struct = type(struct)(*[f.model_copy(update={"required": False}) for f in struct.fields])
        schema = to_iceberg_schema(struct, self.options.id_columns)
        spec = partition_spec(self.options.partition_by, schema, self.name)
        log.info("creating Iceberg table %s", self.name)
        return create_table(self.s.catalog, self.name, schema, spec, cfg.auto_create_props)

    @property
    def _shapes(self) -> RowShapes:
        shapes = self.s.shapes.get(self.name)
        if shapes is None:
            shapes = self.s.shapes[self.name] = RowShapes()
        return shapes

    def _identify(self, runs: list[tuple[TP, list[SinkRecord]]]) -> None:
        """Which incarnation of each topic the batch comes from, and what that means for the
        table's marks (see ``..positions``): looked up from the per-container cache, asked
        afresh only when the batch looks like a redelivery or the stored identity differs."""
        assert self.table is not None
        marks, snapshot = marks_.read_marks(self.table.metadata, self.s.connector)
        stored = marks_.read_identities(snapshot, self.s.connector)
        lowest: dict[TP, int] = {}
        for tp, run in runs:
            first = run[0].original_kafka_offset  # a partition's records arrive in offset order
            lowest[tp] = min(first, lowest.get(tp, first))
        current = positions.current_identities(lowest, {tp: m - 1 for tp, m in marks.items()},
                                               {tp: stored.get(tp[0]) for tp in lowest}, self.s.identity)
        self.identities = {t: i for t, i in current.items() if i is not None}
        moved = {t: i for t, i in self.identities.items() if not marks_.agree(stored.get(t), i)}
        if not moved:
            return
        resets = [positions.Reset(tp, stored[tp[0]], moved[tp[0]], m - 1)
                  for tp, m in sorted(marks.items()) if tp[0] in moved]
        resets += [positions.Reset(tp, stored[tp[0]], moved[tp[0]], -1)
                   for tp in sorted(lowest) if tp[0] in moved and tp not in marks]
        positions.warn_resets(self.s.connector, resets, f"the snapshots of Iceberg table {self.name}")
        if self.s.deferred:  # what the old incarnation left pending was acknowledged: commit it first
            commit_pending(self.s, self.name, force=True)
        start_over(self.s, self.name, moved)
        self.table = self._load()

    def _existing_marks(self) -> dict[TP, int]:
        """The marks that filter this batch: the table's and those of pending files, in the
        batch's incarnation of each topic."""
        assert self.table is not None
        marks, snapshot = marks_.read_marks(self.table.metadata, self.s.connector)
        marks = marks_.applicable(marks, marks_.read_identities(snapshot, self.s.connector), self.identities)
        if self.s.deferred:
            for entry in self._pending():
                marks = marks_.merge(marks, marks_.applicable(entry.ends, entry.identities, self.identities))
        return marks

    def _pending(self) -> list[PendingEntry]:
        assert self.s.storage is not None
        return [PendingEntry.from_item(k, v) for k, v in self.s.storage.items(table_prefix(self.name)).items()]

    # --- step 2 ----------------------------------------------------------------------------
    # The batch's surviving records, as parallel lists: ``kept`` (the records), ``rows`` (their
    # values as maps; None for a delete) and, for upsert/CDC tables, ``keys`` (id column values).
    kept: list[SinkRecord]
    rows: list[dict[str, Any] | None]
    keys: list[tuple[Any, ...]]

    def _fresh(self, marks: dict[TP, int], runs: list[tuple[TP, list[SinkRecord]]]) -> None:
        """Keep the records above the marks, fitted to the schema (evolving it when allowed).

        The common case — a map of a shape already seen, fitting the table — costs two tuple
        builds and a dict lookup per record; anything else takes ``_slow`` for that record."""
        assert self.table is not None
        cfg = self.s.config
        keyed = cfg.keyed
        id_columns = self._id_columns() if keyed else ()
        schema = self.table.schema()
        shapes = self._shapes
        if shapes.table_uuid != self.table.metadata.table_uuid:  # schema ids restart in a re-created table
            shapes.reset_verdicts()
            shapes.table_uuid = self.table.metadata.table_uuid
        fast = shapes.fast(schema.schema_id)
        flat = FlatCheck.of(schema, cfg.evolve) if not keyed else None
        kept: list[SinkRecord] = []
        rows: list[dict[str, Any] | None] = []
        keys: list[tuple[Any, ...]] = []
        evolve: dict[int, Any] = {}
        skipped = self.skipped_ids
        fits = flat.compiled() if flat is not None else None
        for tp, run in runs:
            mark = marks.get(tp, 0)
            if fits is not None and min(map(_offset, run)) >= mark:
                # The usual run: nothing below the mark, and every value a map that fits as it is.
                values = list(map(_value, run))
                if all(map(fits, values)):
                    kept.extend(run)
                    rows.extend(values)
                    continue
            for record in run:
                if record.original_kafka_offset < mark:
                    skipped.add(id(record))
                    continue
                value = record.value
                if not keyed and type(value) is dict:
                    if ((fits is not None and fits(value))
                            or fast.get((tuple(value), tuple(map(type, value.values())))) is True):
                        kept.append(record)
                        rows.append(value)
                        continue
                elif value is None and not keyed:
                    continue  # a tombstone means nothing to an append table (Iceberg's connector skips it too)
                try:
                    row, key = self._slow(record, id_columns, schema, evolve)
                except DataException as e:
                    self._bad(record, e)
                    continue
                kept.append(record)
                rows.append(row)
                if keyed:
                    keys.append(key)  # type: ignore[arg-type]
        self.kept, self.rows, self.keys = kept, rows, keys
        if evolve:
            self._evolve(list(evolve.values()))
        self._convertible()

    def _slow(self, record: SinkRecord, id_columns: tuple[str, ...], schema: Any,
              evolve: dict[int, Any]) -> tuple[dict[str, Any] | None, tuple[Any, ...] | None]:
        """One record the fast path could not take: its row and key, or DataException."""
        cfg = self.s.config
        shapes = self._shapes
        value = record.value
        if cfg.keyed:
            row, key = self._keyed_row(record, id_columns)
        else:
            if not isinstance(value, dict) and not hasattr(value, "schema"):
                raise DataException(f"value is {type(value).__name__}, not a struct or map: Iceberg rows "
                                    "need named fields")
            row, key = plain(value), None
        if row is not None:
            struct = shapes.struct_of(value)
            if shapes.verdict(struct, schema) == EVOLVE:
                if cfg.evolve:
                    evolve.setdefault(id(struct), struct)
            elif type(value) is dict and not cfg.keyed:
                shapes.remember_fit(schema.schema_id, value)
        return row, key

    def _keep_above(self, marks: dict[TP, int]) -> None:
        """After a lost race: keep only what is still above the (new) marks."""
        get = marks.get
        keep = [i for i, r in enumerate(self.kept)
                if r.original_kafka_offset >= get((r.original_topic, r.original_kafka_partition), 0)]
        if len(keep) == len(self.kept):
            return
        dropped = set(range(len(self.kept))) - set(keep)
        self.skipped_ids.update(id(self.kept[i]) for i in dropped)
        self.kept = [self.kept[i] for i in keep]
        self.rows = [self.rows[i] for i in keep]
        if self.keys:
            self.keys = [self.keys[i] for i in keep]
        self._files = None

    def _id_columns(self) -> tuple[str, ...]:
        assert self.table is not None
        columns = self.options.id_columns
        if not columns:
            schema = self.table.schema()
            columns = tuple(schema.find_column_name(i) or "" for i in schema.identifier_field_ids)
        if not columns:
            raise ConfigException(f"Iceberg table {self.name}: upsert and CDC need id columns "
                                  "(iceberg.tables.default-id-columns or identifier fields of the table)")
        return columns

    def _keyed_row(self, record: SinkRecord, id_columns: tuple[str, ...]) -> tuple[dict[str, Any] | None,
                                                                                  tuple[Any, ...]]:
        """(row, key) of an upsert/CDC record; row None means "delete the key"."""
        value = record.value
        if value is None:
            return None, self._key_of(record.key, id_columns, record, "key")
        row = plain(value)
        if not isinstance(row, dict):
            raise DataException(f"value is {type(value).__name__}, not a struct or map")
        op = ""
        if self.s.config.cdc_field:
            op = str(row.get(self.s.config.cdc_field) or "")[:1].upper()
        key = tuple(row.get(c) for c in id_columns)
        if any(k is None for k in key):
            if op == "D":
                return None, self._key_of(record.key, id_columns, record, "key")
            missing = [c for c, k in zip(id_columns, key, strict=True) if k is None]
            raise DataException(f"id column(s) {', '.join(missing)} missing or null in the value")
        return (None if op == "D" else row), key

    @staticmethod
    def _key_of(key: Any, id_columns: tuple[str, ...], record: SinkRecord, what: str) -> tuple[Any, ...]:
        key = plain(key)
        if isinstance(key, dict):
            values = tuple(key.get(c) for c in id_columns)
        elif key is not None and len(id_columns) == 1:
            values = (key,)
        else:
            values = (None,)
        if any(v is None for v in values):
            raise DataException(f"a delete needs the id column(s) {', '.join(id_columns)} in the record {what}")
        return values

    def _evolve(self, structs: list[Any]) -> None:
        from pyiceberg.exceptions import CommitFailedException
        from pyiceberg.schema import Schema as IcebergSchema

        for attempt in range(MAX_ATTEMPTS):
            assert self.table is not None
            try:
                with self.table.update_schema() as update:
                    for struct in structs:
                        update.union_by_name(IcebergSchema(*[f.model_copy(update={"required": False})
                                                             for f in struct.fields]))
                log.info("evolved the schema of Iceberg table %s", self.name)
                return
            except CommitFailedException:
                _sleep_backoff(self.s, attempt)
                self.table = self._load()
            except ValueError as e:  # pyiceberg refuses an incompatible change
                raise ConnectException(f"Iceberg table {self.name}: cannot evolve the schema: {e}") from e
        raise RetriableException(f"Iceberg table {self.name}: schema update kept conflicting")

    def _convertible(self) -> None:
        """Keep the rows Arrow accepts in the table schema; report the others as bad."""
        assert self.table is not None
        schema = self.table.schema()
        try:
            self.arrow = rows_to_arrow([r for r in self.rows if r is not None], schema)
            return
        except Exception:  # find the culprits one by one (rare: only when something does not fit)
            pass
        keep = []
        for i, row in enumerate(self.rows):
            if row is not None:
                try:
                    rows_to_arrow([row], schema)
                except Exception as e:
                    self._bad(self.kept[i], DataException(f"does not fit Iceberg table {self.name}: {e}"))
                    continue
            keep.append(i)
        self.kept = [self.kept[i] for i in keep]
        self.rows = [self.rows[i] for i in keep]
        if self.keys:
            self.keys = [self.keys[i] for i in keep]
        self.arrow = rows_to_arrow([r for r in self.rows if r is not None], schema)

    def _bad(self, record: SinkRecord, error: DataException) -> None:
        self.failed.add(id(record))
        self.s.report(record, error)

    def _rebuild_arrow(self) -> None:
        assert self.table is not None
        self.arrow = rows_to_arrow([r for r in self.rows if r is not None], self.table.schema())

    # --- step 3 ----------------------------------------------------------------------------
    def _ranges(self) -> dict[TP, tuple[int, int]]:
        """Per partition: first offset and one past the last of the kept records."""
        out: dict[TP, tuple[int, int]] = {}
        for tp, run in groupby(self.kept, _coordinates):
            offsets = list(map(_offset, run))
            low, high = min(offsets), max(offsets) + 1
            if tp in out:
                low, high = min(low, out[tp][0]), max(high, out[tp][1])
            out[tp] = (low, high)
        return out

    def _props(self, state: tuple[dict[TP, int], dict[str, str]], ranges: dict[TP, tuple[int, int]]) -> dict[str, str]:
        marks, stored = state
        ends = {tp: end for tp, (_, end) in ranges.items()}
        merged, identities = marks_.advance(marks, stored, ends, self.identities)
        return _summary(self.s.connector, merged, identities, self.s.clock())

    def _check_marks(self, table: Table,
                     ranges: dict[TP, tuple[int, int]]) -> tuple[dict[TP, int], dict[str, str]] | None:
        """The table's marks and identities, or None when they already cover all of ``ranges``;
        raises _Overlap when they cover a part."""
        marks, snapshot = marks_.read_marks(table.metadata, self.s.connector)
        stored = marks_.read_identities(snapshot, self.s.connector)
        mine = marks_.applicable(marks, stored, self.identities)
        if all(mine.get(tp, 0) >= end for tp, (_, end) in ranges.items()):
            return None
        if any(mine.get(tp, 0) > start for tp, (start, _) in ranges.items()):
            raise _Overlap
        return marks, stored

    def _write_files(self) -> list[Any]:
        from pyiceberg.io.pyarrow import _dataframe_to_data_files

        assert self.table is not None
        if len(self.rows) != self.arrow.num_rows and sum(r is not None for r in self.rows) != self.arrow.num_rows:
            self._rebuild_arrow()
        return list(_dataframe_to_data_files(table_metadata=self.table.metadata, df=self.arrow, io=self.table.io,
                                             write_uuid=uuid.uuid4()))

    def _commit_append(self, files: list[Any], extra: Iterable[PendingEntry] = ()) -> None:
        from pyiceberg.exceptions import CommitFailedException

        assert self.table is not None
        ranges = self._ranges()
        view = no_retry(self.table)
        state = self._check_marks(view, ranges)
        if state is None:
            self.skipped_ids.update(map(id, self.kept))
            self.kept = []
            return
        tx = view.transaction()
        with tx.update_snapshot(snapshot_properties=self._props(state, ranges)).fast_append() as append:
            for data_file in files:
                append.append_data_file(data_file)
        try:
            tx.commit_transaction()
        except CommitFailedException as e:
            raise _Conflict from e
        self.kept = []

    def _commit_keyed(self) -> None:
        """Upsert/CDC: delete every key of the batch and append the surviving rows, one transaction."""
        from pyiceberg.exceptions import CommitFailedException

        assert self.table is not None
        ranges = self._ranges()
        view = no_retry(self.table)
        state = self._check_marks(view, ranges)
        if state is None:
            self.skipped_ids.update(map(id, self.kept))
            self.kept = []
            return
        id_columns = self._id_columns()
        last: dict[tuple[Any, ...], dict[str, Any] | None] = {}
        for key, row in zip(self.keys, self.rows, strict=True):  # the last change of a key in the batch wins
            last.pop(key, None)
            last[key] = row
        rows = [r for r in last.values() if r is not None]
        props = self._props(state, ranges)
        tx = view.transaction()
        if view.current_snapshot() is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "did not match any records" is expected for new keys
                tx.delete(_key_filter(id_columns, list(last)), snapshot_properties=props)
        if rows:
            tx.append(rows_to_arrow(rows, view.schema()), snapshot_properties=props)
        try:
            tx.commit_transaction()
        except CommitFailedException as e:
            raise _Conflict from e
        self.kept = []

    # --- deferred commits -------------------------------------------------------------------
    def _write_pending(self) -> None:
        assert self.table is not None and self.s.storage is not None
        files = self._write_files()
        ranges = self._ranges()
        entry = PendingEntry(f"{table_prefix(self.name)}{uuid.uuid4()}", self.name, ranges,
                             [encode_file(f, self.table) for f in files], int(self.s.clock() * 1000),
                             identities={t: i for t, i in self.identities.items() if any(tp[0] == t for tp in ranges)})
        entry.store_files(self.table)  # a large list goes to a file first: the entry then names it
        self.s.storage.put(entry.key, entry.to_item())
        self.kept = []
        commit_pending(self.s, self.name, self.table)


class _Conflict(Exception):
    """The catalog refused the commit: someone else committed first."""


def _key_filter(columns: tuple[str, ...], keys: list[tuple[Any, ...]]) -> Any:
    from pyiceberg.expressions import And, EqualTo, In, Or

    if len(columns) == 1:
        return In(columns[0], {k[0] for k in keys})
    terms = [And(*[EqualTo(c, v) for c, v in zip(columns, k, strict=True)]) for k in keys]
    return terms[0] if len(terms) == 1 else Or(*terms)


def _due(shared: Shared, table: Table, entries: list[PendingEntry]) -> bool:
    _, snapshot = marks_.read_marks(table.metadata, shared.connector)
    if snapshot is None:
        last_ms = min(e.created_ms for e in entries)
    else:  # the committer's own clock when it noted it, else the catalog's
        last_ms = int((snapshot.summary or {}).get(COMMITTED_MS) or snapshot.timestamp_ms)
    return shared.clock() * 1000 - last_ms >= shared.config.commit_interval_ms


def commit_pending(shared: Shared, name: str, table: Table | None = None, *, force: bool = False) -> int:
    """Commit the pending files of ``name`` if the interval has passed (or ``force``): one
    snapshot for all of them. Returns how many entries were committed."""
    from pyiceberg.exceptions import CommitFailedException

    assert shared.storage is not None
    for attempt in range(MAX_ATTEMPTS):
        table = table if table is not None else load_table(shared.catalog, name)
        if table is None:
            return 0
        entries = sorted((PendingEntry.from_item(k, v) for k, v in shared.storage.items(table_prefix(name)).items()),
                         key=lambda e: e.created_ms)
        if not entries:
            return 0
        view = no_retry(table)
        marks, snapshot = marks_.read_marks(view.metadata, shared.connector)
        stored = marks_.read_identities(snapshot, shared.connector)
        done = [e for e in entries if e.covered_by(marks, stored)]
        todo = [e for e in entries if not e.covered_by(marks, stored)]
        if done:  # committed by someone who died before cleaning up: never commit them again
            shared.storage.delete([e.key for e in done])
            for entry in done:
                entry.drop_files(view)
            done = []
        if not todo or not (force or _due(shared, table, todo)):
            return 0
        if todo:
            merged, identities = marks, stored
            for entry in todo:  # an entry of another incarnation than the table's commits its files only
                merged, identities = marks_.advance(merged, identities, entry.ends, entry.identities)
            props = _summary(shared.connector, merged, identities, shared.clock())
            tx = view.transaction()
            with tx.update_snapshot(snapshot_properties=props).fast_append() as append:
                for entry in todo:
                    for item in entry.load_files(view):
                        append.append_data_file(decode_file(item, view))
            try:
                tx.commit_transaction()
            except CommitFailedException:
                _sleep_backoff(shared, attempt)
                table = None
                continue
            log.info("Iceberg table %s: committed %d pending file set(s) in one snapshot", name, len(todo))
        shared.storage.delete([e.key for e in done + todo])
        for entry in done + todo:
            entry.drop_files(view)
        return len(todo)
    raise RetriableException(f"Iceberg table {name}: pending files kept conflicting; they stay pending")


def _sleep_backoff(shared: Shared, attempt: int) -> None:
    shared.sleep(min(0.05 * 2 ** attempt, 2.0) * (0.5 + random.random()))


def _summary(connector: str, marks: dict[TP, int], identities: dict[str, str], now: float | None) -> dict[str, str]:
    """Snapshot properties of a commit: marks, identities, a commit id (and when, for the interval)."""
    props = {marks_.summary_key(connector): marks_.encode(marks), marks_.COMMIT_ID_KEY: str(uuid.uuid4())}
    if identities:
        props[marks_.identities_key(connector)] = marks_.encode_identities(identities)
    if now is not None:
        props[COMMITTED_MS] = str(int(now * 1000))
    return props


def start_over(shared: Shared, name: str, moved: dict[str, str]) -> None:
    """Forget the marks of the ``moved`` topics and name their new identities, in a snapshot
    without files: the new incarnation then counts from nothing (see ``_identify``). The time
    of the last real commit is carried over, so the commit interval is not pushed back."""
    from pyiceberg.exceptions import CommitFailedException

    for attempt in range(MAX_ATTEMPTS):
        table = load_table(shared.catalog, name)
        if table is None:
            return
        marks, snapshot = marks_.read_marks(table.metadata, shared.connector)
        stored = marks_.read_identities(snapshot, shared.connector)
        if all(stored.get(t) == i for t, i in moved.items()):
            return  # another invocation got there first
        kept = {tp: m for tp, m in marks.items() if tp[0] not in moved}
        props = _summary(shared.connector, kept, {**stored, **moved}, None)
        last = (snapshot.summary or {}).get(COMMITTED_MS) if snapshot is not None else None
        if last:
            props[COMMITTED_MS] = last
        tx = no_retry(table).transaction()
        with tx.update_snapshot(snapshot_properties=props).fast_append():
            pass
        try:
            tx.commit_transaction()
            return
        except CommitFailedException:
            _sleep_backoff(shared, attempt)
    raise RetriableException(f"Iceberg table {name}: could not start the marks of a recreated topic over, "
                             "the table kept changing; the batch is redelivered")




def move_marks(catalog: Catalog, name: str, connector: str, offsets: dict[TP, int | None]) -> bool:
    """Set the connector's marks in ``name`` (None forgets a partition) with a snapshot that adds
    no files (KIP-875 alter/reset). Returns False when the table does not exist."""
    from pyiceberg.exceptions import CommitFailedException

    for attempt in range(MAX_ATTEMPTS):
        table = load_table(catalog, name)
        if table is None:
            return False
        marks, snapshot = marks_.read_marks(table.metadata, connector)
        for tp, offset in offsets.items():
            if offset is None:
                marks.pop(tp, None)
            else:
                marks[tp] = int(offset)
        tx = no_retry(table).transaction()
        # The identities stay: the offsets were moved within the topics' current incarnations.
        props = _summary(connector, marks, marks_.read_identities(snapshot, connector), None)
        with tx.update_snapshot(snapshot_properties=props).fast_append():
            pass
        try:
            tx.commit_transaction()
            return True
        except CommitFailedException:
            time.sleep(min(0.05 * 2 ** attempt, 2.0))
    raise ConnectException(f"Iceberg table {name}: could not move the offsets, the table kept changing")


def tables_with_marks(catalog: Catalog, connector: str) -> list[str]:
    """Every table of the catalog that holds marks of ``connector`` (dynamic routing's tables)."""
    out = []
    for namespace in catalog.list_namespaces():
        for identifier in catalog.list_tables(namespace):
            name = ".".join(identifier)
            table = load_table(catalog, name)
            if table is not None and marks_.read_marks(table.metadata, connector)[1] is not None:
                out.append(name)
    return out
