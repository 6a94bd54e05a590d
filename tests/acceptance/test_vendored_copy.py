"""The project's copy of the acceptance vectors is the steering copy, byte for byte."""

from __future__ import annotations

import pytest

from tests.acceptance.vectors import HERE, SHARED_CANDIDATES


def test_the_copy_equals_the_shared_vectors() -> None:
    shared = next((path for path in SHARED_CANDIDATES if path.is_file()), None)
    if shared is None:
        pytest.skip(f"no steering copy to compare with at {', '.join(map(str, SHARED_CANDIDATES))}")
    assert (HERE / "smt_vectors.json").read_bytes() == shared.read_bytes(), (
        f"tests/acceptance/smt_vectors.json differs from {shared}: copy the new vectors in")
