"""RecordIsTombstone: is the record a tombstone (null value)?"""

from __future__ import annotations

from typing import Any

from lambda_connect.api.config import Config, ConfigDef
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Predicate

__all__ = ["RecordIsTombstone"]


class RecordIsTombstone(Predicate[Any]):
    """Matches tombstones: records whose value is null.

    The key is irrelevant. Negated, it guards SMTs that fail on null values (ValueToKey,
    MaskField, HeaderFrom) so deletes flow through untouched.
    """

    name = "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"
    config_def = ConfigDef()

    def __init__(self, config: Config) -> None:
        super().__init__(config)

    def test(self, record: ConnectRecord) -> bool:
        return record.value is None

    def __repr__(self) -> str:
        return "RecordIsTombstone{}"
