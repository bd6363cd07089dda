"""QueueOncePool queues a callable once until a thread takes it, and queue_callbacks_once
swaps it into an executor keeping its thread count."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from grasp_core.callback_pool import QueueOncePool, queue_callbacks_once


def test_the_pool_queues_a_callable_once_until_a_thread_takes_it() -> None:
    pool = QueueOncePool(1)
    release, calls = threading.Event(), []
    pool.submit(release.wait)  # the only thread is busy
    for _ in range(5):
        pool.submit(lambda: calls.append("queued"))
    call = lambda: calls.append("call")  # noqa: E731 - one callable submitted many times
    for _ in range(5):
        pool.submit(call)
    release.set()
    pool.submit(release.wait).result(timeout=5)  # queued after the others: they have run
    assert calls.count("queued") == 5  # different callables all run
    assert calls.count("call") == 1
    pool.submit(call).result(timeout=5)  # taken, so it may be queued again
    assert calls.count("call") == 2
    pool.shutdown()


def test_calls_with_arguments_are_all_queued() -> None:
    with QueueOncePool(2) as pool:
        results = [pool.submit(pow, 2, n) for n in (3, 3, 4)]
        assert [r.result(timeout=5) for r in results] == [8, 8, 16]


class _Executor:  # the attribute rclpy's MultiThreadedExecutor keeps its pool in
    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(threads)


def test_the_swap_keeps_the_thread_count() -> None:
    executor = _Executor(3)
    assert queue_callbacks_once(executor) is executor
    assert isinstance(executor._executor, QueueOncePool)
    assert executor._executor._max_workers == 3
