"""Benchmark: a realistic SMT chain through the real runtime objects vs the orjson floor.

N JSON records (~150 bytes) go through JsonConverter (schemas.enable=false) →
InsertField$Value → ReplaceField$Value → Cast$Value → TimestampConverter$Value →
JsonConverter, built from a connector config by ``RecordConverters`` and
``TransformChain`` and run as one batch by ``BatchPipeline`` (the path ``lambda-connect
transform`` takes): consumed records in, bytes to produce out, each outcome handed on as it
is made. The floor is ``orjson.loads`` + ``orjson.dumps`` of the same records in the same
run, the least any JSON → JSON pipeline in Python must do. Prints records/s for both and
their ratio; each side is timed ``--repeat`` times, in turns, and the best run counts.

The chain is timed twice: with the edits in the native engine (``lambda_connect.api._map_edit``,
built by ``pip install``) and in generated Python (``LAMBDA_CONNECT_NATIVE_PLANS=off``, what
runs where the extension is not built). The headline ratio is the native one.

``--per-record`` also times the per-record path a worker takes through the same objects
(``to_sink_record`` → ``TransformChain.apply`` → ``serialize``); ``--parts`` times those
three calls one at a time; ``--ceiling`` times the chain's edits written by hand as
straight-line Python over SinkRecords (no plugins, no error handling, no Java parsing rules).

    python bench/transform_chain.py [--records N] [--repeat K] [--per-record] [--parts] [--ceiling] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import time
from collections.abc import Callable

import orjson
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA
from lambda_connect.api.plans import NATIVE_SWITCH
from lambda_connect.api.records import EMPTY_HEADERS, SinkRecord
from lambda_connect.runtime.batch_pipeline import BatchPipeline
from lambda_connect.runtime.chain import TransformChain
from lambda_connect.runtime.conversion import RecordConverters

CONFIG = {
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
    "transforms": "insert,replace,cast,ts",
    "transforms.insert.type": "org.apache.kafka.connect.transforms.InsertField$Value",
    "transforms.insert.topic.field": "src_topic",
    "transforms.insert.offset.field": "src_offset",
    "transforms.replace.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
    "transforms.replace.exclude": "debug",
    "transforms.replace.renames": "cust:customer_id",
    "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value",
    "transforms.cast.spec": "amount:float64,qty:int32",
    "transforms.ts.type": "org.apache.kafka.connect.transforms.TimestampConverter$Value",
    "transforms.ts.field": "created",
    "transforms.ts.target.type": "unix",
    "transforms.ts.unix.precision": "milliseconds",
}


def make_records(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(orjson.dumps({
            "order_id": 100000 + i,
            "cust": f"cust-{rng.randrange(10_000)}",
            "sku": f"SKU-{rng.randrange(1_000_000):06d}",
            "amount": f"{rng.uniform(1, 500):.2f}",
            "qty": str(rng.randrange(1, 20)),
            "currency": rng.choice(["EUR", "USD", "GBP"]),
            "created": 1_732_521_600_000 + i * 37,
            "debug": "x" * 12,
        }))
    return out


def floor(records: list[bytes]) -> float:
    loads, dumps = orjson.loads, orjson.dumps
    start = time.perf_counter()
    for raw in records:
        dumps(loads(raw))
    return time.perf_counter() - start


def consumed(records: list[bytes]) -> list[tuple]:
    """The records as a consumer hands them over (the floor gets its bytes ready-made too)."""
    return [("orders", 0, offset, 1_732_521_600_000, "CREATE_TIME", b"k", raw, ())
            for offset, raw in enumerate(records)]


def batch(batch_records: list[tuple], native: bool = True) -> float:
    """The batch pipeline, its edits in the native engine or (``native=False``, as where the
    extension is not built) in generated Python."""
    previous = os.environ.get(NATIVE_SWITCH)
    os.environ[NATIVE_SWITCH] = "on" if native else "off"
    try:
        pipeline = BatchPipeline(RecordConverters.from_config(CONFIG), TransformChain.from_config(CONFIG))
    finally:
        if previous is None:
            del os.environ[NATIVE_SWITCH]
        else:
            os.environ[NATIVE_SWITCH] = previous
    assert pipeline.compiled, "the bench chain must take the generated loop"
    assert pipeline.native is native, f"native engine {'not ' if native else ''}in use; is the extension built?"
    start = time.perf_counter()
    for _outcome in pipeline.run(batch_records):
        pass  # a producer would copy the outcome's bytes out here
    return time.perf_counter() - start


def per_record(records: list[bytes]) -> float:
    converters = RecordConverters.from_config(CONFIG)
    chain = TransformChain.from_config(CONFIG)
    to_record, apply, serialize = converters.to_sink_record, chain.apply, converters.serialize
    start = time.perf_counter()
    for offset, raw in enumerate(records):
        record = to_record("orders", 0, offset, 1_732_521_600_000, "CREATE_TIME", b"k", raw, ())
        out = apply(record)
        if out is not None:
            serialize(out)
    return time.perf_counter() - start


def parts(records: list[bytes]) -> dict[str, float]:
    """Seconds per record for each worker call, each timed over all records (best of 3).

    The inputs of the later calls are kept in lists; ``gc.freeze`` keeps the collector from
    walking them over and over, which the one-pass pipeline never pays for."""
    converters = RecordConverters.from_config(CONFIG)
    chain = TransformChain.from_config(CONFIG)
    to_record, apply, serialize = converters.to_sink_record, chain.apply, converters.serialize
    read = [to_record("orders", 0, offset, 1_732_521_600_000, "CREATE_TIME", b"k", raw, ())
            for offset, raw in enumerate(records)]
    written = [apply(record) for record in read]
    gc.freeze()

    def timed(run: Callable[[], None]) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        return best / len(records)

    def read_all() -> None:
        for offset, raw in enumerate(records):
            to_record("orders", 0, offset, 1_732_521_600_000, "CREATE_TIME", b"k", raw, ())

    def transform_all() -> None:
        for record in read:
            apply(record)

    def write_all() -> None:
        for record in written:
            serialize(record)

    try:
        return {
            "read: RecordConverters.to_sink_record": timed(read_all),
            "transform: TransformChain.apply": timed(transform_all),
            "write: RecordConverters.serialize": timed(write_all),
        }
    finally:
        gc.unfreeze()


def ceiling(records: list[bytes]) -> float:
    """The chain's edits by hand, for this data only (see the module docstring)."""
    loads, dumps, new = orjson.loads, orjson.dumps, SinkRecord.__new__
    start = time.perf_counter()
    for offset, raw in enumerate(records):
        record = new(SinkRecord)
        record.topic = record.original_topic = "orders"
        record.kafka_partition = record.original_kafka_partition = 0
        record.kafka_offset = record.original_kafka_offset = offset
        record.key_schema, record.key = OPTIONAL_STRING_SCHEMA, b"k".decode()
        record.value_schema, record.value = None, loads(raw)
        record.timestamp, record.timestamp_type, record.headers = 1_732_521_600_000, "CREATE_TIME", EMPTY_HEADERS
        value = dict(record.value)
        value["src_topic"], value["src_offset"] = record.topic, record.kafka_offset
        value.pop("debug", None)
        value["customer_id"] = value.pop("cust")
        value["amount"] = float(value["amount"])
        value["qty"] = int(value["qty"])
        out = new(SinkRecord)
        out.topic, out.kafka_partition, out.kafka_offset = record.topic, record.kafka_partition, record.kafka_offset
        out.original_topic, out.original_kafka_partition = record.original_topic, record.original_kafka_partition
        out.original_kafka_offset, out.timestamp_type = record.original_kafka_offset, record.timestamp_type
        out.key_schema, out.key, out.value_schema, out.value = record.key_schema, record.key, None, value
        out.timestamp, out.headers = record.timestamp, record.headers
        out.key.encode(), dumps(out.value)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per side; the best counts (default 5)")
    parser.add_argument("--per-record", action="store_true", help="also time the per-record worker path")
    parser.add_argument("--profile", action="store_true", help="print the top functions of the pipeline (cProfile)")
    parser.add_argument("--parts", action="store_true", help="time read, transform and write separately")
    parser.add_argument("--ceiling", action="store_true", help="time the same edits written by hand")
    args = parser.parse_args()
    records = make_records(args.records)
    batch_records = consumed(records)
    avg = sum(map(len, records)) / len(records)
    batch(batch_records[:1000])  # warm caches and imports outside the measurement
    batch(batch_records[:1000], native=False)
    # Take turns so that a burst of load on the shared machine hits every side alike.
    t_floor = t_native = t_python = float("inf")
    for _ in range(args.repeat):
        t_floor = min(t_floor, floor(records))
        t_native = min(t_native, batch(batch_records))
        t_python = min(t_python, batch(batch_records, native=False))
    n = len(records)
    r_floor, r_native, r_python = n / t_floor, n / t_native, n / t_python
    print(f"records: {n} (avg {avg:.0f} bytes)")
    print(f"floor  (orjson loads+dumps):          {r_floor:12,.0f} records/s")
    print(f"chain  (4 SMTs + converters, native): {r_native:12,.0f} records/s  ratio {r_native / r_floor:.3f}")
    print(f"chain  (generated Python, no native): {r_python:12,.0f} records/s  ratio {r_python / r_floor:.3f}")
    print(f"ratio: {r_native / r_floor:.3f}")
    print(f"per record: floor {t_floor / n * 1e6:.2f} µs, chain {t_native / n * 1e6:.2f} µs native, "
          f"{t_python / n * 1e6:.2f} µs Python")
    if args.per_record:
        r_each = len(records) / min(per_record(records) for _ in range(args.repeat))
        print(f"per-record worker path:       {r_each:12,.0f} records/s  ratio {r_each / r_floor:.3f}")
    if args.ceiling:
        r_ceiling = len(records) / min(ceiling(records) for _ in range(args.repeat))
        print(f"hand-written (no plugins):    {r_ceiling:12,.0f} records/s  ratio {r_ceiling / r_floor:.3f}")
    if args.parts:
        for name, seconds in parts(records).items():
            print(f"  {name:40s} {seconds * 1e6:6.2f} µs")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(batch, batch_records)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
