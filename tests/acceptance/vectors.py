"""Where the tests find the acceptance vectors taken from Apache Kafka's own tests.

The project keeps a copy (``tests/acceptance/smt_vectors.json``) so that a clone runs its
tests wherever it is checked out; the steering copy lives in ``shared/acceptance/`` beside
the project, and ``test_vendored_copy.py`` fails when the two differ.
``LAMBDA_CONNECT_SMT_VECTORS`` points the tests at another file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SMT_VECTORS_PATH = Path(os.environ.get("LAMBDA_CONNECT_SMT_VECTORS", HERE / "smt_vectors.json"))
#: Where the steering copy may be: beside the project, or the workplace's fixed path.
SHARED_CANDIDATES = (HERE.parents[1].parent / "shared" / "acceptance" / "smt_vectors.json",
                     Path("/work/shared/acceptance/smt_vectors.json"))


def load_smt_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(SMT_VECTORS_PATH.read_text(encoding="utf-8"))
    return vectors
