"""Where the tests find the acceptance vectors taken from Apache Kafka's own tests.

The project keeps a copy (``tests/acceptance/smt_vectors.json``) so that a clone runs its
tests wherever it is checked out; the steering copy lives in ``shared/acceptance/`` beside
the project, and ``test_vendored_copy.py`` fails when the two differ.
``LAMBDA_CONNECT_SMT_VECTORS`` points the tests at another file.
"""

from __future__ import annotations

import json
import os
import re
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


def _facts(message: str) -> list[str]:
    """What an error must name: bracketed values, the value after a colon, and every number.

    Kafka's wording is not ours to copy (our messages are our own words), but the facts an
    error names -- the path, the field, the position -- carry over and are checked.
    """
    facts = re.findall(r"\[([^\]]*)\]", message)
    facts += re.findall(r"\d+", message)
    if ": " in message and not facts:
        facts.append(message.rsplit(": ", 1)[1])
    return facts


def assert_names_the_same_facts(ours: str, kafkas: str) -> None:
    if ours == kafkas or kafkas in ours:
        return
    facts = _facts(kafkas)
    assert facts, f"Kafka's message {kafkas!r} names no facts to compare with {ours!r}"
    missing = [fact for fact in facts if fact not in ours]
    assert not missing, f"{ours!r} does not name {missing} (Kafka's message: {kafkas!r})"
