"""A decoder for pgoutput, PostgreSQL's built-in logical replication output (protocol version 1,
plus logical messages).

Each row that ``pg_logical_slot_peek_binary_changes`` returns carries one protocol message; this
module turns its bytes into small tuples. The layouts are PostgreSQL's "Logical Replication Message
Formats": big-endian integers, NUL-terminated strings, and tuples whose columns are ``n`` (null),
``u`` (an unchanged TOASTed value that the WAL record does not carry) or ``t`` (text). We decode
by hand because the format is small and a dependency would cost more than these lines.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "UNCHANGED_TOAST",
    "Begin",
    "Column",
    "Commit",
    "Delete",
    "Insert",
    "Message",
    "SKIP",
    "Relation",
    "Truncate",
    "Update",
    "decode",
    "fast_row_values",
    "pg_epoch_micros_to_unix_micros",
    "row_values",
]

#: Marks a column whose unchanged, out-of-line (TOASTed) value the change does not carry.
UNCHANGED_TOAST = object()
#: A converter for ``row_values`` that leaves a column out (None) without decoding its text: a
#: column the column filters drop.
SKIP = object()

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_BEGIN = struct.Struct(">qqI")
_COMMIT = struct.Struct(">bqqq")
#: Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
_PG_EPOCH_OFFSET_US = 946_684_800_000_000


def pg_epoch_micros_to_unix_micros(value: int) -> int:
    return value + _PG_EPOCH_OFFSET_US


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    key: bool


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_ts_us: int  # Unix epoch
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int  # Unix epoch


@dataclass(frozen=True, slots=True)
class Insert:
    relation: int
    new: list


@dataclass(frozen=True, slots=True)
class Update:
    relation: int
    old: list | None  # full old row (REPLICA IDENTITY FULL) or the old key when it changed
    old_is_key: bool
    new: list


@dataclass(frozen=True, slots=True)
class Delete:
    relation: int
    old: list
    old_is_key: bool


@dataclass(frozen=True, slots=True)
class Truncate:
    relations: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True, slots=True)
class Message:
    transactional: bool
    lsn: int
    prefix: str
    content: bytes


def _string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode("utf-8"), end + 1


def _tuple(data: bytes, pos: int) -> tuple[list, int]:
    (count,) = _I16.unpack_from(data, pos)
    pos += 2
    values: list = []
    append = values.append
    for _ in range(count):
        kind = data[pos]
        pos += 1
        if kind == 0x74:  # 't'
            (length,) = _I32.unpack_from(data, pos)
            pos += 4
            append(data[pos:pos + length].decode("utf-8"))
            pos += length
        elif kind == 0x6E:  # 'n'
            append(None)
        elif kind == 0x75:  # 'u'
            append(UNCHANGED_TOAST)
        elif kind == 0x62:  # 'b' (binary=true is not requested, but decode it anyway)
            (length,) = _I32.unpack_from(data, pos)
            pos += 4
            append(bytes(data[pos:pos + length]))
            pos += length
        else:
            raise ValueError(f"pgoutput: unknown tuple column kind {kind!r} at byte {pos - 1}")
    return values, pos


def row_values(data: bytes, pos: int, converters: tuple, toast: object = UNCHANGED_TOAST) -> tuple[list, int, bool]:
    """The TupleData at ``pos`` decoded and converted in one pass: ``(values, end, toasted)``.

    ``converters[i]`` is column ``i``'s function from its text to its value (None: the text is the
    value; ``SKIP``: None whatever the column holds). Nulls stay None, an unchanged TOASTed column
    becomes ``toast`` (``toasted`` says whether one did), a binary column's bytes go through its
    converter too. Equal to ``_tuple`` followed by each converter on each value that is not None
    or the marker. A tuple with another column count than ``converters``, an unknown column kind
    or a value running past the end of the message is a ValueError.

    This is the specification of ``_pgoutput.row_values`` (C, built at install), which the
    connector's streaming path calls through ``fast_row_values`` when it is there.
    """
    size = len(data)
    if pos < 0 or pos + 2 > size:
        raise ValueError("pgoutput: the tuple runs past the end of the message")
    (count,) = _I16.unpack_from(data, pos)
    if count != len(converters):
        raise ValueError(f"pgoutput: a tuple of {count} columns for a relation of {len(converters)}")
    pos += 2
    values: list = []
    append = values.append
    toasted = False
    i32 = _I32.unpack_from
    try:
        for conv in converters:
            kind = data[pos]
            if kind == 0x74 or kind == 0x62:  # 't', 'b'
                (length,) = i32(data, pos + 1)
                pos += 5
                end = pos + length
                if length < 0 or end > size:
                    raise ValueError("pgoutput: a column value runs past the end of the message")
                if conv is SKIP:
                    append(None)
                elif kind == 0x62:
                    raw = data[pos:end]
                    append(raw if conv is None else conv(raw))
                elif conv is None:
                    append(data[pos:end].decode("utf-8"))
                else:
                    append(conv(data[pos:end].decode("utf-8")))
                pos = end
            elif kind == 0x6E:  # 'n'
                pos += 1
                append(None)
            elif kind == 0x75:  # 'u'
                pos += 1
                if conv is SKIP:
                    append(None)
                else:
                    append(toast)
                    toasted = True
            else:
                raise ValueError(f"pgoutput: unknown tuple column kind {kind} at byte {pos}")
    except (IndexError, struct.error):
        raise ValueError("pgoutput: the tuple runs past the end of the message") from None
    return values, pos, toasted


def _row_values_with_ops(data: bytes, pos: int, converters: tuple, ops: bytes,
                         toast: object = UNCHANGED_TOAST) -> tuple[list, int, bool]:
    return row_values(data, pos, converters, toast)


try:
    from ._pgoutput import row_values as _native_row_values
except ImportError:  # not built (no C compiler at install): the specification, slower
    _native_row_values = None

#: ``row_values`` with each column's op byte (``types.row_ops``): the C version when built.
fast_row_values = _native_row_values or _row_values_with_ops
NATIVE = _native_row_values is not None


def decode(data: bytes) -> object | None:
    """One pgoutput message as a tuple-like object; None for kinds a change stream ignores
    (origin, type)."""
    kind = data[0]
    if kind == 0x49:  # 'I'
        (rel,) = _U32.unpack_from(data, 1)
        values, _ = _tuple(data, 6)  # 1 + 4 + 'N'
        return Insert(rel, values)
    if kind == 0x55:  # 'U'
        (rel,) = _U32.unpack_from(data, 1)
        marker = data[5]
        old: list | None = None
        old_is_key = False
        pos = 6
        if marker in (0x4B, 0x4F):  # 'K' / 'O'
            old_is_key = marker == 0x4B
            old, pos = _tuple(data, 6)
            pos += 1  # 'N'
        new, _ = _tuple(data, pos)
        return Update(rel, old, old_is_key, new)
    if kind == 0x44:  # 'D'
        (rel,) = _U32.unpack_from(data, 1)
        old_is_key = data[5] == 0x4B
        old, _ = _tuple(data, 6)
        return Delete(rel, old, old_is_key)
    if kind == 0x42:  # 'B'
        final_lsn, ts, xid = _BEGIN.unpack_from(data, 1)
        return Begin(final_lsn, ts + _PG_EPOCH_OFFSET_US, xid)
    if kind == 0x43:  # 'C'
        _flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(data, 1)
        return Commit(commit_lsn, end_lsn, ts + _PG_EPOCH_OFFSET_US)
    if kind == 0x52:  # 'R'
        (oid,) = _U32.unpack_from(data, 1)
        namespace, pos = _string(data, 5)
        name, pos = _string(data, pos)
        identity = chr(data[pos])
        (ncols,) = _I16.unpack_from(data, pos + 1)
        pos += 3
        columns = []
        for _ in range(ncols):
            flags = data[pos]
            col_name, pos = _string(data, pos + 1)
            (type_oid,) = _U32.unpack_from(data, pos)
            (typmod,) = _I32.unpack_from(data, pos + 4)
            pos += 8
            columns.append(Column(col_name, type_oid, typmod, bool(flags & 1)))
        return Relation(oid, namespace or "pg_catalog", name, identity, tuple(columns))
    if kind == 0x54:  # 'T'
        (count,) = _I32.unpack_from(data, 1)
        options = data[5]
        oids = struct.unpack_from(f">{count}I", data, 6)
        return Truncate(tuple(oids), bool(options & 1), bool(options & 2))
    if kind == 0x4D:  # 'M'
        transactional = bool(data[1])
        (lsn,) = _I64.unpack_from(data, 2)
        prefix, pos = _string(data, 10)
        (length,) = _I32.unpack_from(data, pos)
        return Message(transactional, lsn, prefix, bytes(data[pos + 4:pos + 4 + length]))
    if kind in (0x4F, 0x59):  # 'O' origin, 'Y' type
        return None
    raise ValueError(f"pgoutput: unsupported message kind {chr(kind)!r} (streamed or two-phase transactions are "
                     "not requested by this connector)")
