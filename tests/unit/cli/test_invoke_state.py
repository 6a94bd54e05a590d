"""Issue 15: ``invoke SinkTaskFunction --connector NAME --state URL`` finds a connector of that state table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lambda_connect.state.base import open_store

ROOT = Path(__file__).resolve().parents[3]


def test_state_flag_finds_the_connector_and_writes_the_batch(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path}/state.db"
    out = tmp_path / "out.txt"
    store = open_store(state)
    store.create_connector("orders-file", {"name": "orders-file", "connector.class": "FileStreamSink",
                                           "topics": "shop-orders", "file": str(out), "errors.tolerance": "all",
                                           "value.converter": "org.apache.kafka.connect.storage.StringConverter",
                                           "key.converter": "org.apache.kafka.connect.storage.StringConverter"})
    done = subprocess.run(
        [sys.executable, "-m", "lambda_connect.cli", "invoke", "SinkTaskFunction", "--root", str(ROOT),
         "--event", str(ROOT / "events" / "msk.json"), "--connector", "orders-file", "--state", state],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout[done.stdout.index("{\n"):]) == {"batchItemFailures": []}
    assert out.read_text().count("\n") >= 1
