"""Filter: drop records, normally those a predicate selects."""

from __future__ import annotations

from typing import Any

from lambda_connect.api.config import Config, ConfigDef
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

__all__ = ["Filter"]


class Filter(Transformation[Any]):
    """Drops every record it is applied to.

    On its own it discards the whole stream; with ``predicate`` (and optionally ``negate``)
    it removes exactly the records the predicate selects, e.g. tombstones.
    """

    name = "org.apache.kafka.connect.transforms.Filter"
    config_def = ConfigDef()

    def __init__(self, config: Config) -> None:
        super().__init__(config)

    def apply(self, record: ConnectRecord) -> None:
        return None
