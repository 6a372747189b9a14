"""Real threads started together, for the concurrency tests (PostgreSQL)."""

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def run_together(count: int, work: Callable[[int], Any]) -> list:
    """Start `count` threads at once (a barrier) and collect what each returned or raised."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def runner(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return results
