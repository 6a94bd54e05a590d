from __future__ import annotations

import pytest
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA
from lambda_connect.api.errors import ConfigException
from lambda_connect.api.records import SinkRecord
from lambda_connect.runtime.chain import TransformChain
from lambda_connect.runtime.errors import ErrorPolicy, Stage, StageError

from . import fakes


def rec(topic: str = "orders", value: str | None = "a") -> SinkRecord:
    return SinkRecord(topic, 0, None, None, OPTIONAL_STRING_SCHEMA, value, 7)


def chain(props: dict[str, str], policy: ErrorPolicy | None = None) -> TransformChain:
    return TransformChain.from_config(props, fakes.registry(), policy)


def test_stages_run_in_listed_order() -> None:
    c = chain({"transforms": "a,b", "transforms.a.type": "Upper", "transforms.a.suffix": "-1",
               "transforms.b.type": "com.example.Upper", "transforms.b.suffix": "-2"})
    out = c.apply(rec())
    assert out is not None and out.value == "A-1-2"
    assert out.kafka_offset == 7 and out.original_topic == "orders"


def test_predicate_and_negate_select_records() -> None:
    props = {"transforms": "drop", "transforms.drop.type": "Drop", "transforms.drop.predicate": "isFoo",
             "predicates": "isFoo", "predicates.isFoo.type": "TopicIs", "predicates.isFoo.topic": "foo"}
    c = chain(props)
    assert c.apply(rec("foo")) is None
    assert c.apply(rec("bar")).value == "a"
    negated = chain({**props, "transforms.drop.negate": "true"})
    assert negated.apply(rec("foo")).value == "a"
    assert negated.apply(rec("bar")) is None


def test_predicates_are_shared_between_stages() -> None:
    c = chain({"transforms": "u,d", "transforms.u.type": "Upper", "transforms.u.predicate": "p",
               "transforms.d.type": "Drop", "transforms.d.predicate": "p", "transforms.d.negate": "true",
               "predicates": "p", "predicates.p.type": "TopicIs", "predicates.p.topic": "keep"})
    assert c.predicates["p"] is c.transforms[0][2] is c.transforms[1][2]
    assert c.apply(rec("keep")).value == "A"
    assert c.apply(rec("other")) is None


def test_drop_stops_the_chain() -> None:
    c = chain({"transforms": "d,x", "transforms.d.type": "Drop", "transforms.x.type": "Explode",
               "transforms.x.times": "1"})
    assert c.apply(rec()) is None


def test_failure_is_a_transformation_stage_error_naming_the_class() -> None:
    c = chain({"transforms": "x", "transforms.x.type": "Explode", "transforms.x.times": "1"})
    with pytest.raises(StageError) as info:
        c.apply(rec())
    assert info.value.stage is Stage.TRANSFORMATION
    assert info.value.plugin_class == "com.example.Explode"
    assert info.value.message == "boom"


def test_config_errors_are_reported_under_the_connector_key_all_at_once() -> None:
    with pytest.raises(ConfigException) as info:
        chain({"transforms": "x,y,z", "transforms.x.type": "Explode", "transforms.x.times": "many",
               "transforms.y.type": "Nope", "transforms.z.type": "Upper", "transforms.z.negate": "true"})
    errors = info.value.errors
    assert "transforms.x.times" in errors and "configuration transforms.x.times" in errors["transforms.x.times"][0]
    assert "transforms.y.type" in errors and "Nope" in errors["transforms.y.type"][0]
    assert errors["transforms.z.negate"] == [
        "Config 'transforms.z.negate' was provided but there is no config 'transforms.z.predicate' "
        "defining a predicate to be negated."
    ]


def test_missing_type_and_unknown_predicate_alias() -> None:
    with pytest.raises(ConfigException) as info:
        chain({"transforms": "a,b", "transforms.b.type": "Upper", "transforms.b.predicate": "ghost"})
    assert "transforms.a.type" in info.value.errors
    assert "transforms.b.predicate" in info.value.errors


def test_retriable_failures_are_retried_within_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    props = {"transforms": "f", "transforms.f.type": "Flaky", "transforms.f.failures": "2"}
    sleeps: list[float] = []
    policy = ErrorPolicy(retry_timeout_ms=60_000)
    c = chain(props, policy)
    import lambda_connect.runtime.errors as errors_module

    monkeypatch.setattr(errors_module.time, "sleep", sleeps.append)
    out = c.apply(rec())
    assert out is not None and out.value == "a!"
    assert sleeps == [0.3, 0.6]
    with pytest.raises(StageError) as info:
        chain(props).apply(rec())  # no retry budget: the first retriable failure is final
    assert type(info.value.cause).__name__ == "RetriableException"


def test_empty_chain_passes_records_through() -> None:
    c = chain({})
    r = rec()
    assert len(c) == 0 and c.apply(r) is r
