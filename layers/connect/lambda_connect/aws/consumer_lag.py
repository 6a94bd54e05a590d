"""Consumer lag of sink connectors: how many records each partition's committed offset is behind
the partition's end, from the connector's consumer groups and the topics' latest offsets.

Asked by ``GET /metrics`` and the status JSON of ``lambda-connect up``; answers are kept for a
few seconds so a console refreshing every connector's status costs one round of admin calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from lambda_connect.runtime.sink_offsets import groups_by_topic

from .kafka_clients import KafkaSettings
from .sink_offsets import KafkaSinkOffsets

__all__ = ["ConsumerLag"]

#: (topic, partition, committed offset, end offset, lag)
LagRow = tuple[str, int, int, int, int]


class ConsumerLag:
    """``lag(connector)`` → rows per partition the connector's groups have committed."""

    def __init__(self, settings: KafkaSettings, store: Any, *, ttl_s: float = 3.0, timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.offsets = KafkaSinkOffsets.from_settings(settings, timeout=timeout)
        self.store = store
        self.ttl_s = ttl_s
        self.timeout = timeout
        self._clock = clock
        self._cache: dict[str, tuple[float, list[LagRow]]] = {}
        self._lock = threading.Lock()

    def _ends(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        if not partitions:
            return {}
        request = {TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions}
        futures = self.offsets.admin.list_offsets(request, request_timeout=self.timeout)
        out: dict[tuple[str, int], int] = {}
        for tp, future in futures.items():
            try:
                out[(tp.topic, tp.partition)] = int(future.result(timeout=self.timeout).offset)
            except Exception:  # a partition that vanished has no lag to show
                continue
        return out

    def lag(self, connector: str) -> list[LagRow]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(connector)
            if cached is not None and now - cached[0] < self.ttl_s:
                return cached[1]
        groups = groups_by_topic(connector, self.store.get_resources(connector))
        committed = self.offsets.get(connector, groups)
        ends = self._ends([(t, p) for t, p, _ in committed])
        # An end below the committed offset is a broker answering ListOffsets with the last batch's
        # base offset + 1 (tansu does): the committed offset is then the better lower bound.
        rows = sorted((t, p, o, max(ends[(t, p)], o), max(ends[(t, p)] - o, 0))
                      for t, p, o in committed if (t, p) in ends)
        with self._lock:
            self._cache[connector] = (now, rows)
        return rows
