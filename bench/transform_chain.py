"""Benchmark: a realistic SMT chain through the real runtime objects vs the orjson floor.

N JSON records (~150 bytes) go through JsonConverter (schemas.enable=false) →
InsertField$Value → ReplaceField$Value → Cast$Value → TimestampConverter$Value →
JsonConverter, built from a connector config by ``RecordConverters`` and
``TransformChain`` exactly as a sink/source worker builds them. The floor is
``orjson.loads`` + ``orjson.dumps`` of the same records in the same run, i.e. the least
any JSON → JSON pipeline in Python must do. Prints records/s for both and their ratio.

    python bench/transform_chain.py [--records N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import time

import orjson
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
            "cust": f"c-{rng.randrange(10_000)}",
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


def pipeline(records: list[bytes]) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="print the top functions of the pipeline (cProfile)")
    args = parser.parse_args()
    records = make_records(args.records)
    avg = sum(map(len, records)) / len(records)
    pipeline(records[:1000])  # warm caches and imports outside the measurement
    t_floor = min(floor(records) for _ in range(3))
    t_pipe = min(pipeline(records) for _ in range(3))
    r_floor, r_pipe = len(records) / t_floor, len(records) / t_pipe
    print(f"records: {len(records)} (avg {avg:.0f} bytes)")
    print(f"floor  (orjson loads+dumps): {r_floor:12,.0f} records/s")
    print(f"chain  (4 SMTs + converters): {r_pipe:12,.0f} records/s")
    print(f"ratio: {r_pipe / r_floor:.3f}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(pipeline, records)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
