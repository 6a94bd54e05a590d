"""Small pieces the messaging connectors (HTTP, MQTT, RabbitMQ, Redis) share.

* ``json_bytes`` — a Connect value as compact JSON the way a web service or a cache wants it:
  structs as objects, bytes as base64, decimals as numbers (not floats: their digits are kept).
* ``config_key`` — ``ConfigKey`` with the group/order arguments positional, so the connectors'
  tables of keys stay one line per key.
* ``reject`` — the shared error path for one record: the runtime's errant record reporter when it
  is set (tolerance, DLQ), else an error naming the record, which fails the batch.
"""

from __future__ import annotations

import base64
import decimal
from typing import Any

from lambda_connect.api.config import ConfigKey, ConfigType
from lambda_connect.api.connector import SinkTask
from lambda_connect.api.data import Struct
from lambda_connect.api.errors import ConnectException, DataException
from lambda_connect.api.records import SinkRecord

__all__ = ["config_key", "json_bytes", "record_label", "reject"]


def _default(value: Any) -> Any:
    if isinstance(value, Struct):
        return value.to_dict()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, decimal.Decimal):
        import orjson

        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")


def json_bytes(value: Any) -> bytes:
    """``value`` as JSON; ``DataException`` when some part of it has no JSON form."""
    import orjson

    try:
        return orjson.dumps(value, default=_default)
    except TypeError as e:
        raise DataException(f"The value cannot be written as JSON: {e}") from e


def config_key(name: str, type_: ConfigType, default: Any, doc: str, group: str, order: int,
               **kw: Any) -> ConfigKey:
    return ConfigKey(name=name, type=type_, default=default, doc=doc, group=group, order_in_group=order, **kw)


def record_label(record: SinkRecord) -> str:
    """Where a record was consumed from: ``topic-partition@offset``."""
    return f"{record.original_topic}-{record.original_kafka_partition}@{record.original_kafka_offset}"


def reject(task: SinkTask, record: SinkRecord, error: BaseException, what: str) -> None:
    reporter = task.context.errant_record_reporter if task.context is not None else None
    if reporter is None:  # no DLQ and no error log configured: the batch fails, naming the record
        if isinstance(error, ConnectException) and record_label(record) in str(error):
            raise error
        raise ConnectException(f"{what} could not deliver record {record_label(record)}: {error}") from error
    reporter(record, error)
