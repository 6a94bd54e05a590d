"""Serialising a whole source poll at once: the converters' batch writers over runs of records,
and over the column runs of ``SourceTask.poll_columns`` (``serialize_columns``).

Why: the per-record path (``RecordConverters.serialize`` per record) costs several Python calls
per record before any JSON is written; for a JDBC or CDC poll of thousands of records with one
value schema object that is most of the runtime's time. This module cuts a poll (after the
transform chain) into *runs* of consecutive records that share key schema, value schema (by
identity) and carry no headers, and asks the key and value converters for a ``batch_writer``
of each run's schema: a function from the run's keys (values) to their bytes. Converters that
offer none, runs with headers, and runs a writer refuses (it raises for any batch it does not
take whole) are serialised record by record with ``RecordConverters.serialize`` — the very
per-record path, with its stage order, retries and ``StageError``s.

The hook, optional and duck-typed like ``direct_writer`` (``runtime/conversion.py``):
``converter.batch_writer(schema) -> Callable[[list], list[bytes | None]] | None``. The function
must return, for every value, exactly what ``from_connect_data(topic, schema, value, headers)``
returns for it, for any topic and headers, and must have no effect when it raises. JsonConverter
and StringConverter offer it. ``tests/unit/runtime/test_source_batch.py`` checks that the batch
path produces what the per-record path produces.

Columnar runs (``api.columns.ColumnarRecords``) skip the records altogether: a ``StructColumn``
that holds a struct in every row goes to ``converter.columns_writer(schema)`` — a function from
the struct's field columns to the bytes ``from_connect_data`` writes for each row's Struct, with
the same rules (raise for anything not taken whole, no effect then); JsonConverter offers it.
Other columns (plain values, or a struct column with nulls) get their values built and go to
``batch_writer``. A run any writer refuses is sent as its records (``_TaskRun._send_batch``).
``tests/unit/runtime/test_source_columns.py`` keeps the columnar path equal to the others.

:func:`keep_freed_heap` raises glibc's trim threshold once per process (see there).
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Callable, Sequence
from itertools import groupby
from operator import attrgetter
from typing import Any

from lambda_connect.api.columns import ColumnarRecords, StructColumn
from lambda_connect.api.records import EMPTY_HEADERS, ConnectRecord

from .conversion import RecordConverters
from .errors import StageError

__all__ = ["BatchSerializer", "Serialized", "keep_freed_heap"]

log = logging.getLogger(__name__)

#: ``LAMBDA_CONNECT_MALLOC_TRIM``: bytes of freed heap glibc keeps before returning memory to the
#: system (``mallopt(M_TRIM_THRESHOLD)``), or ``off`` to leave glibc's default (128 KiB, adaptive).
TRIM_ENV = "LAMBDA_CONNECT_MALLOC_TRIM"
DEFAULT_TRIM_BYTES = 64 * 1024 * 1024
_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_trim_lock = threading.Lock()
_trim_done = False


def keep_freed_heap(env: dict[str, str] | None = None) -> bool:
    """Once per process: let glibc keep up to ``LAMBDA_CONNECT_MALLOC_TRIM`` bytes (64 MiB) of
    freed heap instead of returning it to the system after every large free. True when set.

    Why: a batch keeps a poll's worth of message bytes alive at once, and ``orjson`` allocates
    each output with room to spare before shrinking it, so 10,000 values take ~10 MB of fresh
    heap; freed together at the end of the poll, glibc hands that memory back (its trim
    threshold is 128 KiB) and the next poll faults every page in again. Measured: writing
    10,000 five-field rows costs ~2.3 µs a row that way against ~0.15 µs with the memory kept
    (``bench/README.md``, ``source_jdbc.py``). A record-at-a-time loop never sees this (each
    value is freed before the next is made). The cost is that up to the threshold of freed
    memory stays mapped to the process (it is reused by the next poll). Not glibc (musl,
    macOS): nothing is done."""
    global _trim_done
    with _trim_lock:
        if _trim_done:
            return False
        _trim_done = True
    raw = (os.environ if env is None else env).get(TRIM_ENV, "").strip().lower()
    if raw in ("off", "false", "0", "no"):
        return False
    try:
        size = int(raw) if raw else DEFAULT_TRIM_BYTES
    except ValueError:
        log.warning("%s=%r is not a number of bytes (or off): glibc's trim threshold left as it is", TRIM_ENV, raw)
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_TRIM_THRESHOLD, min(max(size, 0), 2**31 - 1)))

Writer = Callable[[Sequence[Any]], list["bytes | None"]]
_Headers = list[tuple[str, "bytes | None"]] | None

_KEY = attrgetter("key")
_VALUE = attrgetter("value")
_KEY_SCHEMA = attrgetter("key_schema")
_VALUE_SCHEMA = attrgetter("value_schema")
_HEADERS = attrgetter("headers")


class Serialized:
    """The bytes of a list of records, in parallel lists: ``keys[i]``, ``values[i]`` and
    ``headers[i]`` (None for none) of record ``i``, or ``errors[i]`` when its conversion failed
    (its other entries are then None)."""

    __slots__ = ("errors", "headers", "keys", "values")

    def __init__(self, n: int) -> None:
        self.keys: list[bytes | None] = [None] * n
        self.values: list[bytes | None] = [None] * n
        self.headers: list[_Headers] = [None] * n
        self.errors: dict[int, StageError] = {}


class BatchSerializer:
    """The key and value converters of a connector, applied to whole runs of records."""

    def __init__(self, converters: RecordConverters) -> None:
        self.converters = converters
        self._key_writers: dict[int, tuple[Any, Writer | None]] = {}
        self._value_writers: dict[int, tuple[Any, Writer | None]] = {}
        self._key_column_writers: dict[int, tuple[Any, Writer | None]] = {}
        self._value_column_writers: dict[int, tuple[Any, Writer | None]] = {}

    def serialize_columns(self, run: ColumnarRecords) -> tuple[list[bytes | None] | None, list[bytes | None]] | None:
        """The key bytes (None: every key is null) and value bytes of a columnar run, or None when
        a converter does not take the run whole (no writer, or its writer refused): the caller
        then converts the run's records. A ``StructColumn`` holding a struct in every row goes
        through the converter's ``columns_writer`` when it has one; otherwise its Structs are
        built (not its records) for ``batch_writer``."""
        n = len(run)
        converters = self.converters
        values = self._column_bytes(self._value_column_writers, self._value_writers, converters.value,
                                    run.value_schema, run.values, n)
        if values is None:
            return None
        if run.keys is not None:
            keys = self._column_bytes(self._key_column_writers, self._key_writers, converters.key, run.key_schema,
                                      run.keys, n)
            return None if keys is None else (keys, values)
        # Null keys: what the key converter writes for a null does not depend on the record.
        null = self._column_bytes(self._key_column_writers, self._key_writers, converters.key, run.key_schema,
                                  [None], 1)
        if null is None:
            return None
        return (None if null[0] is None else [null[0]] * n), values

    def _column_bytes(self, column_writers: dict[int, tuple[Any, Writer | None]],
                      writers: dict[int, tuple[Any, Writer | None]], converter: Any, schema: Any, column: Any,
                      n: int) -> list[bytes | None] | None:
        if type(column) is StructColumn:
            if column.present is None:
                writer = self._writer(column_writers, converter, schema, "columns_writer")
                if writer is not None:
                    return self._apply(writer, column.columns, n)
            column = column.values()
        writer = self._writer(writers, converter, schema)
        return None if writer is None else self._apply(writer, column if type(column) is list else list(column), n)

    @staticmethod
    def _apply(writer: Writer, column: Any, n: int) -> list[bytes | None] | None:
        try:
            out = writer(column)
        except Exception:  # refused: the per-record path converts (and reports) these records
            return None
        return out if len(out) == n else None

    def serialize(self, records: Sequence[ConnectRecord], stop_at_error: bool = False) -> Serialized:
        """Bytes for every record. With ``stop_at_error`` nothing after the first failed record
        is converted (its entries stay None): the caller fails there, as the per-record loop does."""
        n = len(records)
        out = Serialized(n)
        if not n:
            return out
        key_schemas = list(map(_KEY_SCHEMA, records))
        value_schemas = list(map(_VALUE_SCHEMA, records))
        headers = list(map(_HEADERS, records))
        # Sources share one empty Headers object across records (not always EMPTY_HEADERS):
        # look at each distinct object once rather than calling ``Headers.__bool__`` per record.
        distinct = dict(zip(map(id, headers), headers))
        empty = {i for i, h in distinct.items() if h is EMPTY_HEADERS or h is None or not h}
        plain = list(map(empty.__contains__, map(id, headers)))
        del headers, distinct
        signature = zip(map(id, key_schemas), map(id, value_schemas), plain)
        start = 0
        for (_, _, no_headers), group in groupby(signature):
            end = start + sum(1 for _ in group)
            done = no_headers and self._run(records, start, end, key_schemas[start], value_schemas[start], out)
            if not done and not self._each(records, start, end, out, stop_at_error):
                break
            start = end
        return out

    def _run(self, records: Sequence[ConnectRecord], start: int, end: int, key_schema: Any, value_schema: Any,
             out: Serialized) -> bool:
        """Records ``start:end`` through the batch writers; False when a writer is missing or refused."""
        key_writer = self._writer(self._key_writers, self.converters.key, key_schema)
        value_writer = self._writer(self._value_writers, self.converters.value, value_schema)
        if key_writer is None or value_writer is None:
            return False
        run = records[start:end]
        try:
            keys = key_writer(list(map(_KEY, run)))
            values = value_writer(list(map(_VALUE, run)))
        except Exception:  # refused: the per-record path converts (and reports) these records
            return False
        if len(keys) != len(run) or len(values) != len(run):
            return False
        out.keys[start:end] = keys
        out.values[start:end] = values
        return True

    def _each(self, records: Sequence[ConnectRecord], start: int, end: int, out: Serialized,
              stop_at_error: bool) -> bool:
        """Records ``start:end`` one by one; False when stopped at a failed record."""
        serialize = self.converters.serialize
        keys, values, headers = out.keys, out.values, out.headers
        for i in range(start, end):
            try:
                keys[i], values[i], hs = serialize(records[i])
            except StageError as e:
                out.errors[i] = e
                if stop_at_error:
                    return False
                continue
            headers[i] = hs or None
        return True

    @staticmethod
    def _writer(cache: dict[int, tuple[Any, Writer | None]], converter: Any, schema: Any,
                hook: str = "batch_writer") -> Writer | None:
        """The converter's batch writer (or ``hook``) for ``schema`` (by identity), asked once per
        schema object."""
        hit = cache.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        offer = getattr(converter, hook, None)
        writer: Writer | None = offer(schema) if callable(offer) else None
        if len(cache) > 256:
            cache.clear()
        cache[id(schema)] = (schema, writer)  # the entry holds the schema, so its id is not reused
        return writer
