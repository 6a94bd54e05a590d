"""``lambda-connect up`` killed with SIGKILL, then started again (issue 11, defects 2, 3 and 20).

* Defect 3: the embedded tansu used to outlive a killed ``up`` (its own process group).
* Defect 2: the embedded broker keeps topics in memory; a restart used to carry on silently
  with the source's committed positions far ahead of anything a sink had received. Now the
  banner and ``GET /`` say where topics live, and the restart reports per connector.
* Defect 20: with an external broker, a restarted ``up`` waited for the killed run's source
  leases to expire (budget + 30 s) before its sources moved again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.e2e.test_up_process import (  # noqa: F401 - fixtures
    Pipeline,
    UpProcess,
    external_broker,
    lines,
    port_open,
    start_up,
    wait_for,
)
from tests.integration.test_broker_lifetime import _wait_gone

pytestmark = [pytest.mark.broker, pytest.mark.slow]

#: Source invocations of a minute: a killed run's lease (budget + 30 s margin) outlasts the
#: bound below by far, so only releasing it at start lets the source move within the bound.
SOURCE_TIMEOUT_S = 60
RESUME_WITHIN_S = 25.0


def _tansu_children(up: UpProcess) -> list[int]:
    return [pid for pid in up.children if "tansu" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]


def test_sigkill_takes_the_embedded_broker_along_and_the_restart_reports_what_was_lost(
    start_up: Callable[..., UpProcess], tmp_path: Path  # noqa: F811
) -> None:
    pipeline = Pipeline(tmp_path)
    state = f"sqlite:///{tmp_path}/state.db"
    up = start_up(*pipeline.files, "--state", state, tag="1")
    assert "topics in memory, gone when up stops" in up.stdout, up.stdout
    info = requests.get(f"{up.rest_url}/", timeout=10).json()
    assert info["kafka_broker"] == "embedded" and info["kafka_storage"].startswith("memory"), info
    brokers = _tansu_children(up)
    assert len(brokers) == 1, up.children
    pipeline.wait_growing(200)
    time.sleep(6)  # at least one count of topic and sink positions (every 5 s)

    up.process.kill()  # SIGKILL: no shutdown code runs
    up.process.wait(10)
    assert _wait_gone(brokers[0]), f"tansu (pid {brokers[0]}) outlived up killed with SIGKILL"
    assert not port_open(up.kafka)

    again = start_up(*pipeline.files, "--state", state, tag="2")
    report = again.stdout.split("Earlier run:", 1)
    assert len(report) == 2, f"no report of the lost in-memory topics:\n{again.stdout}"
    text = report[1]
    print(text)
    assert f"sink connector {pipeline.sink}: the previous run's embedded broker" in text, text
    assert f"source connector {pipeline.source}: the previous run's embedded broker" in text, text
    ahead = re.search(rf"run ahead of what any sink received by (\d+) of (\d+) record\(s\) in {pipeline.topic}", text)
    assert ahead, text
    behind, written = int(ahead.group(1)), int(ahead.group(2))
    assert 0 <= behind <= written and written >= 200, text
    # Each line is also a WARNING in the log.
    warnings = [line for line in again.stderr.splitlines() if " WARNING " in line]
    assert any(f"source connector {pipeline.source}: the previous run's" in line for line in warnings), warnings
    again.ctrl_c()
    assert again.wait_exit(30) == 0, again.stderr[-3000:]


def _end_offset(bootstrap: str, topic: str) -> int:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    request = {TopicPartition(topic, p): OffsetSpec.latest() for p in partitions}
    return sum(f.result(timeout=10).offset for f in admin.list_offsets(request, request_timeout=10).values())


def test_after_sigkill_a_restart_resumes_sources_without_waiting_for_their_leases(
    start_up: Callable[..., UpProcess], tmp_path: Path, external_broker: str  # noqa: F811
) -> None:
    pipeline = Pipeline(tmp_path)
    common = ["--state", f"sqlite:///{tmp_path}/state.db", "--bootstrap-servers", external_broker,
              "--source-timeout", str(SOURCE_TIMEOUT_S)]
    up = start_up(*pipeline.files, *common, tag="1")
    pipeline.wait_growing(300)
    up.process.kill()
    up.process.wait(10)
    written = len(lines(pipeline.out))

    again = start_up(*pipeline.files, *common, tag="2")
    ready = time.monotonic()
    produced = _end_offset(external_broker, pipeline.topic)
    wait_for(lambda: _end_offset(external_broker, pipeline.topic) > produced, RESUME_WITHIN_S,
             "the source producing again after the restart")
    source_resumed = time.monotonic() - ready
    wait_for(lambda: len(lines(pipeline.out)) > written, 60, "the sink writing again after the restart")
    sink_resumed = time.monotonic() - ready
    assert "released the leases of source tasks" in again.stderr, again.stderr[-3000:]
    print(f"resume after SIGKILL: source {source_resumed:.1f}s, sink {sink_resumed:.1f}s after the restart's banner")
