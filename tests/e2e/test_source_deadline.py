"""A source invocation keeps its deadline when the broker dies under it (issue 11, defect 14).

A real tansu is started for each test and killed by PID mid-produce, then left down. Before
the fix the produce loop retried a full send queue until librdkafka's 5-minute message timeout
(in Lambda: killed at its timeout, lease held, no FAILED status), and a run whose last flush
timed out committed nothing, not even what Kafka had acknowledged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.local.broker import EmbeddedBroker

from tests.e2e.test_source_delivery import Context, load_app, trigger

pytestmark = [pytest.mark.broker, pytest.mark.slow]

#: The invocation's timeout, as in the issue; the handler keeps a 1 s margin.
TIMEOUT_MS = 8_000
#: A generous bound: an invocation that keeps its deadline returns long before it, one that
#: waits for librdkafka's message timeout (300 s) does not.
RETURN_WITHIN_S = 60.0


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


def _datagen(app: Any, topic: str, **extra: str) -> None:
    app.handler.store.create_connector("gen", {
        "name": "gen", "connector.class": "DatagenConnector", "kafka.topic": topic, "quickstart": "orders",
        "iterations": "-1", "random.seed": "3",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false", **extra,
    })


def _invoke_and_kill(app: Any, broker: EmbeddedBroker, kill_after_s: float) -> tuple[dict[str, Any], float]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["result"] = app.lambda_handler(trigger("gen"), Context(remaining_ms=TIMEOUT_MS))

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(kill_after_s)
    assert thread.is_alive(), f"the run ended before the broker was killed: {outcome}"
    assert broker.pid is not None
    broker.kill()  # SIGKILL by PID; the broker stays down
    thread.join(RETURN_WITHIN_S)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"the source invocation had not returned {RETURN_WITHIN_S}s after the broker died"
    return outcome["result"], elapsed


def _check_failed_and_committed(app: Any, result: dict[str, Any]) -> int:
    assert result["outcome"] == "failed", result
    assert "did not acknowledge" in (result["error"] or ""), result
    status = app.handler.store.get_task_statuses("gen")[0]
    assert status.state == "FAILED" and "did not acknowledge" in status.trace, status
    # The lease is released: the next tick may run the task at once.
    assert app.handler.store.acquire_lease("gen", 0, "next-tick", 10) is not None
    offsets = app.handler.store.get_offsets("gen")
    committed = offsets[0][1]["current.iteration"] if offsets else 0
    # Offsets never pass a record Kafka did not acknowledge.
    assert committed <= result["records_produced"], (committed, result)
    return committed


def test_a_full_send_queue_ends_the_run_on_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker: EmbeddedBroker
) -> None:
    app = load_app(tmp_path, broker.bootstrap_servers, monkeypatch, LAMBDA_CONNECT_DEADLINE_MARGIN_MS="1000")
    # As fast as datagen goes, and a small local queue: it fills soon after the broker is gone.
    _datagen(app, "deadline-full", **{"max.interval": "0", "producer.override.queue.buffering.max.messages": "500"})
    result, elapsed = _invoke_and_kill(app, broker, kill_after_s=2.0)
    committed = _check_failed_and_committed(app, result)
    assert committed > 0, "what Kafka acknowledged before the outage was not committed"
    print(f"full queue: returned {elapsed:.1f}s after start (timeout {TIMEOUT_MS / 1000:.0f}s); {result}")


def test_a_flush_that_times_out_still_commits_what_was_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker: EmbeddedBroker
) -> None:
    app = load_app(tmp_path, broker.bootstrap_servers, monkeypatch, LAMBDA_CONNECT_DEADLINE_MARGIN_MS="1000")
    # A slow stream (~400 records/s): the queue never fills, the final flush meets the deadline.
    _datagen(app, "deadline-flush", **{"max.interval": "5"})
    result, elapsed = _invoke_and_kill(app, broker, kill_after_s=2.0)
    committed = _check_failed_and_committed(app, result)
    assert committed > 0, "what Kafka acknowledged before the outage was not committed"
    print(f"final flush: returned {elapsed:.1f}s after start (timeout {TIMEOUT_MS / 1000:.0f}s); {result}")
