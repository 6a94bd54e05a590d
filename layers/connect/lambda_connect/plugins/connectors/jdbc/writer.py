"""One flush = one database transaction: the rows of the batch plus the partition high-water marks.

Order of work, and why:
1. read the stored marks (no lock) to drop records already written by an earlier delivery —
   a mark stored under another incarnation of the topic counts as -1 (``..positions``);
2. run DDL (auto.create/auto.evolve) in separate transactions — MySQL commits around DDL;
3. open the data transaction, lock the marks ``FOR UPDATE`` and filter again (another
   invocation may have moved them since step 1), write every run in bulk, re-key marks of
   an earlier incarnation, raise the marks,
   hand rejected records to the errant record reporter, commit.
If a bulk statement fails for a non-transient reason, the transaction is rolled back and
replayed row by row under savepoints, so the one bad record is reported (or named in the
error) and the rest of the batch still lands — all in one transaction again.

The short way: a batch of new records that the extractor put into bunches, one per table (the
usual Lambda batch: one topic, one shape), is written by ``_write_bunches`` with the same steps
and statements but no per-record objects; anything unusual (a redelivery, a DDL error, marks
moved under the lock, a refused bulk statement) hands the batch to the general path above.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambda_connect.api import ConnectException, DataException, RetriableException, SinkRecord

from ..positions import IdentityLookup, current_identities, reconcile, warn_resets
from .bulk import Run, execute_bulk, execute_row
from .ddl import TableManager
from .dialects import Column, Dialect, TableId
from .offsets import OffsetStore, Partition
from .schema_mapping import Bunch, Failed, RowPlan, merge_schemas

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["Failed", "JdbcWriter", "WriteResult"]

log = logging.getLogger(__name__)

Reporter = Callable[[SinkRecord, BaseException], None]


Entry = RowPlan | Failed | Bunch


@dataclass
class WriteResult:
    written: int = 0
    deleted: int = 0
    skipped_duplicates: int = 0
    errant: int = 0


def _coords(entry: Entry) -> tuple[Partition, int]:
    r = entry.record
    return (r.original_topic, r.original_kafka_partition), r.original_kafka_offset


def _offset_range(entries: Sequence[Entry]) -> tuple[dict[Partition, int], dict[Partition, int]]:
    """Lowest and highest original offset per partition, in one pass over the batch."""
    lowest: dict[Partition, int] = {}
    highest: dict[Partition, int] = {}
    _widen_by(lowest, highest, (e.record for e in entries))
    return lowest, highest


def _widen_by(lowest: dict[Partition, int], highest: dict[Partition, int], records: Iterable[SinkRecord]) -> None:
    """Widen the ranges by ``records``, one dict update per run of one partition rather than per record."""
    topic: str | None = None
    partition = lo = hi = -1
    for r in records:
        o = r.original_kafka_offset
        if r.original_kafka_partition != partition or r.original_topic != topic:
            if topic is not None:
                _widen(lowest, highest, (topic, partition), lo, hi)
            topic, partition, lo, hi = r.original_topic, r.original_kafka_partition, o, o
        elif o < lo:
            lo = o
        elif o > hi:
            hi = o
    if topic is not None:
        _widen(lowest, highest, (topic, partition), lo, hi)


def _widen(lowest: dict[Partition, int], highest: dict[Partition, int], p: Partition, lo: int, hi: int) -> None:
    if lo < lowest.get(p, lo + 1):
        lowest[p] = lo
    if hi > highest.get(p, -1):
        highest[p] = hi


def record_error(record: SinkRecord, error: BaseException, table: TableId | None = None) -> ConnectException:
    where = f" to table {table}" if table is not None else ""
    return ConnectException(
        f"Exception writing record{where} (topic={record.topic}, partition={record.kafka_partition}, "
        f"offset={record.kafka_offset}): {error}"
    )


def _missing_schema(table: TableId, topic: str, error: BaseException) -> ConnectException | None:
    """The error for a dotted table name whose schema part does not exist in the database (a topic
    ``target.a`` becomes table ``"target"."a"``), saying the ways out; None for any other error."""
    text = str(error)
    if not table.schema or ("does not exist" not in text and "Unknown database" not in text):
        return None
    if "schema" not in text.lower() and "Unknown database" not in text:
        return None
    error_out = ConnectException(
        f"Topic {topic!r} maps to table \"{table.schema}\".\"{table.table}\" "
        "(a dot in the table name separates the schema from the table), "
        f"and the database has no schema {table.schema!r}: create it (CREATE SCHEMA \"{table.schema}\"), "
        "or set table.name.format to a name without a dot, or rename the topic on the way in with a RegexRouter "
        "that replaces the dots (transforms.dots.type=RegexRouter, transforms.dots.regex=([^.]*)\\.(.*), "
        f"transforms.dots.replacement=$1_$2). Database said: {text.strip().splitlines()[0] if text.strip() else text}"
    )
    error_out.__cause__ = error
    return error_out


class _Rejected(Exception):
    """A record failed and there is no errant record reporter: the batch must fail."""

    def __init__(self, error: ConnectException) -> None:
        super().__init__(str(error))
        self.error = error


def _merge_table(
    plans: Sequence[RowPlan], exists: Callable[[str], bool]
) -> tuple[dict[str, Column], list[RowPlan], list[Failed], set[str]]:
    """One column list for a table's plans; which plans are rejected; the columns they disagree on.

    Type conflicts are decided per record against the table, never by which record came first:

    * a column the table already has is the table's: records that disagree about its type are
      not rejected here but written, and the database takes or refuses each row (a refused row
      is isolated by the row-by-row replay and reported alone). Such a column is bound by each
      value's own type instead of one schema (the fourth result);
    * a column this batch creates (``auto.create`` / ``auto.evolve``) takes the type of the
      first record that has it, widened within its compatibility class (unknown → anything,
      ints → wider ints → FLOAT64); a record whose type conflicts with that is rejected,
      naming the field.

    Plans of one shape share their ``columns`` tuple, so each distinct tuple is merged once:
    a merge only ever widens a column within its class, so a shape that fits once fits every
    later time, and a shape that conflicts once conflicts every later time.
    """
    merged: dict[str, Column] = {}
    conflicts: set[str] = set()
    verdicts: dict[int, DataException | None] = {}
    ok: list[RowPlan] = []
    failed: list[Failed] = []
    for plan in plans:
        columns = plan.columns
        verdict = verdicts.get(id(columns), _UNSEEN)
        if verdict is _UNSEEN:
            verdict = verdicts[id(columns)] = _merge_into(merged, columns, exists, conflicts)
        if verdict is None:
            ok.append(plan)
        else:
            failed.append(Failed(plan.record, DataException(*verdict.args)))
    return merged, ok, failed, conflicts


_UNSEEN: Any = object()


def _merge_into(
    merged: dict[str, Column], columns: Sequence[Column], exists: Callable[[str], bool], conflicts: set[str]
) -> DataException | None:
    """Merge ``columns`` into ``merged`` all or nothing; the conflict on a new column, if any, is
    returned. A conflict on a column the table has keeps the merged type and is noted in ``conflicts``."""
    update = {}
    disputed = []
    for col in columns:
        seen = merged.get(col.name)
        if seen is None:
            update[col.name] = col
        elif seen is not col:
            try:
                schema = merge_schemas(col.name, seen.schema, col.schema)
            except DataException as e:
                if not exists(col.name):
                    return e
                disputed.append(col.name)
                continue
            key = col.key or seen.key
            if schema is not seen.schema or key is not seen.key:
                update[col.name] = Column(col.name, schema, key)
    merged.update(update)
    conflicts.update(disputed)
    return None


def _pick_key(keys: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """``values → tuple of key values`` at C speed (a 1-tuple too, so keys of any width compare alike)."""
    if not keys:
        return lambda values: ()
    if len(keys) == 1:
        only = keys[0]
        return lambda values: (values[only],)
    return operator.itemgetter(*keys)


def _distinct_bunches(entries: Sequence[Entry]) -> list[Bunch] | None:
    """``entries`` when they are all bunches of distinct tables (the short way), else None."""
    tables: set[TableId] = set()
    for e in entries:
        if type(e) is not Bunch or e.table in tables:
            return None
        tables.add(e.table)
    return entries  # type: ignore[return-value]


def _expand(entries: Sequence[Entry]) -> list[RowPlan | Failed]:
    """Bunches as the RowPlans of their records, for the general path."""
    if not any(type(e) is Bunch for e in entries):
        return entries  # type: ignore[return-value]
    out: list[RowPlan | Failed] = []
    for e in entries:
        if type(e) is Bunch:
            out.extend(e.plans())  # type: ignore[union-attr]
        else:
            out.append(e)  # type: ignore[arg-type]
    return out


def _bunch_offset_range(bunches: Sequence[Bunch]) -> tuple[dict[Partition, int], dict[Partition, int]]:
    """``_offset_range`` of the bunches' records (the same single pass, over the records themselves)."""
    lowest: dict[Partition, int] = {}
    highest: dict[Partition, int] = {}
    for bunch in bunches:
        _widen_by(lowest, highest, bunch.records)
    return lowest, highest


def _last_per_key(values: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The last row of each key, in the order of those last rows (what ``_runs`` keeps): an
    upsert or update never touches a row twice in one statement."""
    last = dict(zip(map(operator.itemgetter(*keys), values), range(len(values))))
    if len(last) == len(values):
        return values
    return [values[i] for i in sorted(last.values())]


#: ``_write_bunches``: the bulk statement failed, the general path must replay row by row.
_BULK_FAILED: Any = WriteResult()


class JdbcWriter:
    def __init__(
        self,
        engine: Engine,
        dialect: Dialect,
        tables: TableManager,
        offsets: OffsetStore,
        *,
        insert_mode: str,
        batch_size: int,
        reporter: Reporter | None,
        identity: IdentityLookup | None = None,
    ) -> None:
        self.identity: IdentityLookup = identity or (lambda topic, refresh: None)
        self.engine = engine
        self.dialect = dialect
        self.tables = tables
        self.offsets = offsets
        self.insert_mode = insert_mode
        self.batch_size = batch_size
        self.reporter = reporter

    def write(self, entries: Sequence[Entry]) -> WriteResult:
        """Write ``entries`` exactly once; raise RetriableException for transient DB failures."""
        if not entries:
            return WriteResult()
        bunches = _distinct_bunches(entries)
        done: WriteResult | None = None
        if bunches is None:
            entries = _expand(entries)
            lowest, highest = _offset_range(entries)
        else:
            lowest, highest = _bunch_offset_range(bunches)
        try:
            current, stored = self._stored_marks(lowest, highest)
            if bunches is not None:
                fresh = all(stored.get(p, -1) < o for p, o in lowest.items())
                done = self._write_bunches(bunches, highest, stored, current) if fresh else None
                if done is not None and done is not _BULK_FAILED:
                    return done
                entries = _expand(entries)
            return self._write(entries, lowest, highest, stored, current, bulk=done is not _BULK_FAILED)
        except _Rejected as r:
            raise r.error from r.error.__cause__
        except ConnectException:
            raise
        except Exception as e:
            if self.dialect.is_transient(e):
                raise RetriableException(f"Transient database error, the batch will be retried: {e}") from e
            raise ConnectException(f"Database error while writing the batch: {e}") from e

    def _stored_marks(
        self, lowest: dict[Partition, int], highest: dict[Partition, int]
    ) -> tuple[dict[str, str | None], dict[Partition, int]]:
        """Topic identities of the batch and the marks to filter by, read without a lock."""
        self.offsets.prepare(highest)
        raw = self.engine.raw_connection()
        try:
            marks = self.offsets.read(raw.cursor(), highest, lock=False)
            raw.rollback()
        finally:
            raw.close()
        current = current_identities(lowest, marks.offsets, marks.identities, self.identity)
        return current, reconcile(marks.offsets, marks.identities, current).offsets

    def _write(
        self,
        entries: Sequence[Entry],
        lowest: dict[Partition, int],
        highest: dict[Partition, int],
        stored: dict[Partition, int],
        current: dict[str, str | None],
        *,
        bulk: bool = True,
    ) -> WriteResult:
        """The general path: any mix of rows, deletes, failures, tables and redelivered records.
        ``bulk=False`` goes straight to the row-by-row replay (a bulk write already failed)."""
        if all(stored.get(p, -1) < o for p, o in lowest.items()):
            fresh = entries  # the usual case: nothing of this batch was written before
        else:
            fresh = [e for e in entries if _coords(e)[1] > stored.get(_coords(e)[0], -1)]
        plans: list[RowPlan] = []
        failed: list[Failed] = []
        for e in fresh:
            (plans if type(e) is RowPlan else failed).append(e)  # type: ignore[arg-type]
        prepared, rejected = self._prepare_tables(plans)
        failed = rejected + failed
        if not bulk:
            result = self._transaction(prepared, failed, highest, stored, current, bulk=False)
        else:
            try:
                result = self._transaction(prepared, failed, highest, stored, current, bulk=True)
            except _Rejected:
                raise
            except Exception as e:
                if self.dialect.is_transient(e) or isinstance(e, ConnectException):
                    raise
                self._bulk_failed(e, prepared)
                result = self._transaction(prepared, failed, highest, stored, current, bulk=False)
        result.skipped_duplicates += len(entries) - len(fresh)
        return result

    def _bulk_failed(self, error: BaseException, tables: Iterable[TableId]) -> None:
        log.warning("Bulk write failed (%s); replaying the batch row by row to isolate bad records", error)
        for table in tables:
            self.tables.forget(table)

    # --- the short way: bunches only --------------------------------------------------------------
    def _write_bunches(
        self,
        bunches: Sequence[Bunch],
        highest: dict[Partition, int],
        stored: dict[Partition, int],
        current: dict[str, str | None],
    ) -> WriteResult | None:
        """Write a batch of new records that are all in bunches, one bunch per table, without a
        RowPlan per record: the same DDL, statements, marks and transaction as ``_write``, with the
        rows handled as whole lists. None when the general path must decide (a DDL error, marks
        that moved under the lock); ``_BULK_FAILED`` when the bulk write was refused (then the
        general path replays row by row to find the record)."""
        runs: list[Run] = []
        for bunch in bunches:
            try:
                names = self.tables.ensure(bunch.table, list(bunch.columns))
            except Exception:
                return None  # the general path tries again and reports the failure its way
            runs.append(self._bunch_run(bunch, names))
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            begin = self.dialect.begin()
            if begin:
                cur.execute(begin)
            marks = self.offsets.read(cur, highest, lock=True)
            check = reconcile(marks.offsets, marks.identities, current)
            if check.offsets != stored:  # another invocation wrote meanwhile: filter under the lock
                raw.rollback()
                return None
            for run in runs:
                if not (run.kind == "update" and len(run.columns) == len(run.keys)):
                    execute_bulk(cur, self.dialect, run, self.batch_size)
            if check.rekey:
                self.offsets.rekey(cur, check.rekey)
            self.offsets.advance(cur, highest)
            raw.commit()
        except Exception as e:
            raw.rollback()
            if self.dialect.is_transient(e) or isinstance(e, ConnectException):
                raise
            self._bulk_failed(e, [b.table for b in bunches])
            return _BULK_FAILED
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        if check.resets:
            warn_resets(self.offsets.connector, check.resets, f"table {self.offsets.table}")
        return WriteResult(written=sum(map(len, bunches)))

    def _bunch_run(self, bunch: Bunch, names: dict[str, str]) -> Run:
        """The one run a bunch becomes (``_runs`` for a single shape without deletes)."""
        keys = bunch.keys
        values = bunch.values
        if keys and self.insert_mode != "insert":
            values = _last_per_key(values, keys)
        schemas = {c.name: c.schema for c in bunch.columns}
        run = self._new_run(self.insert_mode, bunch.table, bunch.fields, keys, names, schemas)
        run.values = values
        run.types = bunch.field_types()
        return run

    # --- tables ------------------------------------------------------------------------------
    def _prepare_tables(
        self, plans: Sequence[RowPlan]
    ) -> tuple[dict[TableId, tuple[list[RowPlan], dict[str, str], dict[str, Any]]], list[Failed]]:
        """Group plans by table, agree on one schema per column and make the table fit."""
        by_table: dict[TableId, list[RowPlan]] = {}
        last_table: TableId | None = None
        current: list[RowPlan] = []
        for plan in plans:
            if plan.table is not last_table:  # tables come from the extractor's cache: identity is cheap
                last_table = plan.table
                current = by_table.setdefault(last_table, [])
            current.append(plan)
        prepared: dict[TableId, tuple[list[RowPlan], dict[str, str], dict[str, Any]]] = {}
        failed: list[Failed] = []
        for table, table_plans in by_table.items():
            merged, ok, rejected, conflicts = _merge_table(table_plans, self.tables.existing_columns(table))
            failed.extend(rejected)
            if not ok:
                continue
            try:
                try:
                    names = self.tables.ensure(table, list(merged.values()))
                except Exception as e:
                    clear = _missing_schema(table, table_plans[0].record.topic, e)
                    if clear is None:
                        raise
                    raise clear from e
            except ConnectException as e:
                if self.reporter is None:
                    raise
                failed.extend(Failed(p.record, e) for p in ok)
                continue
            except Exception as e:
                if self.dialect.is_transient(e) or self.reporter is None:
                    raise
                failed.extend(Failed(p.record, e) for p in ok)
                continue
            # A column the records disagree on is bound value by value (schema None).
            prepared[table] = (ok, names, {n: None if n in conflicts else c.schema for n, c in merged.items()})
        return prepared, failed

    # --- the data transaction ------------------------------------------------------------------
    def _transaction(
        self,
        prepared: dict[TableId, tuple[list[RowPlan], dict[str, str], dict[str, Any]]],
        failed: list[Failed],
        highest: dict[Partition, int],
        unlocked: dict[Partition, int],
        current: dict[str, str | None],
        *,
        bulk: bool,
    ) -> WriteResult:
        """The data transaction; ``unlocked`` are the marks every entry was already filtered by,
        ``current`` the topic identities they were checked against."""
        result = WriteResult()
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            begin = self.dialect.begin()
            if begin:
                cur.execute(begin)
            marks = self.offsets.read(cur, highest, lock=True)
            check = reconcile(marks.offsets, marks.identities, current)
            stored = check.offsets
            moved = stored != unlocked  # another invocation wrote meanwhile: filter again under the lock

            def fresh(entry: Entry) -> bool:
                p, o = _coords(entry)
                return o > stored[p]

            rejects = [(f.record, f.error, None) for f in failed if not moved or fresh(f)]
            result.skipped_duplicates = len(failed) - len(rejects)
            for table, (plans, names, schemas) in prepared.items():
                live = [p for p in plans if fresh(p)] if moved else plans
                result.skipped_duplicates += len(plans) - len(live)
                bad: list[tuple[RowPlan, BaseException]] = []
                for run in self._runs(table, live, names, schemas):
                    bad.extend(self._execute(cur, run, bulk))
                bad_ids = {id(p) for p, _ in bad}
                for plan in live:
                    if id(plan) in bad_ids:
                        continue
                    if plan.delete:
                        result.deleted += 1
                    else:
                        result.written += 1
                rejects.extend((plan.record, error, table) for plan, error in bad)
            if check.rekey:
                self.offsets.rekey(cur, check.rekey)
            self.offsets.advance(cur, highest)
            self._report(rejects)
            result.errant = len(rejects)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        if check.resets:
            warn_resets(self.offsets.connector, check.resets, f"table {self.offsets.table}")
        return result

    def _report(self, rejects: Sequence[tuple[SinkRecord, BaseException, TableId | None]]) -> None:
        if not rejects:
            return
        if self.reporter is None:
            record, error, table = rejects[0]
            wrapped = record_error(record, error, table)
            wrapped.__cause__ = error
            raise _Rejected(wrapped)
        for record, error, table in rejects:
            self.reporter(record, error if isinstance(error, ConnectException) else record_error(record, error, table))

    def _execute(self, cur: Any, run: Run, bulk: bool) -> list[tuple[RowPlan, BaseException]]:
        if run.kind == "update" and len(run.columns) == len(run.keys):
            return []  # nothing but the key: an UPDATE would change nothing
        if bulk:
            execute_bulk(cur, self.dialect, run, self.batch_size)
            return []
        bad: list[tuple[RowPlan, BaseException]] = []
        for plan in run.plans:
            cur.execute("SAVEPOINT lc_row")
            try:
                execute_row(cur, self.dialect, run, plan)
            except Exception as e:
                cur.execute("ROLLBACK TO SAVEPOINT lc_row")
                if self.dialect.is_transient(e):
                    raise
                bad.append((plan, e))
            else:
                cur.execute("RELEASE SAVEPOINT lc_row")
        return bad

    # --- runs ----------------------------------------------------------------------------------
    def _runs(
        self, table: TableId, plans: Sequence[RowPlan], names: dict[str, str], schemas: dict[str, Any]
    ) -> list[Run]:
        """Statement-shaped groups of rows.

        With a key and upsert/update, only the last record per key matters (offset order), so
        the batch collapses to one row per key and runs can be grouped freely. Plain inserts
        keep their order: a delete between two inserts of a key must stay between them.
        """
        if not plans:
            return []
        keyed = bool(plans[0].keys) and self.insert_mode != "insert"
        if keyed:
            last: dict[Any, RowPlan] = {}
            keys: tuple[str, ...] = ()
            pick = _pick_key(keys)
            for plan in plans:
                if plan.keys is not keys:
                    keys = plan.keys
                    pick = _pick_key(keys)
                k = pick(plan.values)
                last.pop(k, None)  # re-insert so dict order follows the latest occurrence
                last[k] = plan
            groups: dict[tuple[str, tuple[str, ...]], Run] = {}
            current: Run | None = None
            for plan in last.values():
                kind = "delete" if plan.delete else self.insert_mode
                # Plans of one shape share their fields tuple: identity finds the run without hashing.
                if current is None or plan.fields is not current.fields or kind != current.kind:
                    current = groups.get((kind, plan.fields))
                    if current is None:
                        current = groups[(kind, plan.fields)] = self._new_run(
                            kind, table, plan.fields, plan.keys, names, schemas)
                current.plans.append(plan)
            return sorted(groups.values(), key=lambda r: r.kind != "delete")
        runs: list[Run] = []
        for plan in plans:
            kind = "delete" if plan.delete else self.insert_mode
            fields = plan.fields
            if not runs or runs[-1].kind != kind or runs[-1].fields != fields:
                runs.append(self._new_run(kind, table, fields, plan.keys, names, schemas))
            runs[-1].plans.append(plan)
        return runs

    @staticmethod
    def _new_run(
        kind: str, table: TableId, fields: tuple[str, ...], keys: tuple[str, ...],
        names: dict[str, str], schemas: dict[str, Any],
    ) -> Run:
        return Run(
            kind=kind,
            table=table,
            fields=fields,
            columns=tuple(names.get(f, f) for f in fields),
            keys=tuple(names.get(k, k) for k in keys),
            schemas=schemas,
            field_keys=keys,
        )
