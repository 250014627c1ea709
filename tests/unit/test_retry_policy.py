"""The operation-aware retry policy, driven by scripted outcomes and a recording sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from octavia_loxilb.loxilb import errors
from octavia_loxilb.loxilb.retry import RetryPolicy


class Script:
    """Plays a list of outcomes: an exception is raised, anything else returned."""

    def __init__(self, outcomes: Iterable[object]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> Any:
        outcome = self.outcomes[self.calls]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def policy(attempts: int = 4, sleeps: list[float] | None = None) -> RetryPolicy:
    record = sleeps if sleeps is not None else []
    return RetryPolicy(attempts=attempts, base_delay=0.5, max_delay=3.0, jitter=0.1,
                       sleep=record.append, random=lambda: 1.0)


def refused() -> errors.Unavailable:
    return errors.Unavailable("connection refused", outcome_unknown=False)


def dropped() -> errors.Unavailable:
    return errors.Unavailable("reset after sending", outcome_unknown=True)


def server_error() -> errors.ServerError:
    return errors.ServerError("boom", status=500)


def test_read_retries_transient_failures_with_exponential_backoff() -> None:
    sleeps: list[float] = []
    script = Script([server_error(), refused(), dropped(), "rules"])
    assert policy(sleeps=sleeps).read(script) == "rules"
    assert script.calls == 4
    assert sleeps == pytest.approx([0.55, 1.1, 2.2])


def test_backoff_is_capped_and_jitter_stays_small() -> None:
    capped = policy()
    assert capped.delay(10) == pytest.approx(3.3)
    no_jitter = RetryPolicy(base_delay=1.0, jitter=0.1, random=lambda: 0.0)
    assert no_jitter.delay(2) == 2.0


def test_read_gives_up_after_the_configured_attempts() -> None:
    script = Script([server_error(), server_error(), server_error()])
    with pytest.raises(errors.ServerError):
        policy(attempts=3).read(script)
    assert script.calls == 3


@pytest.mark.parametrize("error", [
    errors.NotFound("gone", status=404),
    errors.InvalidRequest("bad", status=400),
    errors.Conflict("conflict", status=409),
    errors.AuthenticationError("token", status=500),
    errors.CapacityError("hwm", status=403),
])
def test_4xx_and_auth_failures_are_never_retried(error: errors.LoxiLBError) -> None:
    sleeps: list[float] = []
    script = Script([error, "unreached"])
    with pytest.raises(type(error)):
        policy(sleeps=sleeps).idempotent(script)
    assert script.calls == 1 and sleeps == []


def test_idempotent_calls_repeat_even_when_the_outcome_is_unknown() -> None:
    script = Script([dropped(), None])
    assert policy().idempotent(script) is None
    assert script.calls == 2


def test_write_is_retried_when_it_surely_was_not_sent() -> None:
    maintenance = errors.Unavailable("maintenance", status=503)
    script = Script([refused(), maintenance, True])
    checks: list[bool] = []

    def applied() -> bool:
        checks.append(True)
        return False

    assert policy().write(script, applied=applied, applied_result=True) is True
    assert script.calls == 3 and checks == []


def test_write_is_not_retried_on_a_500() -> None:
    script = Script([server_error(), True])
    with pytest.raises(errors.ServerError):
        policy().write(script, applied=lambda: False, applied_result=True)
    assert script.calls == 1


def test_unknown_outcome_resolved_as_applied_is_not_sent_again() -> None:
    script = Script([dropped(), "second send"])
    result = policy().write(script, applied=lambda: True, applied_result="applied")
    assert result == "applied" and script.calls == 1


def test_unknown_outcome_resolved_as_not_applied_is_sent_again() -> None:
    script = Script([dropped(), "second send"])
    result = policy().write(script, applied=lambda: False, applied_result="applied")
    assert result == "second send" and script.calls == 2


def test_unknown_outcome_without_a_read_back_is_raised_not_replayed() -> None:
    script = Script([dropped(), "second send"])
    with pytest.raises(errors.Unavailable) as raised:
        policy().write(script, applied=None, applied_result="applied")
    assert raised.value.outcome_unknown and script.calls == 1


def test_failing_read_back_raises_the_original_ambiguity() -> None:
    original = dropped()
    script = Script([original, "second send"])

    def applied() -> bool:
        raise errors.Unavailable("node still down")

    with pytest.raises(errors.Unavailable) as raised:
        policy().write(script, applied=applied, applied_result="applied")
    assert raised.value is original and script.calls == 1


def test_write_gives_up_after_the_configured_attempts() -> None:
    script = Script([dropped(), dropped()])
    check_calls: list[int] = []

    def applied() -> bool:
        check_calls.append(1)
        return False

    with pytest.raises(errors.Unavailable):
        policy(attempts=2).write(script, applied=applied, applied_result=True)
    assert script.calls == 2 and len(check_calls) == 1


def test_from_retries_counts_the_first_attempt() -> None:
    sleeps: list[float] = []
    zero: Callable[[], object] = Script([server_error(), "ok"])
    with pytest.raises(errors.ServerError):
        RetryPolicy.from_retries(0, 0.1, sleep=sleeps.append).read(zero)
    two = RetryPolicy.from_retries(2, 0.1, sleep=sleeps.append)
    assert two.attempts == 3 and two.base_delay == 0.1
