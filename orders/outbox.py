"""The outbox engine's retry schedule (shared by every outbox and provider retry)."""

from datetime import timedelta


def backoff(attempts: int, *, first: timedelta, cap: timedelta) -> timedelta:
    """The wait after the n-th failed attempt: first, 2×first, 4×first, ... at most `cap`."""
    return min(first * 2 ** max(attempts - 1, 0), cap)
