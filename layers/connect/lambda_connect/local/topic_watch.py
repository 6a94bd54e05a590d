"""Notice new topics within seconds, for sinks subscribed with ``topics.regex``.

The reconciler resolves ``topics.regex`` against the cluster whenever it reconciles a
connector; locally a full pass over every connector runs only every ``reconcile_interval``
(10 s by default) and in AWS on a schedule. This thread lists the cluster's topics every
couple of seconds (one metadata request) and, when the set changes, asks for the connectors
that match by pattern to be reconciled at once, so a topic created after its sink is consumed
within seconds. Topics named in ``topics`` need no help: their mapping's consumer refreshes
its own metadata (``esm.TOPIC_METADATA_REFRESH_MS``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

__all__ = ["DEFAULT_WATCH_INTERVAL_S", "TopicWatcher"]

log = logging.getLogger(__name__)

#: Seconds between two looks at the cluster's topic list.
DEFAULT_WATCH_INTERVAL_S = 2.0


class TopicWatcher:
    """Calls ``on_change(added, removed)`` from its own thread when the cluster's topics change."""

    def __init__(
        self,
        list_topics: Callable[[], Iterable[str]],
        on_change: Callable[[set[str], set[str]], None],
        interval_s: float = DEFAULT_WATCH_INTERVAL_S,
    ) -> None:
        self._list_topics = list_topics
        self._on_change = on_change
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._known: set[str] | None = None

    def start(self) -> TopicWatcher:
        """Take the first list now (what the caller's first reconcile pass sees, or less), then
        watch from a thread."""
        self.check()
        self._thread = threading.Thread(target=self._run, name="topic-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def check(self) -> None:
        """One look: compare with the last list and report a change."""
        try:
            topics = set(self._list_topics())
        except Exception as e:  # broker briefly unreachable: look again next time
            log.debug("listing topics failed: %s", e)
            return
        known, self._known = self._known, topics
        if known is None or topics == known:
            return
        try:
            self._on_change(topics - known, known - topics)
        except Exception:  # a failing callback must not end the watch
            log.exception("handling a change of the cluster's topics failed")

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.check()
