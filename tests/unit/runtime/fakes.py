"""Small plugins of our own, so runtime tests do not depend on the built-in plugins."""

from __future__ import annotations

from typing import Any

from lambda_connect.api import (
    ConfigDef,
    ConfigKey,
    ConfigType,
    Converter,
    DataException,
    HeaderConverter,
    Predicate,
    RetriableException,
    SchemaAndValue,
    SinkConnector,
    SinkTask,
    Transformation,
)
from lambda_connect.api.config import Password
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA

P = "com.example."


class TextConverter(Converter, HeaderConverter):
    """UTF-8 text both ways; ``fail.on`` makes it reject one exact text."""

    name = P + "TextConverter"
    version = "1.0"
    config_def = ConfigDef(ConfigKey(name="fail.on", type=ConfigType.STRING, default="", doc="Text to reject."))

    def __init__(self, config: Any, *, is_key: bool = False) -> None:
        self.config = config
        self.is_key = is_key
        self.fail_on = config["fail.on"]

    def to_connect_data(self, topic: str, data: bytes | None, headers: Any = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        text = data.decode()
        if self.fail_on and text == self.fail_on:
            raise DataException(f"cannot read {text}")
        return SchemaAndValue(OPTIONAL_STRING_SCHEMA, text)

    def from_connect_data(self, topic: str, schema: Any, value: Any, headers: Any = None) -> bytes | None:
        if value == "unwritable":
            raise DataException("cannot write unwritable")
        return None if value is None else str(value).encode()

    to_connect_header = lambda self, topic, key, data: self.to_connect_data(topic, data)  # noqa: E731
    from_connect_header = lambda self, topic, key, schema, value: self.from_connect_data(topic, schema, value)  # noqa: E731


class Upper(Transformation):
    name = P + "Upper"
    config_def = ConfigDef(
        ConfigKey(name="suffix", type=ConfigType.STRING, default="", doc="Appended."),
        ConfigKey(name="secret", type=ConfigType.PASSWORD, default=None, doc="A password."),
    )

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.suffix = config["suffix"]

    def apply(self, record: Any) -> Any:
        if record.value is None:
            return record
        return record.with_value(record.value_schema, record.value.upper() + self.suffix)


class Explode(Transformation):
    name = P + "Explode"
    config_def = ConfigDef(ConfigKey(name="times", type=ConfigType.INT, doc="Required int."))

    def apply(self, record: Any) -> Any:
        raise DataException("boom")


class Flaky(Transformation):
    """Fails with RetriableException the first ``failures`` calls of the instance."""

    name = P + "Flaky"
    config_def = ConfigDef(ConfigKey(name="failures", type=ConfigType.INT, default="2", doc="How many."))

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.left = config["failures"]
        self.calls = 0

    def apply(self, record: Any) -> Any:
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            raise RetriableException("try again")
        return record.with_value(record.value_schema, f"{record.value}!")


class Drop(Transformation):
    name = P + "Drop"

    def apply(self, record: Any) -> Any:
        return None


class TopicIs(Predicate):
    name = P + "TopicIs"
    config_def = ConfigDef(ConfigKey(name="topic", type=ConfigType.STRING, doc="Topic to match."))

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.topic = config["topic"]

    def test(self, record: Any) -> bool:
        return record.topic == self.topic


class NullTask(SinkTask):
    def start(self, props: Any) -> None:
        self.props = props

    def put(self, records: Any) -> None:
        self.records = list(records)


class DemoSinkConnector(SinkConnector):
    name = P + "DemoSinkConnector"
    version = "2.1"
    config_def = ConfigDef(
        ConfigKey(name="target", type=ConfigType.STRING, doc="Where to.", group="Demo", order_in_group=1),
        ConfigKey(name="token", type=ConfigType.PASSWORD, default=Password("s3cret"), doc="Secret.", group="Demo"),
    )

    @classmethod
    def task_class(cls) -> type[NullTask]:
        return NullTask


ENTRIES = [
    (cls.name, f"tests.unit.runtime.fakes:{cls.__name__}")
    for cls in (TextConverter, Upper, Explode, Flaky, Drop, TopicIs, DemoSinkConnector)
]


def registry() -> Any:
    from lambda_connect.runtime.registry import Registry

    return Registry(ENTRIES)
