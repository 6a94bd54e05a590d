"""Scenario 3 — outages. The database goes down or read-only in the middle of a batch, the broker stops
answering while a source produces or while the sink dead-letters, the state store fails, the Lambda
deadline arrives mid-batch. Each time the invocation must fail (or end) without committing what went
nowhere, and after recovery every record is delivered exactly once (JDBC) or at least once (source
produce), with no offset skipped.

The database is a throwaway PostgreSQL cluster the test starts and stops; the broker a tansu the
test starts and freezes with SIGSTOP (a broker that stops answering, keeping its in-memory data).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.aws.sink_handler import SinkHandler
from lambda_connect.runtime.sink_worker import BatchDeadlineError, SinkWorker
from lambda_connect.state.base import open_store

from tests.fixtures.throwaway_pg import ThrowawayPostgres

from .harness import (
    Context,
    EventRecord,
    JdbcTarget,
    create_sink,
    dlq_coords,
    dlq_messages,
    kafka_event,
    load_app,
    read_topic,
    value_of,
)
from .ledger import Ledger

pytestmark = [pytest.mark.slow]


def batch(topic: str, partitions: int, offsets: range, ledger: Ledger,
          bad: frozenset[int] | set[int] = frozenset()) -> list[EventRecord]:
    out: list[EventRecord] = []
    for p in range(partitions):
        for o in offsets:
            ledger.add(topic, p, o, bad=o in bad)
            out.append((topic, p, o, b"\xff not json" if o in bad else value_of(p * 100_000 + o)))
    return out


def deliver_until_accepted(app: ModuleType, event: dict[str, Any], attempts: int = 4) -> int:
    """What the event source mapping does: deliver the same batch again until it is accepted.
    Returns the number of attempts it took."""
    for attempt in range(1, attempts + 1):
        try:
            response = app.lambda_handler(event, Context())
        except Exception:
            if attempt == attempts:
                raise
            continue
        assert response == {"batchItemFailures": []}
        return attempt
    raise AssertionError("unreachable")


# --- the database ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_pg() -> Iterator[ThrowawayPostgres]:
    """One throwaway cluster for the outage matrix (the tests run in one xdist group): each test
    takes it down and brings it back, and uses a table of its own."""
    from tests.fixtures.services import service_unavailable
    from tests.fixtures.throwaway_pg import PG_BIN

    cluster = ThrowawayPostgres()
    try:
        cluster.start()
    except (OSError, subprocess.CalledProcessError) as e:
        cluster.close()
        service_unavailable("Throwaway PostgreSQL (initdb/pg_ctl)", str(PG_BIN), e)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def pg(shared_pg: ThrowawayPostgres) -> ThrowawayPostgres:
    """The shared cluster, running and writable whatever the previous test left."""
    if not shared_pg.running:
        shared_pg.start()
    shared_pg.set_read_only(False)
    return shared_pg


class _Cursor:
    """A DBAPI cursor that runs ``before(statement)`` ahead of every statement it sends."""

    def __init__(self, cursor: Any, before: Callable[[str], None]) -> None:
        self._cursor, self._before = cursor, before

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        self._before(str(statement))
        return self._cursor.execute(statement, *args, **kwargs)

    def executemany(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        self._before(str(statement))
        return self._cursor.executemany(statement, *args, **kwargs)

    def copy(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        self._before(str(statement))
        return self._cursor.copy(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Any:
        return iter(self._cursor)

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self._cursor.close()


class _Connection:
    def __init__(self, connection: Any, before: Callable[[str], None]) -> None:
        self._connection, self._before = connection, before

    def cursor(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _Cursor(self._connection.cursor(*args, **kwargs), self._before)

    def commit(self) -> None:
        self._before("COMMIT")
        self._connection.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def fail_at(engine: Any, predicate: Callable[[str], bool], action: Callable[[], None],
            monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run ``action`` (take the database down) just before the first statement ``predicate``
    picks, once; that statement then meets a database that is gone. The sink writes through
    DBAPI cursors of ``engine.raw_connection()``, so that is where the hook sits."""
    fired: list[str] = []

    def before(statement: str) -> None:
        if not fired and predicate(statement):
            fired.append(statement)
            action()

    original = engine.raw_connection
    monkeypatch.setattr(engine, "raw_connection", lambda *a, **k: _Connection(original(*a, **k), before))
    return fired


POINTS: dict[str, Callable[[str], bool]] = {
    "data-write": lambda s: s.lstrip().upper().startswith(("INSERT", "COPY")) and "__lambda_connect" not in s,
    "marks-write": lambda s: "__lambda_connect_sink_offsets" in s and not s.lstrip().upper().startswith(
        ("SELECT", "CREATE")),
    "commit": lambda s: s == "COMMIT",
}


@pytest.mark.xdist_group("throwaway-pg")
@pytest.mark.parametrize("point", sorted(POINTS))
@pytest.mark.parametrize("mode", ["down", "read-only"])
def test_database_down_or_read_only_mid_batch(sink_app: ModuleType, pg: ThrowawayPostgres, mode: str, point: str,
                                             kafka_broker: str, monkeypatch: pytest.MonkeyPatch,
                                             unique_name: str) -> None:
    target = JdbcTarget("postgres", pg.url, unique_name)
    topic = f"orders-{unique_name}"
    create_sink(sink_app, unique_name, topic, target)
    ledger = Ledger()
    first = kafka_event(batch(topic, 2, range(0, 500), ledger), kafka_broker, connector=unique_name)
    assert deliver_until_accepted(sink_app, first, attempts=1) == 1

    def outage() -> None:
        if mode == "down":
            pg.stop("immediate")
        else:
            # Sessions already open keep writing; read-only must reach the sink's own session.
            pg.set_read_only(True)
            pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE pid <> pg_backend_pid() AND datname IS NOT NULL")

    fired = fail_at(target.engine, POINTS[point], outage, monkeypatch)
    second = kafka_event(batch(topic, 2, range(500, 1500), ledger), kafka_broker, connector=unique_name)
    with pytest.raises(Exception):  # noqa: B017 - any failure will do, as long as the batch is not committed
        sink_app.lambda_handler(second, Context())
    assert fired, f"the batch never reached a {point} statement"
    # Redeliveries while the outage lasts fail as well.
    with pytest.raises(Exception):  # noqa: B017
        sink_app.lambda_handler(second, Context())
    if mode == "down":
        pg.start()
    else:
        pg.set_read_only(False)
    attempts = deliver_until_accepted(sink_app, second)
    deliver_until_accepted(sink_app, second)  # and once more after it was accepted
    third = kafka_event(batch(topic, 2, range(1500, 1700), ledger), kafka_broker, connector=unique_name)
    deliver_until_accepted(sink_app, third, attempts=1)
    ledger.assert_delivered(target.coords(), scenario=f"outage/db-{mode}/{point}", faults=1)
    assert attempts <= 2, f"{attempts} deliveries after the database came back"


# --- the broker ------------------------------------------------------------------------------
@pytest.fixture
def own_broker() -> Iterator[Any]:
    """A tansu of this test alone, so it can be frozen without disturbing other tests."""
    from lambda_connect.local.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker
        if broker.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(broker.pid, signal.SIGCONT)


class Frozen:
    """SIGSTOP to the broker on enter, SIGCONT on exit: connections stay open, nothing answers."""

    def __init__(self, broker: Any) -> None:
        self.pid = broker.pid

    def __enter__(self) -> Frozen:
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def run_bounded(call: Callable[[], Any], timeout: float) -> tuple[Any, BaseException | None]:
    """Run ``call`` in a thread; fail the test when it has not returned after ``timeout`` seconds
    (an invocation that outlives its deadline would be killed by Lambda with nothing reported)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as e:  # reported to the test below
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the invocation did not return within {timeout}s of a {timeout / 4:.0f}s deadline"
    return outcome.get("result"), outcome.get("error")


@pytest.mark.broker
def test_broker_down_while_dead_lettering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_broker: Any,
                                          unique_name: str) -> None:
    bootstrap = own_broker.bootstrap_servers
    app = load_app("sink_task", {"LAMBDA_CONNECT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
                                 "LAMBDA_CONNECT_CONNECTOR": None, "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": bootstrap},
                   monkeypatch)
    target = JdbcTarget("sqlite", f"sqlite:///{tmp_path}/target.db", unique_name)
    topic, dlq = f"orders-{unique_name}", f"dlq-{unique_name}"
    create_sink(app, unique_name, topic, target, **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true"})
    ledger = Ledger()
    first = kafka_event(batch(topic, 1, range(0, 300), ledger, bad={10, 150}), bootstrap, connector=unique_name)
    app.lambda_handler(first, Context())  # warm: producer and DLQ topic exist
    second = kafka_event(batch(topic, 1, range(300, 600), ledger, bad={320, 480}), bootstrap, connector=unique_name)
    with Frozen(own_broker):
        _, error = run_bounded(lambda: app.lambda_handler(second, Context(remaining_ms=8_000)), 32)
    assert error is not None, "a batch whose dead letters Kafka never acknowledged was reported as done"
    deliver_until_accepted(app, second)
    messages = dlq_messages(bootstrap, dlq, 4)
    # The DLQ is at least once: the frozen attempt's records may arrive after all, next to the retry's.
    ledger.assert_delivered(target.coords(), set(dlq_coords(messages)), scenario="outage/broker-down-dlq",
                            faults=1)
    assert len(target.coords()) == len(ledger.good)


def file_source(app: ModuleType, path: Path, name: str, topic: str, lines: int) -> None:
    path.write_text("".join(f"line-{i:06d}\n" for i in range(lines)))
    app.handler.store.create_connector(name, {
        "name": name, "connector.class": "FileStreamSource", "file": str(path), "topic": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter", "batch.size": "200",
    })


def source_app(tmp_path: Path, bootstrap: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    return load_app("source_task", {"LAMBDA_CONNECT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
                                    "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": bootstrap, **env}, monkeypatch)


@pytest.mark.broker
def test_broker_down_during_source_produce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_broker: Any) -> None:
    """Defect 14: the invocation must end by its deadline with the broker frozen, commit only what
    Kafka acknowledged, and the next run must produce the rest (at least once, nothing skipped)."""
    bootstrap = own_broker.bootstrap_servers
    app = source_app(tmp_path, bootstrap, monkeypatch, LAMBDA_CONNECT_DEADLINE_MARGIN_MS="2000")
    topic, name = f"lines-{uuid.uuid4().hex[:8]}", "lines-source"
    file_source(app, tmp_path / "in.txt", name, topic, 3000)
    event = {"connector": name, "task": 0}
    first = app.lambda_handler(event, Context(remaining_ms=8_000))
    assert first["records_produced"] > 0
    with (tmp_path / "in.txt").open("a") as f:
        f.writelines(f"line-{i:06d}\n" for i in range(3000, 5000))
    with Frozen(own_broker):
        run_bounded(lambda: app.lambda_handler(event, Context(remaining_ms=8_000)), 32)
    for _ in range(6):  # later ticks, broker back
        app.lambda_handler(event, Context(remaining_ms=8_000))
    values = [m.value().decode() for m in read_topic(bootstrap, topic, 5000, timeout=60)]
    missing = {f"line-{i:06d}" for i in range(5000)} - set(values)
    assert not missing, f"{len(missing)} line(s) never produced, e.g. {sorted(missing)[:3]}"
    position = app.handler.store.get_offsets(name)[0][1]["position"]
    assert position == (tmp_path / "in.txt").stat().st_size


# --- the state store -------------------------------------------------------------------------
class FailingStore:
    """A state store whose named methods fail their first ``times`` calls (a throttled or
    unreachable table); everything else passes through."""

    def __init__(self, store: Any, fail: dict[str, int]) -> None:
        self._store = store
        self._fail = dict(fail)
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in self._fail or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._fail.get(name, 0) > 0:
                self._fail[name] -= 1
                self.failures += 1
                raise ConnectionError(f"state store unavailable ({name})")
            return attribute(*args, **kwargs)

        return call


@pytest.mark.parametrize("method", ["get_connector", "put_task_status", "add_active_topics"])
def test_state_store_failing_around_a_sink_batch(tmp_path: Path, method: str, kafka_broker: str,
                                                 unique_name: str) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    failing = FailingStore(store, {method: 2})
    handler = SinkHandler(failing, env={})  # type: ignore[arg-type]
    target = JdbcTarget("sqlite", f"sqlite:///{tmp_path}/target.db", unique_name)
    topic = f"orders-{unique_name}"
    store.create_connector(unique_name, {"name": unique_name, "topics": topic, **_sink_config(target)})
    ledger = Ledger()
    event = kafka_event(batch(topic, 2, range(0, 400), ledger), kafka_broker, connector=unique_name)
    errors = 0
    for _ in range(5):
        try:
            handler(event, Context())
            break
        except ConnectionError:
            errors += 1
    assert errors == failing.failures >= 1
    ledger.assert_delivered(target.coords(), scenario=f"outage/state-store/{method}", faults=failing.failures)
    # What the failed writes were to record is recorded once the store answers again.
    assert store.get_task_statuses(unique_name)[0].state == "RUNNING", store.get_task_statuses(unique_name)
    assert store.get_active_topics(unique_name) == {topic}


def _sink_config(target: JdbcTarget) -> dict[str, str]:
    from .harness import COORDINATES, JSON_VALUES

    return {**JSON_VALUES, **COORDINATES, **target.config()}


@pytest.mark.broker
def test_state_store_failing_to_commit_source_offsets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      kafka_broker: str) -> None:
    app = source_app(tmp_path, kafka_broker, monkeypatch)
    topic, name = f"lines-{uuid.uuid4().hex[:8]}", "lines-source"
    file_source(app, tmp_path / "in.txt", name, topic, 1000)
    worker = app.handler.worker
    worker.store = FailingStore(worker.store, {"commit_offsets": 1})
    event = {"connector": name, "task": 0}
    with contextlib.suppress(ConnectionError):  # the commit fails: records in Kafka, offsets not stored
        app.lambda_handler(event, Context(remaining_ms=10_000))
    for _ in range(3):
        app.lambda_handler(event, Context(remaining_ms=10_000))
    values = [m.value().decode() for m in read_topic(kafka_broker, topic, 1000, timeout=60)]
    assert {f"line-{i:06d}" for i in range(1000)} <= set(values)
    assert app.handler.store.get_offsets(name)[0][1]["position"] == (tmp_path / "in.txt").stat().st_size


# --- the Lambda deadline ---------------------------------------------------------------------
class TickingClock:
    """A clock that advances 1 ms each time it is read: the worker reads it once per record, so a
    deadline ``n`` ms away falls on record ``n``, on any machine."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


@pytest.mark.parametrize("partial", [False, True], ids=["whole-batch", "batch-item-failures"])
def test_deadline_reached_mid_batch(tmp_path: Path, partial: bool, kafka_broker: str, unique_name: str) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    from lambda_connect.aws.sink_handler import StoreStatusReporter

    worker = SinkWorker(store, StoreStatusReporter(store), deadline_margin_ms=5000, clock=TickingClock())
    handler = SinkHandler(store, env={}, worker=worker)
    target = JdbcTarget("sqlite", f"sqlite:///{tmp_path}/target.db", unique_name)
    topic = f"orders-{unique_name}"
    extra = {"lambda.report.batch.item.failures": "true", "lambda.provisioned.pollers.min": "1"} if partial else {}
    store.create_connector(unique_name, {"name": unique_name, "topics": topic, **_sink_config(target), **extra})
    ledger = Ledger()
    records = batch(topic, 2, range(0, 1000), ledger)
    short = Context(remaining_ms=5000 + 700)  # 700 ticks of work before the margin: record ~700 of 2000
    if partial:
        response = handler(kafka_event(records, kafka_broker, connector=unique_name), short)
        resume = {item["itemIdentifier"]["partition"]: item["itemIdentifier"]["offset"]
                  for item in response["batchItemFailures"]}
        assert resume, "the deadline passed mid-batch but nothing was reported unfinished"
        held = set(target.coords())
        committed = {c for c in ledger.good if c[2] < resume.get(f"{c[0]}-{c[1]}", 1000)}
        assert held == committed, "the target differs from the committed prefix"
        rest = [r for r in records if r[2] >= resume.get(f"{r[0]}-{r[1]}", 1000)]
    else:
        with pytest.raises(BatchDeadlineError):
            handler(kafka_event(records, kafka_broker, connector=unique_name), short)
        assert target.coords() == []
        rest = records
    handler(kafka_event(rest, kafka_broker, connector=unique_name), Context())
    ledger.assert_delivered(target.coords(), scenario=f"outage/deadline/{'partial' if partial else 'whole'}",
                            faults=1)
