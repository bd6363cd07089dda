"""Stamp matching and the one-frame slot of the inference node."""

from __future__ import annotations

import threading

import pytest

from grasp_inference.frames import LatencyStats, LatestSlot, StampMatcher


def test_matcher_releases_a_frame_once_all_three_streams_share_its_stamp() -> None:
    matcher = StampMatcher()
    assert matcher.add("color", 10, "c10") is None
    assert matcher.add("depth", 20, "d20") is None
    assert matcher.add("depth", 10, "d10") is None
    frame = matcher.add("camera_info", 10, "i10")
    assert frame == {"color": "c10", "depth": "d10", "camera_info": "i10"}
    # Released frames are forgotten; stamp 20 still waits for its colour and info.
    assert matcher.add("camera_info", 10, "again") is None
    assert matcher.missing() == {"color"}


def test_matcher_forgets_old_stamps_so_a_dead_stream_cannot_grow_memory() -> None:
    matcher = StampMatcher(history=4)
    for stamp in range(100):
        matcher.add("color", stamp, stamp)
        matcher.add("depth", stamp, stamp)
    assert len(matcher._pending) <= 5
    assert matcher.missing() == {"camera_info"}
    with pytest.raises(ValueError, match="unknown stream"):
        matcher.add("infrared", 0, None)


def test_slot_keeps_only_the_newest_item_and_counts_the_dropped() -> None:
    slot = LatestSlot()
    for item in range(5):
        slot.put(item)
    assert slot.take(timeout=0) == 4
    assert slot.dropped == 4
    assert slot.take(timeout=0.01) is None


def test_slot_wakes_a_waiting_consumer_and_close_releases_it() -> None:
    slot = LatestSlot()
    got: list = []
    consumer = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    consumer.start()
    slot.put("frame")
    consumer.join(timeout=5)
    assert got == ["frame"]
    waiting = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    waiting.start()
    slot.close()
    waiting.join(timeout=1)
    assert not waiting.is_alive() and got[-1] is None


def test_latency_stats_are_medians_over_a_window() -> None:
    stats = LatencyStats(window=3)
    for ms in (100.0, 1.0, 2.0, 3.0):
        stats.add(total_ms=ms)
    assert stats.medians() == {"total_ms": 2.0}
