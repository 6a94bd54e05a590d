"""Failure stages and Kafka Connect's error policy (KIP-298, KAFKA-18073).

Every per-record failure in the runtime is wrapped in a ``StageError`` that names the
stage and the plugin class, so the DLQ headers, the error log and the CLI all describe a
failure the way a Kafka Connect worker would (``__connect.errors.stage``,
``__connect.errors.class.name``).

``ErrorPolicy.execute`` is Kafka's ``RetryWithToleranceOperator`` reduced to what a
stateless invocation needs: retry ``RetriableException`` with exponential backoff until
``errors.retry.timeout`` (or the Lambda deadline) runs out, then give up with a
``StageError``. Whether a given-up record is skipped (``errors.tolerance=all``) or fails
the batch (``none``) is the caller's decision, asked through ``tolerates()``.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from lambda_connect.api.errors import ConnectException, RetriableException, java_class_name

__all__ = ["ErrorPolicy", "Stage", "StageError", "TOLERANCE_EXCEEDED"]

T = TypeVar("T")

TOLERANCE_EXCEEDED = "Tolerance exceeded in error handler"
_INITIAL_BACKOFF_MS = 300


class Stage(enum.Enum):
    """Kafka's ``org.apache.kafka.connect.runtime.errors.Stage`` names, verbatim."""

    KEY_CONVERTER = "KEY_CONVERTER"
    VALUE_CONVERTER = "VALUE_CONVERTER"
    HEADER_CONVERTER = "HEADER_CONVERTER"
    TRANSFORMATION = "TRANSFORMATION"
    TASK_PUT = "TASK_PUT"
    TASK_POLL = "TASK_POLL"
    KAFKA_PRODUCE = "KAFKA_PRODUCE"
    KAFKA_CONSUME = "KAFKA_CONSUME"


class StageError(ConnectException):
    """One operation failed for good: the stage, the plugin class that failed, and why.

    ``cause`` is the original exception (also chained as ``__cause__``), so DLQ context
    headers can carry its class name and message rather than ours.
    """

    def __init__(self, stage: Stage, plugin_class: str, cause: BaseException) -> None:
        self.stage = stage
        self.plugin_class = plugin_class
        self.cause = cause
        super().__init__(f"{stage.value} failed in {plugin_class}: {cause}")
        self.__cause__ = cause

    @property
    def exception_class(self) -> str:
        """Kafka's class name of the cause, as written to ``__connect.errors.exception.class.name``."""
        return java_class_name(self.cause)

    @property
    def message(self) -> str:
        return str(self.cause)


def _bool(value: Any) -> bool:
    return str(value).strip().lower() == "true"


@dataclass(frozen=True)
class ErrorPolicy:
    """``errors.*`` of one connector, parsed once per task.

    ``retry_timeout_ms`` 0 means "no retries", -1 "retry forever" (bounded only by the
    ``deadline`` a caller passes, i.e. the Lambda's remaining time).
    """

    tolerance: str = "none"
    retry_timeout_ms: int = 0
    retry_delay_max_ms: int = 60000
    log_enable: bool = False
    log_include_messages: bool = False

    @classmethod
    def from_config(cls, props: Mapping[str, Any]) -> ErrorPolicy:
        """Read the ``errors.*`` keys with Kafka's defaults; values are already validated
        by the connector config definition, so this only converts types."""
        return cls(
            tolerance=str(props.get("errors.tolerance", "none")).strip().lower() or "none",
            retry_timeout_ms=int(props.get("errors.retry.timeout", 0)),
            retry_delay_max_ms=int(props.get("errors.retry.delay.max.ms", 60000)),
            log_enable=_bool(props.get("errors.log.enable", "false")),
            log_include_messages=_bool(props.get("errors.log.include.messages", "false")),
        )

    def tolerates(self) -> bool:
        """True when a failed record is skipped instead of failing the task."""
        return self.tolerance == "all"

    def backoff_ms(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Sleep after the ``attempt``-th failure: 300 ms doubling, randomised below the cap
        once it passes ``errors.retry.delay.max.ms`` (Kafka's ``RetryWithToleranceOperator``)."""
        delay = _INITIAL_BACKOFF_MS * (2 ** (attempt - 1))
        if delay > self.retry_delay_max_ms:
            delay = rng() * self.retry_delay_max_ms
        return delay

    def execute(
        self,
        operation: Callable[[], T],
        stage: Stage,
        plugin_class: str,
        sleep: Callable[[float], None] | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        first_failure: RetriableException | None = None,
    ) -> T:
        """Run ``operation``; retry only ``RetriableException`` within the retry budget.

        ``deadline`` is a ``clock()`` value (seconds) past which no sleep may reach — the
        Lambda's end of invocation. ``first_failure`` says the caller already ran the
        operation once and it failed (the hot path tries before paying for the policy).
        Any other exception, or a retriable one once the budget is spent, becomes a
        ``StageError`` (post KAFKA-18073: exhausted retries are failures, never skips).
        """
        do_sleep = sleep if sleep is not None else time.sleep
        start = clock()
        if self.retry_timeout_ms < 0:
            budget_end = deadline if deadline is not None else float("inf")
        else:
            budget_end = start + self.retry_timeout_ms / 1000.0
            if deadline is not None:
                budget_end = min(budget_end, deadline)
        attempt = 0
        error: RetriableException | None = first_failure
        while True:
            if error is not None:
                attempt += 1
                now = clock()
                if now >= budget_end:
                    raise StageError(stage, plugin_class, error) from error
                delay = min(self.backoff_ms(attempt) / 1000.0, budget_end - now)
                if delay > 0:
                    do_sleep(delay)
            try:
                return operation()
            except RetriableException as e:
                error = e
            except StageError:
                raise
            except Exception as e:
                raise StageError(stage, plugin_class, e) from e
