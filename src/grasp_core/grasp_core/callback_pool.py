"""A thread pool for rclpy's MultiThreadedExecutor that queues each callback once.

rclpy 7.1's MultiThreadedExecutor hands every callback that is ready but not yet running to
its thread pool again each time it wakes, and it wakes at every callback's start and end and
at each spin timeout. When the threads fall behind (a loaded machine, long callbacks), the
queue fills with copies that do nothing when run: nearly a thousand were measured in a
4-thread test graph, and a new callback waited behind them for seconds, so /joint_states
went unheard while the arm moved. This module needs no ROS: it only swaps the pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

E = TypeVar("E")


class QueueOncePool(ThreadPoolExecutor):
    """A ThreadPoolExecutor that holds each argument-less callable at most once in its queue;
    once a thread has taken it, it may be queued again."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers)
        self._queued: set[Callable[[], Any]] = set()
        self._queued_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if args or kwargs:
            return super().submit(fn, *args, **kwargs)
        with self._queued_lock:
            if fn in self._queued:
                # The copy already queued runs it; the caller gets a future of no result.
                skipped: Future = Future()
                skipped.set_result(None)
                return skipped
            self._queued.add(fn)
        return super().submit(self._run, fn)

    def _run(self, fn: Callable[[], Any]) -> Any:
        with self._queued_lock:
            self._queued.discard(fn)  # from here on a new wake may queue it again
        return fn()


def queue_callbacks_once(executor: E) -> E:
    """Give an rclpy MultiThreadedExecutor, before it spins, a QueueOncePool of as many
    threads as its own pool; returns the executor."""
    # rclpy keeps the pool in a private attribute and has no way to pass one in.
    executor._executor = QueueOncePool(executor._executor._max_workers)
    return executor
