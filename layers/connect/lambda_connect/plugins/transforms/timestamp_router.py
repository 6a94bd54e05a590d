"""TimestampRouter: route each record to a topic named after its timestamp."""

from __future__ import annotations

from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._date_format import SimpleDateFormat

__all__ = ["TimestampRouter"]

_TOPIC_FORMAT = "topic.format"
_TIMESTAMP_FORMAT = "timestamp.format"


class TimestampRouter(Transformation[Any]):
    """Update the record's topic field as a function of the original topic value and the record timestamp.

    This is mainly useful for sink connectors, since the topic field is often used to determine
    the equivalent entity name in the destination system (e.g. a database table or a search
    index). The timestamp is rendered in UTC with a Java ``SimpleDateFormat`` pattern.
    """

    name = "org.apache.kafka.connect.transforms.TimestampRouter"
    config_def = ConfigDef(
        ConfigKey(name=_TOPIC_FORMAT, type=ConfigType.STRING, default="${topic}-${timestamp}",
                  importance=Importance.HIGH,
                  doc="Name of the new topic; ${topic} stands for the original topic and ${timestamp} for "
                  "the formatted record timestamp."),
        ConfigKey(name=_TIMESTAMP_FORMAT, type=ConfigType.STRING, default="yyyyMMdd", importance=Importance.HIGH,
                  doc="How ${timestamp} is written, in Java SimpleDateFormat syntax."),
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._topic_format: str = config[_TOPIC_FORMAT]
        pattern: str = config[_TIMESTAMP_FORMAT]
        try:
            self._format = SimpleDateFormat(pattern)
        except ValueError as e:
            raise ConfigException.for_key(_TIMESTAMP_FORMAT, pattern, str(e)) from None

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        timestamp = record.timestamp
        if timestamp is None:
            raise DataException(f"Timestamp missing on record: {record!r}")
        try:
            formatted = self._format.format(timestamp)
        except OverflowError:
            raise DataException(f"Timestamp {timestamp} is outside the range a date can be formatted in") from None
        topic = self._topic_format.replace("${topic}", record.topic).replace("${timestamp}", formatted)
        return record.new_record(topic=topic)
