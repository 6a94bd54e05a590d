"""Protobuf and Glue converters against the Avro converter: decode and encode per record.

Every converter reads (``to_connect_data``) and writes (``from_connect_data``) the same
Connect records, an order with ten fields (ints, strings, an optional string, a decimal, a
timestamp, a map and an array of nested structs). Schemas are registered before timing, so
the numbers are the warm path a Lambda container runs: the registry (in-process ``mock://``
for Confluent, moto for Glue) is never called while timing. The converters take turns,
``--repeat`` rounds, best round each, timed in CPU time of the process (the development
hosts are shared), so a burst of load hits all alike; ratios are to the Avro converter of
the same run.

    .venv/bin/python bench/converters_protobuf.py --records 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import uuid
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from lambda_connect.api.data import (
    INT32_SCHEMA,
    INT64_SCHEMA,
    STRING_SCHEMA,
    UTC,
    Decimal,
    Schema,
    Struct,
    Timestamp,
    Type,
)

LINE = Schema.struct([("sku", STRING_SCHEMA), ("qty", INT32_SCHEMA)], name="shop.Line", optional=True)
ORDER = Schema.struct(
    [
        ("order_id", INT64_SCHEMA),
        ("customer_id", STRING_SCHEMA),
        ("status", STRING_SCHEMA),
        ("note", Schema(Type.STRING, optional=True)),
        ("amount", Decimal.schema(2, optional=True)),
        ("currency", STRING_SCHEMA),
        ("placed_at", Timestamp.schema(optional=True)),
        ("qty", INT32_SCHEMA),
        ("attrs", Schema.map(STRING_SCHEMA, STRING_SCHEMA, optional=True)),
        ("lines", Schema.array(LINE, optional=True)),
    ],
    name="shop.Order",
)


def records(n: int) -> list[Struct]:
    base = dt.datetime(2025, 11, 25, tzinfo=UTC)
    return [
        Struct(ORDER, {
            "order_id": i,
            "customer_id": f"c-{i % 5000:05d}",
            "status": "PLACED" if i % 3 else "SHIPPED",
            "note": None if i % 4 else "leave at the door",
            "amount": D(i % 100_000) / 100,
            "currency": "EUR",
            "placed_at": base + dt.timedelta(milliseconds=i),
            "qty": i % 7 + 1,
            "attrs": {"channel": "web", "campaign": f"cmp-{i % 13}"},
            "lines": [Struct(LINE, {"sku": f"SKU-{i % 977:04d}", "qty": 1 + i % 3}) for _ in range(2)],
        })
        for i in range(n)
    ]


def build_converters() -> dict[str, Any]:
    from lambda_connect.plugins.converters.avro import AvroConverter
    from lambda_connect.plugins.converters.glue_avro import AWSKafkaAvroConverter
    from lambda_connect.plugins.converters.glue_protobuf import ProtobufSchemaConverter
    from lambda_connect.plugins.converters.protobuf import ProtobufConverter

    url = f"mock://{uuid.uuid4().hex}"
    glue = {"registry.name": "bench", "region": "us-east-1", "schemaAutoRegistrationEnabled": "true"}
    return {
        "Avro (Confluent SR)": AvroConverter(AvroConverter.config_def.parse({"schema.registry.url": url})),
        "Protobuf (Confluent SR)": ProtobufConverter(
            ProtobufConverter.config_def.parse({"schema.registry.url": url})
        ),
        "Avro (Glue SR)": AWSKafkaAvroConverter(
            AWSKafkaAvroConverter.config_def.parse({**glue, "schemaName": "orders-avro"})
        ),
        "Protobuf (Glue SR)": ProtobufSchemaConverter(
            ProtobufSchemaConverter.config_def.parse({**glue, "schemaName": "orders-protobuf"})
        ),
    }


def _timed(fn: Callable[[], None]) -> float:
    """CPU seconds of this process: on a host shared with other jobs, wall time measures the
    neighbours as much as the converter, CPU time much less so."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)
    from moto import mock_aws

    with mock_aws():
        import boto3

        boto3.client("glue").create_registry(RegistryName="bench")
        data = records(args.records)
        convs = build_converters()
        encoded = {name: [c.from_connect_data("orders", ORDER, v) for v in data] for name, c in convs.items()}
        for name, c in convs.items():  # warm the read caches and check the round trip
            got = c.to_connect_data("orders", encoded[name][1]).value
            assert got.get("order_id") == 1 and got.get("lines")[0].get("sku") == "SKU-0001", name
        decode: dict[str, float] = dict.fromkeys(convs, float("inf"))
        encode: dict[str, float] = dict.fromkeys(convs, float("inf"))
        for _ in range(args.repeat):  # take turns, keep each converter's best round
            for name, c in convs.items():
                blobs = encoded[name]
                read = _timed(lambda c=c, b=blobs: [c.to_connect_data("orders", x) for x in b])
                write = _timed(lambda c=c: [c.from_connect_data("orders", ORDER, v) for v in data])
                decode[name], encode[name] = min(decode[name], read), min(encode[name], write)
    n = args.records
    ref = "Avro (Confluent SR)"
    print(f"{n} records, best of {args.repeat} rounds (CPU time); ratio = records/s ÷ Avro (Confluent SR) records/s")
    print(f"{'converter':26} {'bytes':>6} {'decode rec/s':>13} {'µs':>6} {'ratio':>6} "
          f"{'encode rec/s':>13} {'µs':>6} {'ratio':>6}")
    for name in convs:
        size = sum(len(b) for b in encoded[name]) / n
        print(f"{name:26} {size:6.0f} {n / decode[name]:13,.0f} {decode[name] / n * 1e6:6.1f} "
              f"{decode[ref] / decode[name]:6.2f} {n / encode[name]:13,.0f} {encode[name] / n * 1e6:6.1f} "
              f"{encode[ref] / encode[name]:6.2f}")


if __name__ == "__main__":
    main()
