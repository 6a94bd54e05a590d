from __future__ import annotations

import pytest
from lambda_connect.api.errors import ConfigException, RetriableException
from lambda_connect.api.records import SinkRecord, SourceRecord
from lambda_connect.runtime.conversion import RecordConverters
from lambda_connect.runtime.errors import ErrorPolicy, Stage, StageError

from . import fakes

TEXT = {"key.converter": "Text", "value.converter": "TextConverter", "header.converter": "com.example.TextConverter"}


def converters(**extra: str) -> RecordConverters:
    return RecordConverters.from_config({**TEXT, **extra}, fakes.registry())


def test_to_sink_record_converts_key_value_and_headers() -> None:
    c = converters()
    r = c.to_sink_record("t", 3, 42, 1000, "LOG_APPEND_TIME", b"k", b"v", [("h", b"x"), ("n", None)])
    assert isinstance(r, SinkRecord)
    assert (r.topic, r.kafka_partition, r.kafka_offset, r.timestamp, r.timestamp_type) == ("t", 3, 42, 1000,
                                                                                            "LOG_APPEND_TIME")
    assert (r.key, r.value) == ("k", "v")
    assert [(h.key, h.value) for h in r.headers] == [("h", "x"), ("n", None)]


def test_converter_failures_name_their_stage_and_class() -> None:
    c = converters(**{"key.converter.fail.on": "bad", "value.converter.fail.on": "bad",
                      "header.converter.fail.on": "bad"})
    for key, value, headers, stage in (
        (b"bad", b"bad", [("h", b"bad")], Stage.KEY_CONVERTER),
        (b"ok", b"bad", [("h", b"bad")], Stage.VALUE_CONVERTER),
        (b"ok", b"ok", [("h", b"bad")], Stage.HEADER_CONVERTER),
    ):
        with pytest.raises(StageError) as info:
            c.to_sink_record("t", 0, 0, None, "CREATE_TIME", key, value, headers)
        assert info.value.stage is stage
        assert info.value.plugin_class == "com.example.TextConverter"


def test_serialize_in_source_order_and_failures() -> None:
    c = converters()
    r = c.to_source_record("t", None, None, b"k", b"v", [("h", b"1")], {"f": "x"}, {"position": 1})
    assert isinstance(r, SourceRecord) and r.source_offset == {"position": 1}
    assert c.serialize(r) == (b"k", b"v", [("h", b"1")])
    with pytest.raises(StageError) as info:
        c.serialize(r.new_record(value="unwritable"))
    assert info.value.stage is Stage.VALUE_CONVERTER
    with pytest.raises(StageError) as info:
        c.serialize(r.new_record(key="unwritable", headers=r.headers.add("x", "unwritable")))
    assert info.value.stage is Stage.HEADER_CONVERTER  # headers are serialized first


def test_converter_config_errors_are_prefixed() -> None:
    with pytest.raises(ConfigException) as info:
        RecordConverters.from_config({**TEXT, "value.converter": "NoSuchConverter"}, fakes.registry())
    assert list(info.value.errors) == ["value.converter"]
    assert "NoSuchConverter" in info.value.errors["value.converter"][0]


def test_env_chooses_the_default_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDA_CONNECT_KEY_CONVERTER", "com.example.TextConverter")
    monkeypatch.setenv("LAMBDA_CONNECT_VALUE_CONVERTER", "Text")
    c = RecordConverters.from_config({"header.converter": "Text"}, fakes.registry())
    assert c.key_class == c.value_class == "com.example.TextConverter"
    assert c.key.is_key and not c.value.is_key


class FlakyOnce(fakes.TextConverter):
    """Raises RetriableException on the first read and on the first write."""

    def __init__(self, config: object, *, is_key: bool = False) -> None:
        super().__init__(config, is_key=is_key)
        self.read_failures = self.write_failures = 1

    def to_connect_data(self, topic: str, data: bytes | None, headers: object = None) -> object:
        if self.read_failures:
            self.read_failures -= 1
            raise RetriableException("registry unavailable")
        return super().to_connect_data(topic, data)

    def from_connect_data(self, topic: str, schema: object, value: object, headers: object = None) -> bytes | None:
        if self.write_failures:
            self.write_failures -= 1
            raise RetriableException("registry unavailable")
        return super().from_connect_data(topic, schema, value)


def test_retriable_converter_failures_are_retried_with_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import lambda_connect.runtime.errors as errors_module

    sleeps: list[float] = []
    monkeypatch.setattr(errors_module.time, "sleep", sleeps.append)
    text = fakes.TextConverter(fakes.TextConverter.config_def.parse({}))
    flaky = FlakyOnce(fakes.TextConverter.config_def.parse({}))
    c = RecordConverters(text, flaky, text, ErrorPolicy(retry_timeout_ms=10_000))
    r = c.to_sink_record("t", 0, 0, None, "CREATE_TIME", b"k", b"v", [])
    assert r.value == "v"
    assert c.serialize(r)[1] == b"v"
    assert sleeps == [0.3, 0.3]
    no_budget = RecordConverters(text, FlakyOnce(fakes.TextConverter.config_def.parse({})), text)
    with pytest.raises(StageError) as info:
        no_budget.to_sink_record("t", 0, 0, None, "CREATE_TIME", b"k", b"v", [])
    assert info.value.stage is Stage.VALUE_CONVERTER
