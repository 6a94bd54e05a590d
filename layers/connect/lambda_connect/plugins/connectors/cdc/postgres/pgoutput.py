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
    "Relation",
    "Truncate",
    "Update",
    "decode",
    "pg_epoch_micros_to_unix_micros",
]

#: Marks a column whose unchanged, out-of-line (TOASTed) value the change does not carry.
UNCHANGED_TOAST = object()

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
