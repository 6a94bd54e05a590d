"""Iceberg sink: 10,000-record MSK events through the sink, against hand-written pyiceberg appends.

    .venv/bin/python bench/sink_iceberg.py             # --records 10000 --rounds 5

Two comparisons, each against its hand-written counterpart in the same run:

* handler: functions/sink_task/app.py (event decoding, JsonConverter with schemas off,
  IcebergSinkConnector committing per invocation with the offsets in the snapshot summary)
  against base64 + orjson decoding of the same event, ``pa.Table.from_pylist`` and
  ``table.append``;
* sink alone: ``IcebergSinkTask.put`` + ``flush`` of the SinkRecords the runtime hands over
  (routing, duplicate filter, shape check, Arrow conversion, write, commit with offsets)
  against ``pa.Table.from_pylist`` + ``table.append`` of the same decoded rows.

All write to their own tables in one SQLite catalog with a local warehouse; the pipelines take
turns, best round each. Every event carries new offsets, so nothing is skipped as a duplicate.
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
from typing import Any

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
    task = _sink_task(uri, wh)
    catalog.create_table("bench.sink_hand", hand.schema())

    def records(ev: dict) -> list:
        from lambda_connect.api import SinkRecord

        return [SinkRecord(r["topic"], r["partition"], None, None, None,
                           orjson.loads(base64.b64decode(r["value"])), r["offset"])
                for recs in ev["records"].values() for r in recs]

    def sink_alone(batch: list) -> None:
        task.put(batch)
        task.flush({})

    def append_alone(batch: list) -> None:
        rows = [r.value for r in batch]
        catalog.load_table("bench.sink_hand").append(pa.Table.from_pylist(rows, schema=arrow_schema))

    sink_alone(records(event(n, 0)))  # warm
    best = {name: (1e9, 1e9) for name in ("handler", "hand-written handler", "sink alone", "append alone")}
    for _ in range(args.rounds):
        for name in best:
            ev = event(n, offset)
            offset += n
            batch = records(ev) if name in ("sink alone", "append alone") else None
            wall, cpu = time.perf_counter(), time.process_time()
            if name == "handler":
                app.lambda_handler(ev, Context())
            elif name == "hand-written handler":
                hand_written(ev)
            elif name == "sink alone":
                sink_alone(batch)
            else:
                append_alone(batch)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = min(best[name], (wall, cpu))
    rows = len(catalog.load_table("bench.handler").scan().to_arrow())
    assert rows == n * (args.rounds + 1), rows
    for name, (wall, cpu) in best.items():
        print(f"{name:21s} {n / wall:10,.0f} records/s   {cpu * 1000 / (n / 1000):6.2f} CPU-ms/1000 records")
    for ours, theirs in (("handler", "hand-written handler"), ("sink alone", "append alone")):
        wall = best[theirs][0] / best[ours][0]
        cpu = best[theirs][1] / best[ours][1]
        print(f"ratio {ours} / {theirs}: {wall:.2f} (records/s), {cpu:.2f} (CPU)")


def _sink_task(uri: str, wh: str) -> Any:
    from lambda_connect.api import SinkTaskContext
    from lambda_connect.plugins.connectors.iceberg.sink import IcebergSinkTask

    props = {"iceberg.tables": "bench.sink", "iceberg.tables.auto-create-enabled": "true",
             "iceberg.control.commit.interval-ms": "0", "iceberg.catalog.type": "sql", "iceberg.catalog.uri": uri,
             "iceberg.catalog.warehouse": wh}
    task = IcebergSinkTask()
    # As the runtime sets it up: the topic's identity answered from the per-container cache, so
    # the run includes checking it against the identity stored next to the table's marks.
    task.initialize(SinkTaskContext("bench-sink", 0, props, None, lambda topic, refresh: "bench-cluster/orders"))
    task.start(props)
    return task


if __name__ == "__main__":
    sys.exit(main())
