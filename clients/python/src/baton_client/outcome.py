"""Exceptions a handler raises to steer a failed attempt, and the reasons a handler is cancelled."""

from __future__ import annotations

from datetime import timedelta


class RetryAfter(Exception):
    """Fails the attempt and asks for the next one no sooner than ``delay``, instead of the
    queue's exponential backoff."""

    def __init__(self, message: str, delay: timedelta) -> None:
        super().__init__(message)
        self.delay = delay


class DeadLetter(Exception):
    """Fails the job for good: no further attempts, it becomes DEAD now."""


class JobCancelled(Exception):
    """CancelJob was called for the running job."""


class LeaseLost(Exception):
    """The broker took the job back (its stream dropped, or the lease expired); whatever the
    handler returns now is discarded."""


class ShutdownTimeout(Exception):
    """The worker was stopped and jobs outlived its shutdown_timeout."""
