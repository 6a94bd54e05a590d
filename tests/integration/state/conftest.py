"""One fixture, ``backend``, that yields every state store implementation in turn.

Each backend hands out fresh handles on the same storage through ``open()``: a second handle is
a second engine (separate SQL connections) or a second boto3 client, which is what two Lambda
invocations racing each other look like.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from lambda_connect.state.base import StateStore


@dataclass
class Backend:
    """A named state backend; ``open()`` returns another handle on the same stored state."""

    kind: str
    factory: Callable[[], StateStore]
    handles: list[StateStore] = field(default_factory=list)

    def open(self) -> StateStore:
        store = self.factory()
        self.handles.append(store)
        return store


def _prefix() -> str:
    return f"lc{uuid.uuid4().hex[:10]}_"


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
        "dynamodb",
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[Backend]:
    kind = request.param
    if kind == "memory":
        from lambda_connect.state.memory import InMemoryStateStore

        shared = InMemoryStateStore()
        yield Backend(kind, lambda: shared)
        return
    if kind == "dynamodb":
        import boto3
        from lambda_connect.state.dynamodb import DynamoDBStateStore, create_table
        from moto import mock_aws
        from moto.dynamodb.responses import DynamoHandler

        # Real DynamoDB applies each request (conditional write, transaction) atomically; moto
        # evaluates conditions and writes without a lock, so racing threads could both pass a
        # condition. Serialising moto's request handling restores the service's semantics.
        unlocked = DynamoHandler.call_action
        lock = threading.Lock()

        def call_action(self: DynamoHandler) -> object:
            with lock:
                return unlocked(self)

        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setattr(DynamoHandler, "call_action", call_action)
        with mock_aws():
            table = f"lambda-connect-{uuid.uuid4().hex[:8]}"
            create_table(boto3.client("dynamodb", region_name="us-east-1"), table)
            yield Backend(
                kind,
                lambda: DynamoDBStateStore(table, client=boto3.client("dynamodb", region_name="us-east-1")),
            )
        return
    from lambda_connect.state.sql import SqlStateStore

    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'state' / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_url" if kind == "postgres" else "mariadb_url")
    prefix = _prefix()
    b = Backend(kind, lambda: SqlStateStore(url, table_prefix=prefix))
    first = b.open()
    try:
        yield b
    finally:
        for handle in b.handles:
            handle.close()
        first.drop_tables()
        first.close()


@pytest.fixture
def store(backend: Backend) -> Iterator[StateStore]:
    yield backend.open()
