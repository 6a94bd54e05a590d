from __future__ import annotations

import pytest
from lambda_connect.api.errors import DataException, RetriableException
from lambda_connect.runtime.errors import ErrorPolicy, Stage, StageError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds * 1000, 3))
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def always_retriable() -> None:
    raise RetriableException("not yet")


def test_backoff_matches_kafka_example_and_gives_up_after_six_attempts() -> None:
    # reference §3.2: timeout 6000, max 60000 → sleeps 300, 600, 1200, 2400, 1500 (clipped), 6 attempts
    policy = ErrorPolicy.from_config({"errors.retry.timeout": "6000", "errors.retry.delay.max.ms": "60000"})
    clock = FakeClock()
    attempts = []

    def op() -> None:
        attempts.append(clock.now)
        always_retriable()

    with pytest.raises(StageError) as info:
        policy.execute(op, Stage.TRANSFORMATION, "x.Y", sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [300, 600, 1200, 2400, 1500]
    assert len(attempts) == 6
    assert info.value.stage is Stage.TRANSFORMATION
    assert info.value.plugin_class == "x.Y"
    assert isinstance(info.value.cause, RetriableException)
    assert info.value.exception_class == "org.apache.kafka.connect.errors.RetriableException"


def test_delay_above_max_is_randomised_below_the_cap() -> None:
    policy = ErrorPolicy(retry_timeout_ms=100_000, retry_delay_max_ms=1000)
    assert policy.backoff_ms(1) == 300
    assert policy.backoff_ms(2) == 600
    assert policy.backoff_ms(3, rng=lambda: 0.25) == 250.0
    assert 0 <= policy.backoff_ms(10) < 1000


def test_no_retry_by_default_and_success_after_retries() -> None:
    clock = FakeClock()
    with pytest.raises(StageError):
        ErrorPolicy().execute(always_retriable, Stage.KEY_CONVERTER, "c", sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []

    calls = iter([RetriableException("a"), RetriableException("b"), "ok"])

    def op() -> str:
        v = next(calls)
        if isinstance(v, Exception):
            raise v
        return v

    policy = ErrorPolicy(retry_timeout_ms=10_000)
    assert policy.execute(op, Stage.KEY_CONVERTER, "c", sleep=clock.sleep, clock=clock) == "ok"
    assert clock.sleeps == [300, 600]


def test_non_retriable_failure_is_not_retried() -> None:
    clock = FakeClock()
    calls = []

    def op() -> None:
        calls.append(1)
        raise DataException("bad")

    with pytest.raises(StageError) as info:
        ErrorPolicy(retry_timeout_ms=-1).execute(op, Stage.VALUE_CONVERTER, "c", sleep=clock.sleep, clock=clock)
    assert calls == [1]
    assert info.value.message == "bad"


def test_infinite_retries_stop_at_the_invocation_deadline() -> None:
    clock = FakeClock()
    with pytest.raises(StageError):
        ErrorPolicy(retry_timeout_ms=-1).execute(
            always_retriable, Stage.TRANSFORMATION, "c", sleep=clock.sleep, clock=clock, deadline=2.0
        )
    assert clock.now == pytest.approx(2.0)
    assert sum(clock.sleeps) == pytest.approx(2000)


def test_policy_parses_kafka_keys() -> None:
    policy = ErrorPolicy.from_config(
        {"errors.tolerance": "all", "errors.log.enable": "true", "errors.log.include.messages": "TRUE"}
    )
    assert policy.tolerates()
    assert policy.log_enable and policy.log_include_messages
    assert not ErrorPolicy.from_config({}).tolerates()
    assert [s.value for s in Stage] == [
        "KEY_CONVERTER", "VALUE_CONVERTER", "HEADER_CONVERTER", "TRANSFORMATION",
        "TASK_PUT", "TASK_POLL", "KAFKA_PRODUCE", "KAFKA_CONSUME",
    ]
