"""Datagen source, compatible with ``io.confluent.kafka.connect.datagen.DatagenConnector``:
mock records of a quickstart (``orders``, ``users``, ``pageviews``) for demos and tests.

Same keys, partitions and offsets as Confluent's: partition ``{"task.id": n}``, offset
``{"task.generation": g, "current.iteration": count, "random.seed": seed}`` where ``count`` is
the number of records generated so far; a restarted task continues at ``count`` with the same
seed, and because every record's randomness derives from (seed, task, count) (see
``generator.py``) record *n* is identical whichever invocation produces it. Without
``random.seed`` the first start picks one and keeps it in the offset.

Lambda shape: ``max.interval`` is a schedule, not a sleep. Each record is due a random
0..``max.interval`` ms after the previous one; ``poll`` returns every record already due, waits at
most one second for the next one, and otherwise returns None so the invocation can end.

Ours, not Confluent's: ``malformed.rate`` (0.0-1.0) — that fraction of records carries a plain
string value with a STRING schema instead of the struct. They reach Kafka like any other
record, and a sink that expects the struct (e.g. the JDBC sink) rejects them, which is how the
demo shows the dead letter queue. Which records are malformed is fixed by ``random.seed``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from lambda_connect.api import (
    ConfigDef,
    ConfigKey,
    ConfigType,
    Importance,
    Schema,
    SourceConnector,
    SourceRecord,
    SourceTask,
    Task,
    Type,
)
from lambda_connect.api.config import Range, ValidString

from .generator import QUICKSTARTS, load_quickstart, record_random

__all__ = ["DatagenConnector", "DatagenTask"]

TASK_ID = "task.id"
TASK_GENERATION = "task.generation"
CURRENT_ITERATION = "current.iteration"
RANDOM_SEED = "random.seed"
MAX_BATCH = 1000  # records per poll, so one poll stays well under a second
MAX_WAIT_S = 1.0  # the longest poll waits for the next due record
MALFORMED_SCHEMA = Schema(Type.STRING)

CONFIG_DEF = ConfigDef(
    ConfigKey(name="kafka.topic", type=ConfigType.STRING, importance=Importance.HIGH,
              doc="Topic to write to."),
    ConfigKey(name="quickstart", type=ConfigType.STRING, validator=ValidString(*QUICKSTARTS),
              importance=Importance.HIGH, doc="Name of the quickstart schema to generate (orders, users, pageviews)."),
    ConfigKey(name="schema.keyfield", type=ConfigType.STRING, default="",
              doc="Name of the field to use as the message key; empty: the quickstart's key field."),
    ConfigKey(name="max.interval", type=ConfigType.LONG, default=500, validator=Range.at_least(0),
              doc="Max interval between messages (ms); each gap is uniform in [0, max.interval]."),
    ConfigKey(name="iterations", type=ConfigType.INT, default=-1, validator=Range.at_least(-1),
              doc="Number of messages to send from each task, or less than 1 for unlimited."),
    ConfigKey(name="random.seed", type=ConfigType.LONG, default=None,
              doc="Seed for the random generator, for reproducible data across runs and invocations."),
    ConfigKey(name="malformed.rate", type=ConfigType.DOUBLE, default=0.0, validator=Range.between(0.0, 1.0),
              doc="lambda-connect extension: fraction of records whose value is a plain string instead of the "
                  "struct, to exercise error handling and dead letter queues downstream."),
)


class DatagenConnector(SourceConnector):
    """Generates mock data from a quickstart; every task generates its own sequence."""

    name: ClassVar[str] = "io.confluent.kafka.connect.datagen.DatagenConnector"
    version: ClassVar[str | None] = "0.6.0"
    config_def: ClassVar[ConfigDef] = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return DatagenTask

    def start(self, props: Mapping[str, str]) -> None:
        CONFIG_DEF.parse(props)
        super().start(props)

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props, **{TASK_ID: str(i)}) for i in range(max_tasks)]


class DatagenTask(SourceTask):
    """Emits the records of its sequence that are due; never sleeps more than a second."""

    def start(self, props: Mapping[str, str]) -> None:
        cfg = CONFIG_DEF.parse(props)
        self._topic: str = cfg["kafka.topic"]
        self._quickstart = load_quickstart(cfg["quickstart"], cfg["schema.keyfield"] or None)
        self._key_schema = self._quickstart.key_schema
        self._max_interval_s = cfg["max.interval"] / 1000.0
        self._iterations = cfg["iterations"] if cfg["iterations"] >= 1 else -1
        self._malformed_rate: float = cfg["malformed.rate"]
        context_id = self.context.task_id if self.context is not None else 0
        self._task_id = int(props.get(TASK_ID, context_id))
        self._partition = {TASK_ID: self._task_id}
        stored = None
        if self.context is not None:
            stored = self.context.offset_storage_reader.offset(self._partition)
        stored = stored or {}
        self._count = int(stored.get(CURRENT_ITERATION, 0))
        self._generation = int(stored[TASK_GENERATION]) + 1 if TASK_GENERATION in stored else 0
        seed = cfg["random.seed"]
        if seed is None:
            seed = stored.get(RANDOM_SEED)
        self._seed = int(seed) if seed is not None else random.SystemRandom().getrandbits(63)
        self._next_due = time.monotonic()

    @property
    def generated(self) -> int:
        """Records generated so far by this task's sequence (including earlier invocations)."""
        return self._count

    def _done(self) -> bool:
        return 0 <= self._iterations <= self._count

    def poll(self) -> list[SourceRecord] | None:
        if self._done():
            return None
        now = time.monotonic()
        wait = self._next_due - now
        if wait > MAX_WAIT_S:
            return None
        if wait > 0:
            time.sleep(wait)
            now = self._next_due
        out: list[SourceRecord] = []
        while len(out) < MAX_BATCH and not self._done() and self._next_due <= now:
            out.append(self._record())
        return out or None

    def _record(self) -> SourceRecord:
        count = self._count
        rng = record_random(self._seed, self._task_id, count)
        qs = self._quickstart
        struct = qs.value(rng, count)
        key = struct.get(qs.key_field) if qs.key_field else None
        value_schema: Schema = qs.schema
        value: Any = struct
        malformed_draw = rng.random()  # drawn always, so the rate never shifts the rest of the sequence
        if malformed_draw < self._malformed_rate:
            value_schema = MALFORMED_SCHEMA
            value = f"malformed {qs.name} record #{count}: not a {qs.schema.name} struct"
        self._next_due += rng.random() * self._max_interval_s
        self._count = count + 1
        offset = {TASK_GENERATION: self._generation, CURRENT_ITERATION: self._count, RANDOM_SEED: self._seed}
        return SourceRecord(self._partition, offset, self._topic, None, self._key_schema, key, value_schema, value)
