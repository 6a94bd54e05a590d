"""Pending data files: written by one invocation, committed by a later one (deferred commits).

With ``iceberg.control.commit.interval-ms`` > 0 an invocation writes its data files and
records them in the state table (``SinkTaskContext.storage``), one entry per invocation and
table, under a key of its own (so concurrent invocations never update the same entry)::

    iceberg/<table>/<uuid> = {"table": ..., "offsets": {"orders": {"0": [start, end]}},
                              "topic_identities": {"orders": ...}, "created_ms": ...,
                              "files": [<data file>...]}

(``topic_identities``: the incarnation the offsets count in, see ``offsets``; absent when
unknown.)

The commit (``commit.Committer.commit_pending``) adds the files of every entry not yet in the
table to one snapshot whose offsets cover them, then deletes the entries. An entry whose
offsets the table's marks already cover was committed by someone who died before deleting it:
it is dropped, not committed twice.

A data file is kept with exactly the fields Iceberg's manifests hold: paths, counts, sizes,
per-column metrics, and partition values as Iceberg's single-value binary form (the same one
the bounds use), all base64 where binary. When that list is large (a batch spread over many
table partitions makes many files) it goes to a JSON file in the table's metadata directory,
written before the entry, and the entry names it (``"files_at"``): a state-table item stays
small (DynamoDB refuses items over 400 KB).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .offsets import agree

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

__all__ = ["INLINE_LIMIT", "PREFIX", "PendingEntry", "decode_file", "encode_file"]

PREFIX = "iceberg/"
#: Encoded file lists up to this size stay in the state-table entry; larger ones go to a file.
INLINE_LIMIT = 64 * 1024

_INT_MAPS = ("column_sizes", "value_counts", "null_value_counts", "nan_value_counts")
_BYTE_MAPS = ("lower_bounds", "upper_bounds")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def encode_file(data_file: DataFile, table: Table) -> dict[str, Any]:
    from pyiceberg.conversions import to_bytes

    # pyiceberg writes new files with the table's default spec (and does not always set spec_id).
    spec_id = getattr(data_file, "_spec_id", None)
    spec_id = table.metadata.default_spec_id if spec_id is None else spec_id
    spec = table.specs()[spec_id]
    ptype = spec.partition_type(table.schema())
    partition = [
        None if data_file.partition[i] is None else _b64(to_bytes(f.field_type, data_file.partition[i]))
        for i, f in enumerate(ptype.fields)
    ]
    out: dict[str, Any] = {
        "content": int(data_file.content),
        "file_path": data_file.file_path,
        "file_format": data_file.file_format.name,
        "spec_id": spec_id,
        "partition": partition,
        "record_count": data_file.record_count,
        "file_size_in_bytes": data_file.file_size_in_bytes,
        "split_offsets": list(data_file.split_offsets) if data_file.split_offsets else None,
        "sort_order_id": data_file.sort_order_id,
    }
    for name in _INT_MAPS:
        out[name] = {str(k): int(v) for k, v in (getattr(data_file, name) or {}).items()}
    for name in _BYTE_MAPS:
        out[name] = {str(k): _b64(v) for k, v in (getattr(data_file, name) or {}).items()}
    return out


def decode_file(item: Mapping[str, Any], table: Table) -> DataFile:
    from pyiceberg.conversions import from_bytes
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    spec_id = int(item["spec_id"])
    ptype = table.specs()[spec_id].partition_type(table.schema())
    values = [None if raw is None else from_bytes(f.field_type, base64.b64decode(raw))
              for f, raw in zip(ptype.fields, item["partition"], strict=True)]
    data_file = DataFile.from_args(
        _table_format_version=table.format_version,
        content=DataFileContent(int(item["content"])),
        file_path=item["file_path"],
        file_format=FileFormat[item["file_format"]],
        partition=Record(*values),
        record_count=int(item["record_count"]),
        file_size_in_bytes=int(item["file_size_in_bytes"]),
        split_offsets=item.get("split_offsets"),
        sort_order_id=item.get("sort_order_id"),
        **{name: {int(k): int(v) for k, v in item.get(name, {}).items()} for name in _INT_MAPS},
        **{name: {int(k): base64.b64decode(v) for k, v in item.get(name, {}).items()} for name in _BYTE_MAPS},
    )
    data_file.spec_id = spec_id
    return data_file


@dataclass
class PendingEntry:
    """One invocation's files for one table, with the offset range they hold per partition."""

    key: str
    table: str
    ranges: dict[tuple[str, int], tuple[int, int]]
    files: list[dict[str, Any]]
    created_ms: int
    #: Where the file list is when it is not inline (a JSON file next to the table's metadata).
    files_at: str | None = None
    #: topic -> identity of the incarnation ``ranges`` count in (missing: unknown).
    identities: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_item(cls, key: str, item: Mapping[str, Any]) -> PendingEntry:
        ranges = {(topic, int(p)): (int(r[0]), int(r[1]))
                  for topic, parts in item["offsets"].items() for p, r in parts.items()}
        identities = item.get("topic_identities") or {}
        return cls(key, str(item["table"]), ranges, list(item.get("files") or []), int(item["created_ms"]),
                   item.get("files_at"), {str(t): str(i) for t, i in identities.items()})

    def to_item(self) -> dict[str, Any]:
        offsets: dict[str, dict[str, list[int]]] = {}
        for (topic, p), (start, end) in self.ranges.items():
            offsets.setdefault(topic, {})[str(p)] = [start, end]
        item: dict[str, Any] = {"table": self.table, "offsets": offsets, "created_ms": self.created_ms}
        if self.identities:
            item["topic_identities"] = dict(self.identities)
        if self.files_at:
            item["files_at"] = self.files_at
        else:
            item["files"] = self.files
        return item

    def store_files(self, table: Table) -> None:
        """Move a large file list out of the entry into a file of the table (before ``to_item``)."""
        text = json.dumps({"files": self.files}, separators=(",", ":"))
        if len(text) <= INLINE_LIMIT:
            return
        name = self.key.rsplit("/", 1)[-1]
        self.files_at = f"{table.metadata.location}/metadata/lambda-connect-pending-{name}.json"
        with table.io.new_output(self.files_at).create(overwrite=True) as out:
            out.write(text.encode())

    def load_files(self, table: Table) -> list[dict[str, Any]]:
        if not self.files_at:
            return self.files
        with table.io.new_input(self.files_at).open() as f:
            return list(json.loads(f.read())["files"])

    def drop_files(self, table: Table) -> None:
        """Remove the file list's own file once the entry is gone (best effort: it is tiny)."""
        if self.files_at:
            with contextlib.suppress(Exception):  # an orphan JSON file harms nothing
                table.io.delete(self.files_at)

    @property
    def ends(self) -> dict[tuple[str, int], int]:
        return {tp: end for tp, (_, end) in self.ranges.items()}

    def covered_by(self, marks: Mapping[tuple[str, int], int], identities: Mapping[str, str]) -> bool:
        """True when the table already holds every record of this entry: its marks reach the
        entry's ends in the same incarnation of each topic."""
        return all(marks.get(tp, -1) >= end and agree(identities.get(tp[0]), self.identities.get(tp[0]))
                   for tp, (_, end) in self.ranges.items())


def table_prefix(table: str) -> str:
    return f"{PREFIX}{table}/"
