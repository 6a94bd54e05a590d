"""Connector configs copied verbatim from Apache Kafka's documentation validate and run unchanged.

The properties texts below are Kafka's own examples (config/connect-file-*.properties and the
"Transformations" / "Predicates" / error-reporting sections of the Kafka Connect user guide).
"""

from __future__ import annotations

import json

import pytest
from lambda_connect.cli.transform import RecordPipeline
from lambda_connect.runtime.config_providers import read_properties
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.validation import config_errors, parse_connector_config, validate_connector_config

FILE_SOURCE = """
name=local-file-source
connector.class=FileStreamSource
tasks.max=1
file=test.txt
topic=connect-test
"""

FILE_SINK = """
name=local-file-sink
connector.class=FileStreamSink
tasks.max=1
file=test.sink.txt
topics=connect-test
"""

SOURCE_WITH_SMTS = FILE_SOURCE + """
transforms=MakeMap, InsertSource
transforms.MakeMap.type=org.apache.kafka.connect.transforms.HoistField$Value
transforms.MakeMap.field=line
transforms.InsertSource.type=org.apache.kafka.connect.transforms.InsertField$Value
transforms.InsertSource.static.field=data_source
transforms.InsertSource.static.value=test-file-source
"""

SINK_WITH_PREDICATE = FILE_SINK + """
transforms=Filter
transforms.Filter.type=org.apache.kafka.connect.transforms.Filter
transforms.Filter.predicate=IsFoo

predicates=IsFoo
predicates.IsFoo.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches
predicates.IsFoo.pattern=foo
"""

SINK_WITH_DLQ = FILE_SINK + """
# retry for at most 10 minutes times waiting up to 30 seconds between consecutive failures
errors.retry.timeout=600000
errors.retry.delay.max.ms=30000
# log error context along with application logs, but do not include configs and messages
errors.log.enable=true
errors.log.include.messages=false
# produce error context into the Kafka topic
errors.deadletterqueue.topic.name=my-connector-errors
# Tolerate all errors.
errors.tolerance=all
errors.deadletterqueue.context.headers.enable=true
"""

DOC_CONFIGS = {
    "file-source": FILE_SOURCE,
    "file-sink": FILE_SINK,
    "source-with-smts": SOURCE_WITH_SMTS,
    "sink-with-predicate": SINK_WITH_PREDICATE,
    "sink-with-dlq": SINK_WITH_DLQ,
}


@pytest.mark.parametrize("text", DOC_CONFIGS.values(), ids=DOC_CONFIGS.keys())
def test_kafka_documentation_configs_validate_without_errors(text: str) -> None:
    props = read_properties(text)
    infos = validate_connector_config(props, Registry.default())
    assert infos["error_count"] == 0, config_errors(infos)
    parsed = parse_connector_config(props, Registry.default())
    assert parsed.name == props["name"]


def test_documented_smt_example_produces_the_documented_record() -> None:
    """Kafka's guide: each line of the file becomes {"line": ..., "data_source": "test-file-source"}."""
    props = read_properties(SOURCE_WITH_SMTS)
    props |= {"key.converter": "org.apache.kafka.connect.storage.StringConverter",
              "value.converter": "org.apache.kafka.connect.json.JsonConverter",
              "value.converter.schemas.enable": "false"}
    pipeline = RecordPipeline.from_config(props)
    out = pipeline.process(json.dumps({"topic": "connect-test", "partition": 0, "offset": None, "timestamp": None,
                                       "key": None, "value": "foo", "headers": []}))
    assert out["value"] == {"line": "foo", "data_source": "test-file-source"}


@pytest.mark.parametrize(("topic", "dropped"), [("foo", True), ("bar", False)])
def test_documented_predicate_example_filters_only_matching_topics(topic: str, dropped: bool) -> None:
    props = read_properties(SINK_WITH_PREDICATE)
    props |= {"value.converter": "org.apache.kafka.connect.storage.StringConverter",
              "key.converter": "org.apache.kafka.connect.storage.StringConverter"}
    out = RecordPipeline.from_config(props).process(json.dumps(
        {"topic": topic, "partition": 0, "offset": 1, "timestamp": None, "key": "k", "value": "v", "headers": []}))
    assert out.get("dropped", False) is dropped
