from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api.errors import ConfigException
from lambda_connect.runtime.validation import (
    config_errors,
    config_key_info,
    effective_definition,
    parse_connector_config,
    validate_connector_config,
)

from . import fakes

BASE = {
    "name": "demo",
    "connector.class": "DemoSink",
    "topics": "orders",
    "target": "/tmp/x",
    "key.converter": "Text",
    "value.converter": "Text",
    "header.converter": "Text",
}


def validate(**changes: Any) -> dict[str, Any]:
    props = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    return validate_connector_config(props, fakes.registry())


def errors(**changes: Any) -> dict[str, list[str]]:
    return config_errors(validate(**changes))


def test_valid_config_has_kafka_configinfos_shape() -> None:
    infos = validate()
    assert infos["name"] == "DemoSink"
    assert infos["error_count"] == 0
    assert infos["groups"][:4] == ["Common", "Transforms", "Predicates", "Error Handling"]
    assert "Demo" in infos["groups"]
    entry = next(c for c in infos["configs"] if c["value"]["name"] == "tasks.max")
    assert entry["definition"]["order"] == 3 and "order_in_group" not in entry["definition"]
    assert set(entry["definition"]) == {"name", "type", "required", "default_value", "importance", "documentation",
                                        "group", "order", "width", "display_name", "dependents"}
    assert entry["value"] == {"name": "tasks.max", "value": "1", "recommended_values": [], "errors": [],
                              "visible": True}


def test_passwords_are_hidden_and_unknown_keys_ignored() -> None:
    infos = validate(token="plain-text", **{"some.unknown.key": "x"})
    token = next(c for c in infos["configs"] if c["value"]["name"] == "token")
    assert token["value"]["value"] == "[hidden]"
    assert token["definition"]["default_value"] == "[hidden]"
    assert all(c["value"]["name"] != "some.unknown.key" for c in infos["configs"])


def test_sink_topics_rules_report_on_both_keys() -> None:
    both = errors(**{"topics.regex": "o.*"})
    msg = "topics and topics.regex are mutually exclusive options, but both are set."
    assert both["topics"] == [msg] and both["topics.regex"] == [msg]
    neither = errors(topics=None)
    assert neither["topics"] == ["Must configure one of topics or topics.regex"]
    assert neither["topics.regex"] == ["Must configure one of topics or topics.regex"]


def test_dlq_topic_may_not_be_consumed() -> None:
    e = errors(topics="orders,dlq", **{"errors.deadletterqueue.topic.name": "dlq"})
    assert e["errors.deadletterqueue.topic.name"] == [
        "The DLQ topic 'dlq' may not be included in the list of topics ('topics=[orders, dlq]') consumed by the "
        "connector"
    ]
    e = errors(topics=None, **{"topics.regex": "d.*", "errors.deadletterqueue.topic.name": "dlq"})
    assert "regex" in e["errors.deadletterqueue.topic.name"][0]


def test_common_key_rules() -> None:
    e = errors(name="bad\u0007name", **{"tasks.max": "0", "errors.tolerance": "some"})
    assert set(e) == {"name", "tasks.max", "errors.tolerance"}
    assert "String must be one of: none, all" in e["errors.tolerance"][0]
    missing = config_errors(validate_connector_config({"connector.class": "DemoSink", "topics": "t"},
                                                      fakes.registry()))
    assert any("name" in m for m in missing["name"])


def test_transforms_are_embedded_with_their_groups() -> None:
    infos = validate(transforms="up,up", **{"transforms.up.type": "Upper", "transforms.up.secret": "pw"})
    e = config_errors(infos)
    assert e["transforms"] == ["Invalid value up,up for configuration transforms: Duplicate alias provided."]
    names = [c["value"]["name"] for c in infos["configs"]]
    embedded = [n for n in names if n.startswith("transforms.up.")]
    assert embedded == ["transforms.up.type", "transforms.up.predicate", "transforms.up.negate",
                        "transforms.up.suffix", "transforms.up.secret"]
    assert "Transforms: up" in infos["groups"]
    secret = next(c for c in infos["configs"] if c["value"]["name"] == "transforms.up.secret")
    assert secret["value"]["value"] == "[hidden]"
    assert secret["definition"]["group"] == "Transforms: up"


def test_transform_and_predicate_errors_name_their_keys() -> None:
    e = errors(transforms="x,y,n", predicates="p", **{
        "transforms.x.type": "Explode", "transforms.y.type": "Uppr", "transforms.n.type": "Upper",
        "transforms.n.negate": "true", "predicates.p.type": "TopicIs",
    })
    assert any("Missing required configuration" in m for m in e["transforms.x.times"])
    assert "Upper" in e["transforms.y.type"][0]
    assert e["transforms.n.negate"] == [
        "Config 'transforms.n.negate' was provided but there is no config 'transforms.n.predicate' defining a "
        "predicate to be negated."
    ]
    assert "predicates.p.topic" in e


def test_unknown_connector_class_lists_closest_names() -> None:
    e = errors(**{"connector.class": "DemoSinc"})
    assert "DemoSink" in e["connector.class"][0]


def test_converter_keys_are_embedded() -> None:
    definition = effective_definition({**BASE, "value.converter.fail.on": "x"}, fakes.registry())
    assert "value.converter.fail.on" in definition
    assert "key.converter.fail.on" in definition


def test_config_key_info_of_a_required_key() -> None:
    info = config_key_info(effective_definition(BASE, fakes.registry()).keys["connector.class"])
    assert info["required"] is True and info["default_value"] is None and info["type"] == "STRING"


def test_parse_raises_one_exception_listing_every_error() -> None:
    with pytest.raises(ConfigException) as info:
        parse_connector_config({**BASE, "tasks.max": "0", "errors.tolerance": "x"}, fakes.registry())
    assert set(info.value.errors) == {"tasks.max", "errors.tolerance"}
    assert str(info.value).startswith("The connector config has 2 error(s):")
    cfg = parse_connector_config({**BASE, "tasks.max": "3"}, fakes.registry())
    assert cfg.name == "demo" and cfg.type == "sink" and cfg.tasks_max == 3 and cfg.topics == ["orders"]
    assert cfg.connector_class is fakes.DemoSinkConnector
    assert not cfg.error_policy().tolerates()


def test_pipeline_only_needs_no_connector() -> None:
    infos = validate_connector_config({"transforms": "u", "transforms.u.type": "Upper", "value.converter": "Text",
                                       "key.converter": "Text", "header.converter": "Text"},
                                      fakes.registry(), pipeline_only=True)
    assert infos["error_count"] == 0
