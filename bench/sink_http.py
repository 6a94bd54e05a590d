"""HTTP sink benchmark: 10,000 records as 100 Lambda events of 100 records, each event one POST.

Compared in the same run, against the same local server, with a hand-written loop: for each event,
base64-decode the values, join them into a JSON array and POST it with one pooled ``httpx.Client`` —
what one would write without a framework. The lambda-connect side is the real thing: ``SinkHandler``
(as ``functions/sink_task/app.py`` builds it) with ByteArrayConverter → ``HttpSinkConnector``
(``batch.max.size=100``, ``batch.json.as.array=true``), warm (one untimed round first). Events are
built before timing starts (Lambda hands the handler a parsed event).

The server runs in its own process (a small asyncio HTTP/1.1 server answering 200 with keep-alive),
so its cost lands on the other core and is the same for both sides. Rounds alternate; the best round
of each side counts, so a burst of load on the shared host hits both alike.

    .venv/bin/python bench/sink_http.py [--records 10000] [--batch 100] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import io
import json
import pstats
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

SERVER = r"""
import asyncio, json, sys
stats = {"requests": 0, "bytes": 0}
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            if head.startswith(b"GET /stats"):
                out = json.dumps(stats).encode()
            else:
                stats["requests"] += 1
                stats["bytes"] += len(body)
                out = b'{"ok":true}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(out)).encode() + b"\r\n\r\n" + out)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


class Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-http"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_values(n: int) -> list[bytes]:
    """~150-byte JSON order records."""
    return [orjson.dumps({"id": i, "customer": f"customer-{i:06d}", "email": f"c{i:06d}@example.com",
                          "amount": f"{(i * 37) % 100000 / 100:.2f}", "currency": "EUR", "status": "PLACED",
                          "ts": 1_700_000_000_000 + i}) for i in range(n)]


def make_events(topic: str, values: list[bytes], batch: int) -> list[dict[str, Any]]:
    from lambda_connect.aws.kafka_event import build_kafka_event

    return [build_kafka_event([(topic, 0, start + i, 1_700_000_000_000, "CREATE_TIME", None, v, [])
                               for i, v in enumerate(values[start:start + batch])])
            for start in range(0, len(values), batch)]


def lambda_connect_runner(url: str, topic: str, events: list[dict[str, Any]], batch: int) -> Callable[[], None]:
    from lambda_connect.aws.sink_handler import SinkHandler
    from lambda_connect.state.memory import InMemoryStateStore

    store = InMemoryStateStore()
    store.create_connector("bench", {
        "name": "bench", "connector.class": "io.confluent.connect.http.HttpSinkConnector", "topics": topic,
        "http.api.url": url, "batch.max.size": str(batch), "batch.json.as.array": "true",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
    })
    handler = SinkHandler(store, env={"LAMBDA_CONNECT_CONNECTOR": "bench"})
    context = Context()

    def run() -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # EMF metrics lines
            for event in events:
                response = handler(event, context)
                assert response == {"batchItemFailures": []}, response

    return run


def hand_written_runner(url: str, events: list[dict[str, Any]]) -> Callable[[], None]:
    import httpx

    client = httpx.Client(timeout=30.0)
    headers = {"Content-Type": "application/json"}

    def run() -> None:
        for event in events:
            values = [base64.b64decode(r["value"]) for records in event["records"].values() for r in records]
            response = client.post(url, content=b"[" + b",".join(values) + b"]", headers=headers)
            response.raise_for_status()

    return run


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def server_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
        return json.loads(r.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile one lambda-connect round")
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
        url = f"http://127.0.0.1:{port}/ingest"
        values = make_values(args.records)
        events = make_events("bench-http", values, args.batch)
        print(f"{args.records} records in {len(events)} events of {args.batch}, mean value "
              f"{sum(map(len, values)) / len(values):.0f} bytes; server pid {server.pid}")
        runners = {"lambda-connect handler": lambda_connect_runner(url, "bench-http", events, args.batch),
                   "hand-written httpx loop": hand_written_runner(url, events)}
        for warm in runners.values():
            warm()
        before = server_stats(port)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
        for _ in range(args.rounds):
            for name, fn in runners.items():
                results[name].append(timed(fn))
        after = server_stats(port)
        expected = 2 * args.rounds * len(events)
        assert after["requests"] - before["requests"] == expected, (before, after, expected)
        best = {name: min(times) for name, times in results.items()}
        for name, (wall, cpu) in best.items():
            print(f"{name:26s} {args.records / wall:>10,.0f} records/s  {wall * 1000:7.1f} ms wall  "
                  f"{cpu * 1000 / args.records * 1000:6.1f} ms CPU per 1,000 records")
        lc, hw = best["lambda-connect handler"][0], best["hand-written httpx loop"][0]
        print(f"ratio (lambda-connect / hand-written records/s): {hw / lc:.3f}   "
              f"[all rounds: lc {sorted(round(args.records / w) for w, _ in results['lambda-connect handler'])}, "
              f"hw {sorted(round(args.records / w) for w, _ in results['hand-written httpx loop'])}]")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            runners["lambda-connect handler"]()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
