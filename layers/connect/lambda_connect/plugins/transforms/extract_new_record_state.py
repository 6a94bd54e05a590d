"""ExtractNewRecordState: turn a change event (Debezium's envelope) into the row it describes.

A JDBC sink or a plain consumer wants the row, not ``before``/``after``/``source``/``op``: this
SMT hands on ``after`` for creates, updates and snapshot reads, and handles deletes as
``delete.tombstone.handling.mode`` says:

* ``tombstone`` (default): the delete becomes a record with a null value that keeps the value
  schema (what sinks read as "delete this key"); the tombstone after it is dropped;
* ``drop``: the delete and its tombstone are dropped;
* ``rewrite``: the delete becomes its ``before`` row plus ``__deleted: "true"`` (other rows get
  ``"false"``); the tombstone is dropped; ``rewrite-with-tombstone`` keeps the tombstone;
* ``delete-to-tombstone``: the delete becomes a tombstone (null value and schema), the original
  tombstone is dropped.

Truncate events are dropped. Records that are not change events (heartbeats, other topics) pass
unchanged. ``add.fields`` copies envelope or ``source`` fields (``op``, ``source.ts_ms``,
``table``...) into the row under ``add.fields.prefix`` (``__op``, ``__source_ts_ms``);
``add.headers`` does the same into headers. The pre-3.2 keys ``delete.handling.mode`` and
``drop.tombstones`` still work, with a deprecation warning.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from lambda_connect.api.config import CaseInsensitiveValidString, Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.data import Schema, Struct, Type
from lambda_connect.api.errors import ConfigException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._util import SchemaCache

__all__ = ["ExtractNewRecordState"]

log = logging.getLogger(__name__)

MODES = ("drop", "tombstone", "rewrite", "rewrite-with-tombstone", "delete-to-tombstone")
_ENVELOPE_FIELDS = ("before", "after", "source", "op")
_DELETED = "deleted"


def _field_spec(spec: str) -> tuple[str, str, str]:
    """``source.ts_ms`` or ``op:kind`` -> (struct: '' or 'source', field, output name without prefix)."""
    name, _, rename = spec.strip().partition(":")
    struct, _, field = name.rpartition(".")
    if struct not in ("", "source"):
        raise ConfigException.for_key("add.fields", spec, "fields come from the envelope or from source.<field>")
    out = rename or (f"{struct}_{field}" if struct else field)
    return struct, field, out


class ExtractNewRecordState(Transformation[Any]):
    """The ``after`` row of a change event; deletes as ``delete.tombstone.handling.mode`` says."""

    name = "io.debezium.transforms.ExtractNewRecordState"
    config_def = ConfigDef(
        ConfigKey(name="delete.tombstone.handling.mode", type=ConfigType.STRING, default=None,
                  validator=CaseInsensitiveValidString(*MODES), importance=Importance.MEDIUM,
                  doc="What deletes and tombstones become: tombstone (default), drop, rewrite, "
                      "rewrite-with-tombstone or delete-to-tombstone (see the module description)."),
        ConfigKey(name="add.fields", type=ConfigType.LIST, default="", importance=Importance.LOW,
                  doc="Envelope fields (op, ts_ms) or source fields (source.ts_ms, or just table, lsn...) copied "
                      "into the row; name:newName renames."),
        ConfigKey(name="add.fields.prefix", type=ConfigType.STRING, default="__", importance=Importance.LOW,
                  doc="Put before the name of every added field."),
        ConfigKey(name="add.headers", type=ConfigType.LIST, default="", importance=Importance.LOW,
                  doc="As add.fields, into record headers."),
        ConfigKey(name="add.headers.prefix", type=ConfigType.STRING, default="__", importance=Importance.LOW,
                  doc="Put before the name of every added header."),
        ConfigKey(name="route.by.field", type=ConfigType.STRING, default="", importance=Importance.LOW,
                  doc="A row field whose value becomes the record's topic."),
        ConfigKey(name="delete.handling.mode", type=ConfigType.STRING, default=None, importance=Importance.LOW,
                  validator=CaseInsensitiveValidString("none", "drop", "rewrite"),
                  doc="Deprecated (removed from Debezium in 3.2): use delete.tombstone.handling.mode."),
        ConfigKey(name="drop.tombstones", type=ConfigType.BOOLEAN, default=None, importance=Importance.LOW,
                  doc="Deprecated (removed from Debezium in 3.2): use delete.tombstone.handling.mode."),
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._mode = self._resolve_mode(config)
        self._rewrite = self._mode in ("rewrite", "rewrite-with-tombstone")
        prefix = config["add.fields.prefix"]
        self._fields = [(s, f, prefix + out.replace(".", "_")) for s, f, out in map(_field_spec, config["add.fields"])
                        if f]
        hprefix = config["add.headers.prefix"]
        self._headers = [(s, f, hprefix + out.replace(".", "_"))
                         for s, f, out in map(_field_spec, config["add.headers"]) if f]
        self._route = config["route.by.field"] or None
        self._schemas = SchemaCache()

    @staticmethod
    def _resolve_mode(config: Config) -> str:
        mode = config["delete.tombstone.handling.mode"]
        old_mode, old_drop = config["delete.handling.mode"], config["drop.tombstones"]
        if old_mode is None and old_drop is None:
            return (mode or "tombstone").lower()
        warnings.warn("ExtractNewRecordState: delete.handling.mode and drop.tombstones are deprecated; set "
                      "delete.tombstone.handling.mode instead", DeprecationWarning, stacklevel=3)
        log.warning("ExtractNewRecordState: delete.handling.mode/drop.tombstones are deprecated; use "
                    "delete.tombstone.handling.mode")
        if mode is not None:
            return mode.lower()
        drop_tombstones = True if old_drop is None else bool(old_drop)
        old = (old_mode or "none").lower()
        if old == "drop":
            return "drop"
        if old == "rewrite":
            return "rewrite" if drop_tombstones else "rewrite-with-tombstone"
        return "tombstone"

    # --- apply ------------------------------------------------------------------------------
    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        value = record.value
        if value is None:  # a tombstone
            return record if self._mode == "rewrite-with-tombstone" else None
        if isinstance(value, Struct):
            schema = value.schema
            if schema.type is not Type.STRUCT or not all(schema.field(f) for f in _ENVELOPE_FIELDS):
                return record
            get = value.get
        elif isinstance(value, dict) and record.value_schema is None:
            if not all(f in value for f in _ENVELOPE_FIELDS):
                return record
            get = value.get
        else:
            return record
        op = get("op")
        if op == "t":
            return None
        if op == "d":
            mode = self._mode
            if mode == "drop":
                return None
            if mode == "delete-to-tombstone":
                return self._finish(record.new_record(value_schema=None, value=None), get, None)
            if mode == "tombstone":
                row_schema = schema.field("before").schema if isinstance(value, Struct) else None
                return self._finish(record.new_record(value_schema=row_schema, value=None), get, None)
            row = get("before")
        else:
            row = get("after")
        if row is None:
            return self._finish(record.new_record(value=None), get, None)
        out_schema, out_value = self._row(row, get, deleted=op == "d")
        return self._finish(record.new_record(value_schema=out_schema, value=out_value), get, out_value)

    def _row(self, row: Any, get: Any, deleted: bool) -> tuple[Schema | None, Any]:
        extras = [(name, self._lookup(get, s, f)) for s, f, name in self._fields]
        if self._rewrite:
            extras.append(("__" + _DELETED, "true" if deleted else "false"))
        if isinstance(row, Struct):
            if not extras:
                return row.schema, row
            schema = self._schemas.get_or_build((row.schema, get("source").schema if self._fields else None),
                                                lambda: self._extended(row.schema, get))
            return schema, Struct.from_values(schema, [row.get_without_default(f) for f in row.schema.fields]
                                              + [v for _, v in extras])
        out = dict(row)
        out.update(extras)
        return None, out

    def _extended(self, schema: Schema, get: Any) -> Schema:
        fields = [(f.name, f.schema) for f in schema.fields]
        for struct, field, name in self._fields:
            fields.append((name, self._field_schema(get, struct, field)))
        if self._rewrite:
            fields.append(("__" + _DELETED, Schema(Type.STRING, optional=True)))
        return Schema.struct(fields, optional=schema.optional, name=schema.name, version=schema.version,
                             doc=schema.doc)

    @staticmethod
    def _container(get: Any, struct: str, field: str) -> Any:
        """Where ``field`` lives: ``source.x`` in source; a bare name in the envelope, else in source."""
        if struct == "source":
            return get("source")
        envelope = get.__self__
        has = (envelope.schema.field(field) is not None) if isinstance(envelope, Struct) else field in envelope
        return envelope if has else get("source")

    def _lookup(self, get: Any, struct: str, field: str) -> Any:
        container = self._container(get, struct, field)
        if container is None:
            return None
        if isinstance(container, Struct):
            return container.get(field) if container.schema.field(field) is not None else None
        return container.get(field)

    def _field_schema(self, get: Any, struct: str, field: str) -> Schema:
        container = self._container(get, struct, field)
        found = container.schema.field(field) if isinstance(container, Struct) else None
        if found is None:
            return Schema(Type.STRING, optional=True)
        return found.schema.copy(optional=True, default=None)

    def _finish(self, record: ConnectRecord, get: Any, row: Any) -> ConnectRecord:
        if self._headers:
            headers = record.headers
            for struct, field, name in self._headers:
                container = self._container(get, struct, field)
                schema = None
                if isinstance(container, Struct) and container.schema.field(field) is not None:
                    schema = container.schema.field(field).schema
                headers = headers.add(name, self._lookup(get, struct, field), schema)
            record = record.new_record(headers=headers)
        if self._route and row is not None:
            target = row.get(self._route) if isinstance(row, Struct | dict) else None
            if target is not None:
                record = record.new_record(topic=str(target))
        return record

    def __repr__(self) -> str:
        return f"ExtractNewRecordState{{mode={self._mode}}}"
