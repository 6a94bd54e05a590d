"""What the poller's process of its own adds to the mapping: its lifetime is its parent's, its
log lines and counters reach the parent, and only the invocation crosses over.

The mapping's semantics (batches, retries, commits, read-ahead) are the same in both modes:
tests/unit/local/test_esm.py runs every one of its tests in both."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.aws.kafka_clients import KafkaSettings
from lambda_connect.local.context import function_arn
from lambda_connect.local.esm import EsmEmulator
from lambda_connect.local.esm_process import ENV_POLLER, EsmProcess, make_esm, poller_mode
from lambda_connect.runtime.lambda_config import LambdaSettings

from tests.fixtures.broker import produce
from tests.unit.local.test_esm import FAST, Recorder, committed, wait_for

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[3]


def _mapping(bootstrap: str, topic: str, invoke: Any, group: str | None = None,
             settings: LambdaSettings | None = None) -> EsmProcess:
    return EsmProcess(
        connector="orders", topic=topic, consumer_group=group or f"connect-{uuid.uuid4().hex[:8]}",
        settings=settings or LambdaSettings(batch_size=5, batching_window_seconds=0), invoke=invoke,
        function_name="SinkTaskFunction", function_arn=function_arn("SinkTaskFunction", "connect-orders"),
        timeout_ms=10_000, kafka=KafkaSettings(bootstrap_servers=bootstrap), retry_backoff_max=0.2,
        consumer_overrides=FAST,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_the_handler_runs_here_and_the_poller_elsewhere(kafka_broker: str, kafka_topic: Any) -> None:
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, f"v{i}") for i in range(7)])
    pids: list[int] = []
    recorder = Recorder(lambda event, attempt: pids.append(os.getpid()))
    esm = _mapping(kafka_broker, topic, recorder)
    esm.start()
    try:
        wait_for(lambda: esm.stats.records_committed == 7)
        child = esm._process
        assert child is not None and child.pid != os.getpid() and child.poll() is None
        assert set(pids) == {os.getpid()}
        assert [v for e in recorder.events for v in recorder.values(e)] == [f"v{i}" for i in range(7)]
        assert esm.state == "Enabled"
    finally:
        assert esm.stop(20)
    assert child.poll() == 0 and esm.state == "Disabled"
    assert committed(kafka_broker, esm.consumer_group, topic) == 7


def test_counters_go_on_across_a_restart(kafka_broker: str, kafka_topic: Any) -> None:
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, f"a{i}") for i in range(5)])
    esm = _mapping(kafka_broker, topic, Recorder())
    esm.start()
    wait_for(lambda: esm.stats.records_committed == 5)
    assert esm.stop(20)
    produce(kafka_broker, topic, [(None, f"b{i}") for i in range(3)])
    esm.start()
    try:
        wait_for(lambda: esm.stats.records_committed == 8)
        assert esm.stats.last_committed == {0: 8}
    finally:
        assert esm.stop(20)


def test_log_lines_of_the_poller_reach_this_process(kafka_broker: str, kafka_topic: Any,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lambda_connect")
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, "v")])

    def fail_once(event: Any, attempt: int) -> None:
        if attempt == 1:
            raise RuntimeError("target down")

    esm = _mapping(kafka_broker, topic, Recorder(fail_once))
    esm.start()
    try:
        wait_for(lambda: esm.stats.records_committed == 1)
    finally:
        assert esm.stop(20)
    lines = [r for r in caplog.records if r.name == "lambda_connect.local.esm"]
    assert any("sink invocation for orders failed (attempt 1, 1 records): RuntimeError: target down" in r.getMessage()
               for r in lines)
    assert {r.process for r in lines} == {esm._process.pid}  # written there, handled here
    assert esm.stats.failed_invocations == 1 and "target down" in (esm.stats.last_error or "")


def test_a_result_that_cannot_cross_over_fails_the_invocation(kafka_broker: str, kafka_topic: Any) -> None:
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, "v")])
    settings = LambdaSettings(batch_size=5, batching_window_seconds=0, pollers_min=1, maximum_retry_attempts=0)
    esm = _mapping(kafka_broker, topic, Recorder(lambda event, attempt: lambda: None), settings=settings)
    esm.start()
    try:
        wait_for(lambda: esm.stats.failed_invocations == 1)
    finally:
        assert esm.stop(20)
    assert "the handler's result cannot be returned" in (esm.stats.last_error or "")


_ORPHAN_SCRIPT = textwrap.dedent("""
    import sys, threading, time
    from lambda_connect.aws.kafka_clients import KafkaSettings
    from lambda_connect.local.esm_process import EsmProcess
    from lambda_connect.runtime.lambda_config import LambdaSettings

    def invoke(event, context):
        print("invoked", flush=True)
        threading.Event().wait()  # the function never returns: the batch stays in flight

    bootstrap, topic, group = sys.argv[1:4]
    esm = EsmProcess(connector="orders", topic=topic, consumer_group=group,
                     settings=LambdaSettings(batch_size=5, batching_window_seconds=0), invoke=invoke,
                     function_name="SinkTaskFunction", function_arn="arn:aws:lambda:::function:x",
                     timeout_ms=60_000, kafka=KafkaSettings(bootstrap_servers=bootstrap),
                     consumer_overrides={"session.timeout.ms": 2000, "heartbeat.interval.ms": 500})
    esm.start()
    print("poller", esm._process.pid, flush=True)
    time.sleep(600)
""")


def test_a_killed_parent_leaves_no_poller_behind_and_nothing_committed(kafka_broker: str, kafka_topic: Any) -> None:
    """SIGKILL of ``up`` must not leave a consumer in the group: the next ``up`` would share the
    partitions with it."""
    topic = kafka_topic()
    produce(kafka_broker, topic, [(None, f"v{i}") for i in range(5)])
    group = f"connect-{uuid.uuid4().hex[:8]}"
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT, kafka_broker, topic, group],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert parent.stdout is not None
        poller = int(parent.stdout.readline().split()[1])
        assert parent.stdout.readline().strip() == "invoked"
        assert _alive(poller)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 15
        while _alive(poller) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(poller), "the poller process outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert committed(kafka_broker, group, topic) < 0  # the batch in flight was never committed


def test_where_the_poller_runs_is_chosen_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_POLLER, raising=False)
    assert poller_mode() == "process"
    monkeypatch.setenv(ENV_POLLER, " Thread ")
    assert poller_mode() == "thread"
    kwargs = {"connector": "c", "topic": "t", "consumer_group": "g", "settings": LambdaSettings(),
              "invoke": Recorder(), "function_name": "f", "function_arn": "arn", "timeout_ms": 1000,
              "kafka": KafkaSettings(bootstrap_servers="127.0.0.1:1")}
    assert type(make_esm(**kwargs)) is EsmEmulator
    assert type(make_esm(mode="process", **kwargs)) is EsmProcess
    monkeypatch.setenv(ENV_POLLER, "fork")
    with pytest.raises(ValueError, match=f"{ENV_POLLER}='fork': expected process or thread"):
        poller_mode()
