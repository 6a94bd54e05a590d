"""InsertHeader: add a header with a literal value to every record."""

from __future__ import annotations

from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, NonNull
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation
from lambda_connect.api.values import parse_string

__all__ = ["InsertHeader"]


class InsertHeader(Transformation[Any]):
    """Add a header to each record.

    The literal is read like ``SimpleHeaderConverter`` text, once: ``1`` becomes an INT8
    header, ``true`` a BOOLEAN, an ISO date a Date, anything else a STRING. The header is
    appended, so existing headers with the same name stay.
    """

    name = "org.apache.kafka.connect.transforms.InsertHeader"
    config_def = ConfigDef(
        ConfigKey(
            name="header",
            type=ConfigType.STRING,
            validator=NonNull(),
            importance=Importance.HIGH,
            doc="The name of the header.",
        ),
        ConfigKey(
            name="value.literal",
            type=ConfigType.STRING,
            validator=NonNull(),
            importance=Importance.HIGH,
            doc="Text of the header added to every record.",
        ),
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._header: str = config["header"]
        literal = parse_string(config["value.literal"])
        self._schema, self._value = literal.schema, literal.value

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        return record.new_record(headers=record.headers.add(self._header, self._value, self._schema))
