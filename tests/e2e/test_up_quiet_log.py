"""Issue 15: a quiet ``lambda-connect up`` writes a handful of log lines, not dozens.

Three idle connectors (a FileStreamSource tailing an empty file, so it ticks every second, a
FileStreamSink and a JDBC sink on SQLite) run past the first per-connector summary, at the
default interval. Before the fix the same minute logged ``ensured`` for each connector on every
10-second pass and ``completed (no_data)`` on every tick: well over a hundred INFO lines. Now it
is the start-up lines, one state line per connector and one summary line per connector.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_up_process import HUMAN_LOG_LINE, STOP_TIMEOUT, UpProcess, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

#: Start-up (broker, 3 created, REST API, the source's task configs), 3 state lines, 3 summaries.
MOST_LINES = 15


@pytest.fixture
def up_process(tmp_path: Path) -> Iterator[list[UpProcess]]:
    started: list[UpProcess] = []
    try:
        yield started
    finally:
        for up in started:
            up.kill()


def test_three_idle_connectors_log_a_handful_of_lines_over_a_minute(
    tmp_path: Path, up_process: list[UpProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic = f"quiet-{suffix}"
    (tmp_path / "in.txt").write_text("")
    names = [f"quiet-src-{suffix}", f"quiet-file-{suffix}", f"quiet-jdbc-{suffix}"]
    files = {
        names[0]: f"connector.class=FileStreamSource\nfile={tmp_path / 'in.txt'}\ntopic={topic}\n",
        names[1]: f"connector.class=FileStreamSink\ntopics={topic}\nfile={tmp_path / 'out.txt'}\n",
        names[2]: (f"connector.class=io.confluent.connect.jdbc.JdbcSinkConnector\ntopics={topic}\n"
                   f"connection.url=jdbc:sqlite:{tmp_path / 'target.db'}\nauto.create=true\n"),
    }
    paths = []
    for name, body in files.items():
        path = tmp_path / f"{name}.properties"
        path.write_text(f"name={name}\ntasks.max=1\n{body}")
        paths.append(str(path))
    monkeypatch.delenv("LAMBDA_CONNECT_SUMMARY_INTERVAL", raising=False)  # the default (60 s) is under test
    up = UpProcess(tmp_path, [*paths, "--state", f"sqlite:///{tmp_path}/state.db"], "quiet")
    up_process.append(up)
    up.wait_ready()

    summary = re.compile(r"lambda_connect\.local\.summary: connector (\S+) \(")
    wait_for(lambda: {m.group(1) for line in up.stderr.splitlines() if (m := summary.search(line))} >= set(names),
             150, "a summary line for each connector")
    logged = [line for line in up.stderr.splitlines() if HUMAN_LOG_LINE.match(line)]
    up.ctrl_c()
    assert up.wait_exit(STOP_TIMEOUT) == 0, up.stderr[-3000:]

    text = "\n".join(logged)
    assert len(logged) <= MOST_LINES, f"{len(logged)} log lines for three idle connectors:\n{text}"
    assert "ensured" not in text and "no_data" not in text, text
    for name in names:
        assert sum(f"connector {name}: RUNNING" in line for line in logged) == 1, text
        assert sum(bool((m := summary.search(line)) and m.group(1) == name) for line in logged) == 1, text
    source_line = next(line for line in logged if f"summary: connector {names[0]} " in line)
    assert f"connector {names[0]} (source, RUNNING): 0 polled, 0 produced, 0 failed runs, 0 dead-lettered" \
        in source_line, source_line
    sink_line = next(line for line in logged if f"summary: connector {names[2]} " in line)
    assert f"connector {names[2]} (sink, RUNNING): 0 in, 0 written, 0 failed, 0 dead-lettered" in sink_line
