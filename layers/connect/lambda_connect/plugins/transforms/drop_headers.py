"""DropHeaders: remove headers by name."""

from __future__ import annotations

from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, NonEmptyList
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

__all__ = ["DropHeaders"]


class DropHeaders(Transformation[Any]):
    """Removes one or more headers from each record; every occurrence of a listed name goes."""

    name = "org.apache.kafka.connect.transforms.DropHeaders"
    config_def = ConfigDef(
        ConfigKey(
            name="headers",
            type=ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            doc="The name of the headers to be removed.",
        ),
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._names: frozenset[str] = frozenset(config["headers"])

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        # Records without any of the names keep their Headers object: no copy on the hot path.
        headers = record.headers
        if not any(h.key in self._names for h in headers):
            return record
        return record.new_record(headers=headers.remove(*self._names))
