"""Iceberg sink: one 10,000-record MSK event through the sink handler vs a hand-written pyiceberg append.

    .venv/bin/python bench/sink_iceberg.py             # --records 10000 --rounds 5

Handler: functions/sink_task/app.py (JsonConverter, schemas off → IcebergSinkConnector, commit per
invocation, offsets in the snapshot summary). Hand-written: base64 + orjson decode of the same
event, pyarrow table from the decoded rows, ``table.append``. Both write to their own table in
one SQLite catalog with a local warehouse; they take turns, best round each. Every handler event
carries new offsets, so nothing is skipped as a duplicate.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).parents[1]


class Context:
    invoked_function_arn = "arn:aws:lambda:eu-west-1:111122223333:function:lambda-connect-sink"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def event(n: int, start: int) -> dict:
    from lambda_connect.aws.kafka_event import build_kafka_event

    rows = [orjson.dumps({"order_id": start + i, "customer": f"cust-{i % 977}", "sku": f"SKU-{i % 131:05d}",
                          "amount": round(i * 0.37, 2), "qty": i % 9 + 1, "currency": "EUR",
                          "ts": 1_700_000_000_000 + i}) for i in range(n)]
    return build_kafka_event([("orders", 0, start + i, 1_700_000_000_000, "CREATE_TIME", b"k", v, [])
                              for i, v in enumerate(rows)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-iceberg-"))
    os.environ["LAMBDA_CONNECT_STATE_URL"] = "memory://"
    os.environ["LAMBDA_CONNECT_CONNECTOR"] = "bench"
    spec = importlib.util.spec_from_file_location("sink_app", ROOT / "functions/sink_task/app.py")
    app = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(app)  # type: ignore[union-attr]
    uri, wh = f"sqlite:///{tmp}/catalog.db", f"file://{tmp}/wh"
    app.handler.store.create_connector("bench", {
        "connector.class": "IcebergSinkConnector", "topics": "orders", "key.converter": "StringConverter",
        "value.converter": "JsonConverter", "value.converter.schemas.enable": "false",
        "iceberg.tables": "bench.handler", "iceberg.tables.auto-create-enabled": "true",
        "iceberg.control.commit.interval-ms": "0", "iceberg.catalog.type": "sql", "iceberg.catalog.uri": uri,
        "iceberg.catalog.warehouse": wh,
    })
    import pyarrow as pa
    from pyiceberg.catalog import load_catalog

    n = args.records
    offset = 0
    app.lambda_handler(event(n, offset), Context())  # warm: pipeline built, table created
    offset += n
    catalog = load_catalog("iceberg", type="sql", uri=uri, warehouse=wh)
    hand = catalog.create_table("bench.hand", catalog.load_table("bench.handler").schema())
    arrow_schema = hand.schema().as_arrow()

    def hand_written(ev: dict) -> None:
        rows = [orjson.loads(base64.b64decode(r["value"])) for recs in ev["records"].values() for r in recs]
        table = catalog.load_table("bench.hand")
        table.append(pa.Table.from_pylist(rows, schema=arrow_schema))

    hand_written(event(n, 0))  # warm
    best = {"handler": (1e9, 1e9), "hand-written": (1e9, 1e9)}
    for _ in range(args.rounds):
        for name in ("handler", "hand-written"):
            ev = event(n, offset)
            offset += n
            wall, cpu = time.perf_counter(), time.process_time()
            if name == "handler":
                app.lambda_handler(ev, Context())
            else:
                hand_written(ev)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = min(best[name], (wall, cpu))
    rows = len(catalog.load_table("bench.handler").scan().to_arrow())
    assert rows == n * (args.rounds + 1), rows
    for name, (wall, cpu) in best.items():
        print(f"{name:13s} {n / wall:10,.0f} records/s   {cpu * 1000 / (n / 1000):6.2f} CPU-ms/1000 records")
    ratio = best["hand-written"][0] / best["handler"][0]
    print(f"ratio handler / hand-written (records/s): {ratio:.2f}")


if __name__ == "__main__":
    sys.exit(main())
