"""NodeGraph's executor keeps each waiting callback in its thread pool's queue once (see
grasp_core.callback_pool), so a callback that becomes ready while every thread is busy runs
as soon as a thread frees instead of behind copies of others; and the graph's threads take
turns at the interpreter every millisecond (grasp_core.interpreter)."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from rclpy.callback_groups import ReentrantCallbackGroup

from grasp_core.interpreter import SWITCH_INTERVAL_S
from harness import DOMAIN_ID, TestGraph


@pytest.mark.filterwarnings("ignore:MultiThreadedExecutor is used with a single thread")
def test_a_timer_waiting_for_a_busy_thread_is_queued_once() -> None:
    # One thread, held by a long callback for 1 s; the 100 Hz timer waits for it all that
    # time, and the spin loop wakes every 50 ms meanwhile. rclpy's own pool queued a copy
    # of the timer's callback at each wake.
    with TestGraph(domain_id=DOMAIN_ID, num_threads=1) as graph:
        node = graph.node("busy")
        started, ticks, queued = threading.Event(), [], []

        def long_callback() -> None:
            long_timer.cancel()
            started.set()
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                queued.append(graph.executor._executor._work_queue.qsize())
                time.sleep(0.05)

        long_timer = node.create_timer(0.01, long_callback, callback_group=ReentrantCallbackGroup())
        node.create_timer(0.01, lambda: ticks.append(time.monotonic()))
        graph.wait_for(started.is_set, what="the long callback")
        graph.wait_for(lambda: len(ticks) >= 10, what="ticks after the long callback")
    assert len(queued) >= 15 and max(queued) <= 1


def test_a_graph_hands_the_interpreter_between_threads_every_millisecond() -> None:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # CPython's default
    try:
        with TestGraph(domain_id=DOMAIN_ID):
            assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
    finally:
        sys.setswitchinterval(before)
