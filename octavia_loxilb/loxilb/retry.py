"""The one retry policy for LoxiLB calls, aware of what each kind of call may safely repeat.

* Reads (GET) and idempotent calls (DELETE, upserts) repeat on anything transient:
  connection errors, timeouts and 5xx. A 4xx never changes by repeating it.
* Writes (POST) repeat only when LoxiLB surely did not apply them: the connection failed
  before the request went out, or LoxiLB answered 503 (maintenance). When the outcome is
  unknown (a read timeout, a reset after sending), the caller's read-back check decides:
  applied means done; not applied means sending again is safe. Without a check the
  ambiguity is raised, never resolved by a blind replay.

Delays grow exponentially from ``base_delay`` with a little jitter so nodes recovering
from an outage are not hit in lockstep. ``sleep`` and ``random`` are injectable so the
policy is tested without waiting.
"""

from __future__ import annotations

import dataclasses
import logging
import random as _random
import time
from collections.abc import Callable
from typing import TypeVar

from octavia_loxilb.loxilb import errors

LOG = logging.getLogger(__name__)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to repeat one call (``attempts`` counts the first)."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0
    jitter: float = 0.1
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = _random.random

    @classmethod
    def from_retries(
        cls,
        retries: int,
        backoff: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RetryPolicy:
        """The policy for ``retries`` extra attempts after the first."""
        return cls(attempts=max(1, retries + 1), base_delay=backoff, sleep=sleep)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        nominal = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return nominal * (1.0 + self.jitter * self.random())

    def read(self, operation: Callable[[], T]) -> T:
        """Run a safe read, repeating on transient failures."""
        return self._repeat(operation, _transient)

    def idempotent(self, operation: Callable[[], T]) -> T:
        """Run a call whose repetition cannot change the outcome (DELETE, an upsert)."""
        return self._repeat(operation, _transient)

    def write(
        self,
        operation: Callable[[], T],
        *,
        applied: Callable[[], bool] | None,
        applied_result: T,
    ) -> T:
        """Run a non-idempotent write, resolving an unknown outcome with ``applied()``.

        ``applied_result`` is returned when the read-back shows the write took effect.
        If the read-back itself fails, the original ambiguity is raised.
        """
        attempt = 1
        while True:
            try:
                return operation()
            except errors.Unavailable as exc:
                if attempt >= self.attempts:
                    raise
                if exc.outcome_unknown:
                    if applied is None:
                        raise
                    if self._check(applied, exc):
                        LOG.info("%s: outcome was unknown; read-back shows it applied", exc)
                        return applied_result
                    LOG.info("%s: read-back shows it was not applied; sending again", exc)
                else:
                    LOG.info("%s: not applied; retrying", exc)
                self.sleep(self.delay(attempt))
                attempt += 1

    @staticmethod
    def _check(applied: Callable[[], bool], cause: errors.Unavailable) -> bool:
        try:
            return applied()
        except errors.LoxiLBError as check_error:
            raise cause from check_error

    def _repeat(
        self, operation: Callable[[], T], retryable: Callable[[errors.LoxiLBError], bool]
    ) -> T:
        attempt = 1
        while True:
            try:
                return operation()
            except errors.LoxiLBError as exc:
                if attempt >= self.attempts or not retryable(exc):
                    raise
                LOG.info("%s: transient; retry %d of %d", exc, attempt, self.attempts - 1)
                self.sleep(self.delay(attempt))
                attempt += 1


def _transient(exc: errors.LoxiLBError) -> bool:
    return isinstance(exc, (errors.Unavailable, errors.ServerError))
