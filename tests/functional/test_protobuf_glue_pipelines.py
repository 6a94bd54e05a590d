"""Protobuf and Glue formats end to end through the real handlers.

Sink: ``functions/sink_task/app.py`` gets the MSK event of ``events/msk.json`` with its values
replaced by Protobuf (Confluent registry, in-process ``mock://``) or Glue-framed bytes (moto),
and the JDBC sink writes rows to SQLite. Source: ``functions/source_task/app.py`` runs a JDBC
source over SQLite on the schedule event and produces Protobuf / Glue-Avro to the embedded
broker; what lands in Kafka decodes back with a fresh converter, and the Glue-Avro topic is
read back by a Glue-Avro JDBC sink.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import json
import sqlite3
import uuid
from decimal import Decimal as D
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.api.data import INT64_SCHEMA, STRING_SCHEMA, UTC, Decimal, Schema, Struct, Timestamp, Type

from tests.fixtures.broker import consume_all
from tests.fixtures.glue import glue_registry  # noqa: F401 - the "glue" fixture

ROOT = Path(__file__).parents[2]
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lambda-connect-sink"

PAYMENT = Schema.struct(
    [("card", Schema(Type.STRING, optional=True)), ("account", Schema(Type.INT64, optional=True))],
    name="io.confluent.connect.protobuf.Union.payment",
    optional=True,
)
STATE = Schema(
    Type.STRING,
    optional=True,
    parameters={
        "io.confluent.connect.protobuf.Enum": "State",
        "io.confluent.connect.protobuf.Enum.PLACED": "0",
        "io.confluent.connect.protobuf.Enum.SHIPPED": "1",
    },
)
ORDER = Schema.struct(
    [
        ("order_id", INT64_SCHEMA),
        ("customer_id", STRING_SCHEMA),
        ("total", Decimal.schema(2, optional=True)),
        ("placed_at", Timestamp.schema(optional=True)),
        ("note", Schema(Type.STRING, optional=True)),
        ("state", STATE),
        ("payment_0", PAYMENT),
    ],
    name="shop.Order",
)


def order(i: int) -> Struct:
    return Struct(ORDER, {
        "order_id": i,
        "customer_id": f"c-{i}",
        "total": D(f"{i}9.90"),
        "placed_at": dt.datetime(2025, 11, 25, 0, 0, i, 123000, tzinfo=UTC),
        "note": None if i % 2 else "gift",
        "state": "SHIPPED" if i % 2 else "PLACED",
        "payment_0": Struct(PAYMENT, {"card": "visa"} if i % 2 else {"account": 1000 + i}),
    })


class Context:
    def __init__(self) -> None:
        self.invoked_function_arn = FUNCTION_ARN
        self.aws_request_id = uuid.uuid4().hex

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def load(function: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bootstrap: str | None = None) -> ModuleType:
    monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.delenv("LAMBDA_CONNECT_CONNECTOR", raising=False)
    if bootstrap:
        monkeypatch.setenv("LAMBDA_CONNECT_BOOTSTRAP_SERVERS", bootstrap)
    else:
        monkeypatch.delenv("LAMBDA_CONNECT_BOOTSTRAP_SERVERS", raising=False)
    app_path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"{function}_{uuid.uuid4().hex}", app_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def converter_props(kind: str) -> dict[str, str]:
    """``protobuf``/``glue-protobuf`` keep null primitives (``optional.for.nullables``);
    ``protobuf-defaults`` is Confluent's default mapping (null written as the default)."""
    keep_null = {"value.converter.optional.for.nullables": "true"}
    if kind in ("protobuf", "protobuf-defaults"):
        return {"value.converter": "io.confluent.connect.protobuf.ProtobufConverter",
                "value.converter.schema.registry.url": f"mock://{uuid.uuid4().hex}",
                **(keep_null if kind == "protobuf" else {})}
    cls = {
        "glue-avro": "com.amazonaws.services.schemaregistry.kafkaconnect.AWSKafkaAvroConverter",
        "glue-protobuf": "com.amazonaws.services.schemaregistry.kafkaconnect.protobuf.ProtobufSchemaConverter",
        "glue-json": "com.amazonaws.services.schemaregistry.kafkaconnect.jsonschema.JsonSchemaConverter",
    }[kind]
    return {"value.converter": cls, "value.converter.registry.name": "reg", "value.converter.region": "us-east-1",
            "value.converter.schemaAutoRegistrationEnabled": "true", **(keep_null if kind == "glue-protobuf" else {})}


def value_converter(props: dict[str, str]) -> Any:
    """The converter the connector config names, built the way the runtime builds it."""
    from lambda_connect.runtime.conversion import RecordConverters

    return RecordConverters.from_config({**props, "key.converter": "StringConverter"}).value


def msk_event(topic: str, values: list[bytes]) -> dict[str, Any]:
    """events/msk.json with every record moved to ``topic`` and given the next value."""
    event = json.loads((ROOT / "events" / "msk.json").read_text())
    records = [r for batch in event["records"].values() for r in batch][: len(values)]
    assert len(records) == len(values)
    for record, value in zip(records, values, strict=True):
        record["topic"] = topic
        record["value"] = base64.b64encode(value).decode()
    event["records"] = {}
    for r in records:
        event["records"].setdefault(f"{topic}-{r['partition']}", []).append(r)
    return event


def rows(db: Path, table: str, columns: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f'SELECT {columns} FROM "{table}" ORDER BY order_id').fetchall()


@pytest.mark.parametrize("kind", ["protobuf", "protobuf-defaults", "glue-avro", "glue-protobuf", "glue-json"])
def test_sink_handler_writes_rows_from_each_format(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, glue: None
) -> None:
    props = converter_props(kind)
    protobuf = kind in ("protobuf", "protobuf-defaults", "glue-protobuf")
    schema = ORDER if protobuf else Schema.struct(
        [(f.name, f.schema) for f in ORDER.fields if f.name != "payment_0"], name="shop.Order"
    )
    writer = value_converter(props)
    values = [writer.from_connect_data("shop-orders", schema, Struct(schema, {
        f.name: order(i).get(f.name) for f in schema.fields})) for i in (1, 2, 3, 4)]
    app = load("sink_task", tmp_path, monkeypatch)
    db = tmp_path / "sink.db"
    app.handler.store.create_connector("orders-db", {
        "name": "orders-db", "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "connection.url": f"jdbc:sqlite:{db}", "topics": "shop-orders", "auto.create": "true",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "transforms": "flat", "transforms.flat.type": "org.apache.kafka.connect.transforms.Flatten$Value",
        "transforms.flat.delimiter": "_", **props,
    })
    response = app.lambda_handler({**msk_event("shop-orders", values), "connector": "orders-db"}, Context())
    assert response.get("batchItemFailures", []) == []
    got = rows(db, "shop-orders", "order_id, customer_id, total, note, state")
    assert [r[0] for r in got] == [1, 2, 3, 4] and got[0][1] == "c-1" and got[1][3] == "gift"
    assert got[0][3] == ("" if kind == "protobuf-defaults" else None)  # Confluent's default writes null as ""
    assert D(str(got[2][2])) == D("39.90") and [r[4] for r in got] == ["SHIPPED", "PLACED", "SHIPPED", "PLACED"]
    if protobuf:  # every Protobuf field is optional by default; with optional.for.nullables scalars are required
        with sqlite3.connect(db) as conn:
            not_null = {r[1] for r in conn.execute('PRAGMA table_info("shop-orders")') if r[3]}
        assert not_null == (set() if kind == "protobuf-defaults" else {"order_id", "customer_id"})
        # the oneof, flattened from its Connect union struct
        assert rows(db, "shop-orders", "order_id, payment_0_card, payment_0_account") == [
            (1, "visa", None), (2, None, 1002), (3, "visa", None), (4, None, 1004)
        ]


def _source_table(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, customer VARCHAR(40) NOT NULL, "
                     "note VARCHAR(40) NULL, amount BIGINT NOT NULL)")
        conn.executemany("INSERT INTO orders (customer, note, amount) VALUES (?, ?, ?)",
                         [("ann", None, 10), ("bob", "rush", 20), ("cy", None, 30)])


@pytest.mark.broker
@pytest.mark.parametrize("kind", ["protobuf", "glue-avro"])
def test_jdbc_source_produces_bytes_that_decode_back(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_broker: str, kafka_topic: Any, glue: None
) -> None:
    prefix = kafka_topic(prefix="pbsrc") + "-"
    db = tmp_path / "source.db"
    _source_table(db)
    props = converter_props(kind)
    app = load("source_task", tmp_path, monkeypatch, kafka_broker)
    app.handler.store.create_connector("orders-source", {
        "name": "orders-source", "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": f"jdbc:sqlite:{db}", "mode": "incrementing", "incrementing.column.name": "id",
        "table.whitelist": "orders", "topic.prefix": prefix, "poll.interval.ms": "0", **props,
    })
    response = app.lambda_handler({"connector": "orders-source", "task": 0}, Context())
    assert response["records_produced"] == 3, response
    topic = prefix + "orders"
    messages = consume_all(kafka_broker, topic, 3)
    reader = value_converter(props)  # a fresh converter: everything comes from the registry
    # (null keys: the records may spread over the topic's partitions, so compare them sorted)
    decoded = [reader.to_connect_data(topic, m.value()) for m in messages]
    assert sorted((v.value.get("id"), v.value.get("customer"), v.value.get("note"), v.value.get("amount"))
                  for v in decoded) == [(1, "ann", None, 10), (2, "bob", "rush", 20), (3, "cy", None, 30)]
    if kind == "protobuf":
        assert all(m.value()[0] == 0 and m.value()[5] == 0 for m in messages)  # Confluent frame, first message
        return
    assert all(m.value()[0] == 3 for m in messages)
    # the same Glue-Avro topic read back by a Glue-Avro JDBC sink
    (tmp_path / "sink").mkdir()
    sink = load("sink_task", tmp_path / "sink", monkeypatch)
    out = tmp_path / "copy.db"
    sink.handler.store.create_connector("orders-copy", {
        "name": "orders-copy", "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "connection.url": f"jdbc:sqlite:{out}", "topics": topic, "auto.create": "true",
        "table.name.format": "orders_copy", "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        **props,
    })
    event = msk_event(topic, [m.value() for m in messages])
    assert sink.lambda_handler({**event, "connector": "orders-copy"}, Context()).get("batchItemFailures", []) == []
    with sqlite3.connect(out) as conn:
        copied = conn.execute("SELECT id, customer, note, amount FROM orders_copy ORDER BY id").fetchall()
    assert copied == [(1, "ann", None, 10), (2, "bob", "rush", 20), (3, "cy", None, 30)]


@pytest.mark.parametrize("kind", ["protobuf", "glue-protobuf"])
def test_unknown_schema_goes_to_the_error_path_naming_it(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, glue: None
) -> None:
    from lambda_connect.plugins.converters._glue_registry import glue_frame
    from lambda_connect.plugins.converters._schema_registry import frame
    from lambda_connect.runtime.sink_worker import RecordFailedError

    props = converter_props(kind)
    writer = value_converter(props)
    good = [writer.from_connect_data("shop-orders", ORDER, order(i)) for i in (1, 2, 3)]
    missing = uuid.uuid4()
    unknown = frame(4242, b"\x00\x08\x01") if kind == "protobuf" else glue_frame(missing, b"\x00\x08\x01")
    named = "id 4242" if kind == "protobuf" else str(missing)
    app = load("sink_task", tmp_path, monkeypatch)
    base = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": "shop-orders",
        "auto.create": "true", "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "transforms": "flat", "transforms.flat.type": "org.apache.kafka.connect.transforms.Flatten$Value",
        "transforms.flat.delimiter": "_", **props,
    }
    tolerant, strict = tmp_path / "tolerant.db", tmp_path / "strict.db"
    store = app.handler.store
    store.create_connector("tolerant", {**base, "name": "tolerant", "connection.url": f"jdbc:sqlite:{tolerant}",
                                        "errors.tolerance": "all"})
    store.create_connector("strict", {**base, "name": "strict", "connection.url": f"jdbc:sqlite:{strict}"})
    event = msk_event("shop-orders", [good[0], unknown, good[1], good[2]])
    assert app.lambda_handler({**event, "connector": "tolerant"}, Context()).get("batchItemFailures", []) == []
    assert [r[0] for r in rows(tolerant, "shop-orders", "order_id")] == [1, 2, 3]  # the bad record skipped, reported
    with pytest.raises(RecordFailedError, match=f"VALUE_CONVERTER.*{named}"):
        app.lambda_handler({**event, "connector": "strict"}, Context())
