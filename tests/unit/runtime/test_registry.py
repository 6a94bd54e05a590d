from __future__ import annotations

import pytest
from lambda_connect.api.errors import NotFoundException
from lambda_connect.runtime.registry import Registry, UnknownPluginError

from . import fakes


def test_full_simple_and_pruned_names_resolve_lazily() -> None:
    reg = Registry([("org.x.FooConverter", "tests.unit.runtime.fakes:TextConverter")])
    assert reg.aliases("org.x.FooConverter") == ["FooConverter", "Foo"]
    assert reg.resolve("org.x.FooConverter") is fakes.TextConverter
    assert reg.resolve("FooConverter") is fakes.TextConverter
    assert reg.resolve("Foo", {"converter"}) is fakes.TextConverter


def test_colliding_aliases_are_dropped_like_kafka() -> None:
    reg = Registry([
        ("a.one.SameConnector", "tests.unit.runtime.fakes:DemoSinkConnector"),
        ("b.two.SameConnector", "tests.unit.runtime.fakes:NullTask"),
    ])
    assert reg.aliases("a.one.SameConnector") == []
    with pytest.raises(UnknownPluginError):
        reg.resolve("Same")
    assert reg.resolve("a.one.SameConnector") is fakes.DemoSinkConnector


def test_one_plugin_under_two_class_names_keeps_its_alias() -> None:
    reg = Registry([
        ("a.one.SameConnector", "tests.unit.runtime.fakes:DemoSinkConnector"),
        ("b.two.SameConnector", "tests.unit.runtime.fakes:DemoSinkConnector"),
    ])
    assert reg.resolve("SameConnector") is reg.resolve("Same") is fakes.DemoSinkConnector


def test_kafka_builtin_names_and_nested_value_aliases() -> None:
    reg = Registry.default()
    assert reg.canonical("InsertField$Value") == "org.apache.kafka.connect.transforms.InsertField$Value"
    assert reg.canonical("Filter") == "org.apache.kafka.connect.transforms.Filter"
    assert reg.canonical("Json") == "org.apache.kafka.connect.json.JsonConverter"
    assert reg.canonical("FileStreamSink") == "org.apache.kafka.connect.file.FileStreamSinkConnector"
    assert Registry.default() is reg


def test_unknown_name_lists_three_closest_and_is_not_found() -> None:
    reg = fakes.registry()
    with pytest.raises(NotFoundException) as info:
        reg.resolve("Uper", {"transformation"})
    assert isinstance(info.value, UnknownPluginError)
    assert "Upper" in info.value.suggestions
    assert len(info.value.suggestions) <= 3
    assert "Transformation" in str(info.value) and "Uper" in str(info.value)


def test_wrong_kind_is_rejected() -> None:
    reg = fakes.registry()
    with pytest.raises(UnknownPluginError):
        reg.resolve("Upper", {"predicate"})
    assert reg.resolve("TextConverter", {"header_converter"}) is fakes.TextConverter


def test_descriptors_by_kind_and_plugin_info() -> None:
    reg = fakes.registry()
    sinks = reg.descriptors("sink")
    assert [d.class_name for d in sinks] == ["com.example.DemoSinkConnector"]
    assert sinks[0].plugin_info() == {"class": "com.example.DemoSinkConnector", "type": "sink", "version": "2.1"}
    kinds = {d.kind for d in reg.descriptors() if d.class_name == "com.example.TextConverter"}
    assert kinds == {"converter", "header_converter"}
    upper = next(d for d in reg.descriptors("transformation") if d.class_name == "com.example.Upper")
    assert "version" not in upper.plugin_info()


def test_missing_module_is_left_out_of_descriptors() -> None:
    reg = Registry([("x.GoneConverter", "no.such.module:Gone"), *fakes.ENTRIES])
    assert "x.GoneConverter" not in {d.class_name for d in reg.descriptors()}
    with pytest.raises(Exception, match="could not be loaded"):
        reg.resolve("x.GoneConverter")


def test_entry_points_only_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    import lambda_connect.runtime.registry as module

    entry = ("com.third.PartyConverter", "tests.unit.runtime.fakes:TextConverter")
    monkeypatch.setattr(module, "_entry_points", lambda: [entry])
    Registry.default.cache_clear()
    try:
        monkeypatch.delenv("PLUGIN_ENTRY_POINTS", raising=False)
        assert Registry.default().canonical("Party") is None
        Registry.default.cache_clear()
        monkeypatch.setenv("PLUGIN_ENTRY_POINTS", "1")
        assert Registry.default().canonical("Party") == "com.third.PartyConverter"
    finally:
        Registry.default.cache_clear()


def test_every_built_in_plugin_reports_the_package_version() -> None:
    import lambda_connect

    versions = {d.class_name: d.plugin_info().get("version") for d in Registry.default().descriptors()}
    assert versions and set(versions.values()) == {lambda_connect.__version__}, versions


def test_short_names_that_predate_a_collision_keep_their_plugin() -> None:
    reg = Registry.default()
    # Confluent's and AWS Glue's JSON Schema converters share a simple name; it was Confluent's first
    assert reg.canonical("JsonSchemaConverter") == reg.canonical("JsonSchema") == \
        "io.confluent.connect.json.JsonSchemaConverter"
    glue = "com.amazonaws.services.schemaregistry.kafkaconnect.jsonschema.JsonSchemaConverter"
    assert reg.canonical(glue) == glue
    # the HTTP sink registered under Confluent's and Aiven's names keeps Confluent's as the owner
    assert reg.canonical("HttpSink") == "io.confluent.connect.http.HttpSinkConnector"
