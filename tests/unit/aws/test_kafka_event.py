"""The Kafka event views read every shape Lambda sends, and build_kafka_event writes it back."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.aws.kafka_event import (
    LOCAL_CLUSTER_ARN,
    KafkaEvent,
    KafkaEventRecord,
    KafkaRecordTuple,
    MalformedEventError,
    build_kafka_event,
)

EVENTS = Path(__file__).resolve().parents[3] / "events"
_DROP = object()  # marks a field to leave out of raw_record


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def raw_record(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "topic": "orders",
        "partition": 0,
        "offset": 5,
        "timestamp": 1764028800123,
        "timestampType": "CREATE_TIME",
        "key": b64(b"k"),
        "value": b64(b"v"),
        "headers": [],
    }
    record.update(fields)
    return {k: v for k, v in record.items() if v is not _DROP}


def event_of(*records: dict[str, Any], source: str = "aws:kafka") -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(f"{record.get('topic', 'orders')}-{record.get('partition', 0)}", []).append(record)
    return {"eventSource": source, "bootstrapServers": "b-1:9092", "records": groups}


class TestMskSample:
    def test_top_level_fields(self) -> None:
        event = KafkaEvent(load_event("msk.json"))
        assert event.event_source == "aws:kafka"
        assert event.is_msk
        assert event.event_source_arn.startswith("arn:aws:kafka:eu-west-1:111122223333:cluster/shop-events/")
        assert event.bootstrap_servers == [
            "b-1.shopevents.ab12cd.c3.kafka.eu-west-1.amazonaws.com:9098",
            "b-2.shopevents.ab12cd.c3.kafka.eu-west-1.amazonaws.com:9098",
        ]

    def test_records_use_their_own_topic_even_when_it_contains_a_dash(self) -> None:
        event = KafkaEvent(load_event("msk.json"))
        assert event.partitions() == [("shop-orders", 0), ("shop-orders", 1), ("shop-orders", 2)]
        assert [(r.topic, r.partition, r.offset) for r in event.records] == [
            ("shop-orders", 0, 41),
            ("shop-orders", 0, 42),
            ("shop-orders", 1, 9),
            ("shop-orders", 2, 17),
        ]
        assert len(event) == 4

    def test_json_value_and_key_decode_to_bytes(self) -> None:
        first = KafkaEvent(load_event("msk.json")).records[0]
        assert first.key == b"order-7"
        assert json.loads(first.value)["order_id"] == 7
        assert first.raw_key == "b3JkZXItNw=="
        assert first.timestamp == 1764028800123
        assert first.timestamp_type == "CREATE_TIME"

    def test_headers_keep_order_duplicates_case_and_mask_signed_bytes(self) -> None:
        first = KafkaEvent(load_event("msk.json")).records[0]
        assert first.headers == [
            ("content-type", b"application/json"),
            ("Trace-Id", b"4bf92f3577b34da6"),
            ("trace-id", b"00f067aa0ba902b7"),
            ("checksum", b"\xde\xad\xbe\xef"),
        ]

    def test_missing_key_and_null_key_are_both_none(self) -> None:
        records = KafkaEvent(load_event("msk.json")).records
        no_key_field, null_key = records[1], records[2]
        assert "key" not in no_key_field.raw_record
        assert no_key_field.key is None and no_key_field.raw_key is None
        assert null_key.raw_record["key"] is None
        assert null_key.key is None

    def test_binary_value_stays_bytes_with_schema_metadata(self) -> None:
        avro = KafkaEvent(load_event("msk.json")).records[2]
        assert avro.value is not None and avro.value[:5] == b"\x00\x00\x00\x00\x2a"
        assert avro.value.endswith(b"\xff\x00\x80")
        assert avro.timestamp_type == "LOG_APPEND_TIME"
        assert avro.value_schema_metadata == {"dataFormat": "AVRO", "schemaId": "42"}
        assert avro.key_schema_metadata == {"dataFormat": "JSON", "schemaId": "7"}
        assert KafkaEvent(load_event("msk.json")).records[0].value_schema_metadata is None

    def test_null_value_is_a_tombstone(self) -> None:
        tombstone = KafkaEvent(load_event("msk.json")).records[3]
        assert tombstone.value is None
        assert tombstone.is_tombstone
        assert tombstone.key == b"order-3"

    def test_item_identifier_is_the_batch_item_failures_shape(self) -> None:
        record = KafkaEvent(load_event("msk.json")).records[2]
        assert record.item_identifier == {"partition": "shop-orders-1", "offset": 9}
        assert record.label == "shop-orders-1@9"

    def test_reading_never_mutates_the_event(self) -> None:
        raw = load_event("msk.json")
        before = copy.deepcopy(raw)
        event = KafkaEvent(raw)
        for record in event.records:
            _ = record.key, record.value, record.headers, record.value_schema_metadata, record.to_tuple()
        assert raw == before


class TestOtherSamples:
    def test_self_managed(self) -> None:
        event = KafkaEvent(load_event("self-managed-kafka.json"))
        assert event.event_source == "SelfManagedKafka"
        assert not event.is_msk
        assert event.event_source_arn is None
        assert [r.offset for r in event.records] == [1200, 1201]
        assert event.records[0].headers == [("content-type", b"application/json"), ("ce_id", b"42")]

    def test_legacy_self_managed_source_is_accepted(self) -> None:
        event = KafkaEvent(load_event("self-managed-kafka-legacy.json"))
        assert event.event_source == "aws:SelfManagedKafka"
        assert event.bootstrap_servers == ["kafka-1.example.internal:9092"]
        assert event.records[0].key == b"acct-9"

    def test_missing_value_field_is_a_tombstone(self) -> None:
        (record,) = KafkaEvent(load_event("msk-tombstone-missing-value.json")).records
        assert "value" not in record.raw_record
        assert record.value is None and record.is_tombstone
        assert record.key == b"order-8"

    def test_bad_base64_names_the_record_and_field(self) -> None:
        good, bad = KafkaEvent(load_event("msk-malformed.json")).records
        assert good.key == b"order-10"
        with pytest.raises(MalformedEventError) as info:
            _ = bad.value
        assert "shop-orders-0@51" in str(info.value)
        assert info.value.field == "value"
        assert info.value.record == "shop-orders-0@51"


class TestOrdering:
    def test_records_are_grouped_and_sorted_by_offset(self) -> None:
        raw = {
            "eventSource": "aws:kafka",
            "records": {
                "a-b-1": [
                    raw_record(topic="a-b", partition=1, offset=7),
                    raw_record(topic="a-b", partition=1, offset=3),
                ],
                "a-b-0": [raw_record(topic="a-b", partition=0, offset=2)],
            },
        }
        event = KafkaEvent(raw)
        assert [(r.partition, r.offset) for r in event.records] == [(1, 3), (1, 7), (0, 2)]
        assert event.partitions() == [("a-b", 1), ("a-b", 0)]

    def test_records_listed_under_a_misleading_key_are_refused(self) -> None:
        raw = {"eventSource": "aws:kafka", "records": {"x-9": [raw_record(topic="orders-eu", partition=4)]}}
        with pytest.raises(MalformedEventError) as info:
            _ = KafkaEvent(raw).records
        assert info.value.field == "topic"
        assert info.value.record == "orders-eu-4@5"

    def test_keys_are_read_as_numbers_and_duplicates_kept_once(self) -> None:
        raw = {"eventSource": "aws:kafka", "records": {
            "orders-eu-4": [raw_record(topic="orders-eu", partition=4, offset=5)],
            "orders-eu-04": [raw_record(topic="orders-eu", partition=4, offset=5, value="eA==")],
        }}
        (record,) = KafkaEvent(raw).records
        assert record.item_identifier == {"partition": "orders-eu-4", "offset": 5}
        assert record.value != b"x"  # the first occurrence


class TestMalformed:
    @pytest.mark.parametrize("source", [None, "aws:sqs", "kafka"])
    def test_unknown_event_source(self, source: str | None) -> None:
        raw = event_of(raw_record())
        raw["eventSource"] = source
        with pytest.raises(MalformedEventError, match="eventSource") as info:
            KafkaEvent(raw)
        assert info.value.field == "eventSource"

    def test_not_a_mapping(self) -> None:
        with pytest.raises(MalformedEventError):
            KafkaEvent(["aws:kafka"])  # type: ignore[arg-type]

    def test_missing_records(self) -> None:
        with pytest.raises(MalformedEventError, match="'records'"):
            _ = KafkaEvent({"eventSource": "aws:kafka"}).records

    @pytest.mark.parametrize("field", ["offset", "topic", "partition"])
    def test_missing_identity_field(self, field: str) -> None:
        raw = {"eventSource": "aws:kafka", "records": {"orders-0": [raw_record(**{field: _DROP})]}}
        with pytest.raises(MalformedEventError) as info:
            _ = KafkaEvent(raw).records
        assert info.value.field == field
        assert info.value.record is not None and "orders-0" in info.value.record

    def test_offset_must_be_an_integer(self) -> None:
        with pytest.raises(MalformedEventError, match="'offset' must be an integer"):
            _ = KafkaEvent(event_of(raw_record(offset="12"))).records

    @pytest.mark.parametrize(
        ("headers", "field"),
        [
            ([{"a": [1], "b": [2]}], "headers[0]"),
            ([{}], "headers[0]"),
            ([{"ok": [1]}, ["not", "an", "object"]], "headers[1]"),
            ([{"a": [256]}], "headers[0]"),
            ([{"a": [-129]}], "headers[0]"),
            ([{"a": ["x"]}], "headers[0]"),
            ([{"a": "YWJj"}], "headers[0]"),
        ],
    )
    def test_bad_headers(self, headers: list[Any], field: str) -> None:
        (record,) = KafkaEvent(event_of(raw_record(headers=headers))).records
        with pytest.raises(MalformedEventError) as info:
            _ = record.headers
        assert info.value.field == field
        assert info.value.record == "orders-0@5"

    def test_header_byte_bounds_are_accepted(self) -> None:
        (record,) = KafkaEvent(event_of(raw_record(headers=[{"b": [-128, -1, 0, 127, 255]}]))).records
        assert record.headers == [("b", bytes([0x80, 0xFF, 0x00, 0x7F, 0xFF]))]

    def test_null_header_value_is_kept_as_none(self) -> None:
        (record,) = KafkaEvent(event_of(raw_record(headers=[{"h": None}]))).records
        assert record.headers == [("h", None)]

    def test_missing_headers_and_timestamp(self) -> None:
        (record,) = KafkaEvent(event_of(raw_record(headers=_DROP, timestamp=_DROP, timestampType=_DROP))).records
        assert record.headers == []
        assert record.timestamp is None
        assert record.timestamp_type == "NO_TIMESTAMP_TYPE"

    def test_key_of_the_wrong_type(self) -> None:
        (record,) = KafkaEvent(event_of(raw_record(key=123))).records
        with pytest.raises(MalformedEventError, match="'key'"):
            _ = record.key

    def test_record_that_is_not_an_object(self) -> None:
        with pytest.raises(MalformedEventError):
            KafkaEventRecord("nope", slot="orders-0")  # type: ignore[arg-type]


class TestBuild:
    RECORDS = [
        KafkaRecordTuple("shop-orders", 0, 10, 1764028800000, "CREATE_TIME", b"k1", b'{"a":1}', [("h", b"\x00\xff")]),
        KafkaRecordTuple("shop-orders", 0, 11, 1764028800001, "CREATE_TIME", None, b"\xff\xfe", []),
        KafkaRecordTuple(
            "shop-orders", 3, 4, 1764028800002, "LOG_APPEND_TIME", b"k3", None, [("A", b"1"), ("a", b"2")]
        ),
    ]

    def test_exact_msk_shape(self) -> None:
        event = build_kafka_event(self.RECORDS[:2], bootstrap_servers=["127.0.0.1:9092", "127.0.0.1:9093"])
        assert event == {
            "eventSource": "aws:kafka",
            "eventSourceArn": LOCAL_CLUSTER_ARN,
            "bootstrapServers": "127.0.0.1:9092,127.0.0.1:9093",
            "records": {
                "shop-orders-0": [
                    {
                        "topic": "shop-orders",
                        "partition": 0,
                        "offset": 10,
                        "timestamp": 1764028800000,
                        "timestampType": "CREATE_TIME",
                        "key": "azE=",
                        "value": "eyJhIjoxfQ==",
                        "headers": [{"h": [0, 255]}],
                    },
                    {
                        "topic": "shop-orders",
                        "partition": 0,
                        "offset": 11,
                        "timestamp": 1764028800001,
                        "timestampType": "CREATE_TIME",
                        "value": "//4=",
                        "headers": [],
                    },
                ]
            },
        }
        assert list(event) == ["eventSource", "eventSourceArn", "bootstrapServers", "records"]

    def test_tombstone_value_is_null_and_missing_key_is_omitted(self) -> None:
        event = build_kafka_event(self.RECORDS, cluster_arn="arn:aws:kafka:eu-west-1:1:cluster/c/u")
        assert event["eventSourceArn"] == "arn:aws:kafka:eu-west-1:1:cluster/c/u"
        assert event["records"]["shop-orders-3"][0]["value"] is None
        assert "key" not in event["records"]["shop-orders-0"][1]

    def test_self_managed_has_no_arn(self) -> None:
        event = build_kafka_event(self.RECORDS, source="SelfManagedKafka", bootstrap_servers="k:9092")
        assert "eventSourceArn" not in event
        assert KafkaEvent(event).event_source == "SelfManagedKafka"
        with pytest.raises(ValueError, match="only sent for MSK"):
            build_kafka_event(self.RECORDS, source="SelfManagedKafka", cluster_arn="arn:x")
        with pytest.raises(ValueError, match="source must be one of"):
            build_kafka_event(self.RECORDS, source="aws:sqs")

    def test_round_trip_through_the_view(self) -> None:
        event = json.loads(json.dumps(build_kafka_event(self.RECORDS)))
        assert [r.to_tuple() for r in KafkaEvent(event).records] == self.RECORDS

    def test_sample_events_round_trip_byte_exact(self) -> None:
        for name in ("self-managed-kafka.json", "self-managed-kafka-legacy.json"):
            raw = load_event(name)
            view = KafkaEvent(raw)
            rebuilt = build_kafka_event(
                [r.to_tuple() for r in view.records],
                source=view.event_source,
                bootstrap_servers=raw["bootstrapServers"],
            )
            assert rebuilt == raw
