"""The embedded broker ends with the process that started it, however it ends (issue 11, defect 3).

tansu runs in its own process group (so a terminal's Ctrl-C reaches the runtime first); a
``kill -9`` of its parent used to leave it running, holding its port and memory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from lambda_connect.local.broker import BrokerError, EmbeddedBroker, check_storage_url

pytestmark = pytest.mark.broker

WAIT_S = 30.0

PARENT = textwrap.dedent(
    """
    import sys, threading, time
    from lambda_connect.local.broker import EmbeddedBroker

    broker = EmbeddedBroker()
    if sys.argv[1] == "thread":
        # started from a short-lived thread: the broker must outlive the thread, not the process
        t = threading.Thread(target=broker.start); t.start(); t.join()
    else:
        broker.start()
    print(broker.pid, broker.port, flush=True)
    time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_broker_dies_with_a_parent_killed_by_sigkill(tmp_path: Path, started_from: str) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, started_from], stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path)
    broker_pid = 0
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        assert line, f"the parent printed nothing (exit {parent.poll()})"
        broker_pid = int(line.split()[0])
        time.sleep(1.0)  # the spawning thread has long returned in the "thread" case
        assert _alive(broker_pid), "the broker died before its parent did"
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _wait_gone(broker_pid), f"tansu (pid {broker_pid}) outlived its parent killed with SIGKILL"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if broker_pid and _alive(broker_pid):
            os.kill(broker_pid, signal.SIGKILL)


def test_a_broker_started_in_a_thread_keeps_running_after_the_thread_ends() -> None:
    broker = EmbeddedBroker()
    thread = threading.Thread(target=broker.start)
    thread.start()
    thread.join(60)
    try:
        time.sleep(0.5)
        assert broker.running
        from confluent_kafka.admin import AdminClient

        assert AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=10).brokers
    finally:
        broker.close()
    assert not broker.running


@pytest.mark.parametrize("url", ["file:///tmp/x", "postgres://localhost", "s3://", "tansu", ""])
def test_unsupported_broker_storage_is_refused_naming_it(url: str) -> None:
    with pytest.raises(BrokerError, match="broker storage"):
        check_storage_url(url)


def test_s3_storage_url_is_normalised() -> None:
    assert check_storage_url("s3://bucket") == "s3://bucket/"
    assert EmbeddedBroker(storage="s3://bucket/x/").storage == "s3://bucket/x/"
    assert EmbeddedBroker().in_memory and not EmbeddedBroker(storage="s3://b/").in_memory
