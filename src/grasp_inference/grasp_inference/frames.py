"""Pairing colour, depth and camera_info by stamp, and the one-frame slot behind "drop,
don't queue". ROS-free: messages are opaque values keyed by their stamp in ns."""

from __future__ import annotations

import statistics
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

STREAMS = ("color", "depth", "camera_info")


@dataclass
class StampMatcher:
    """Collects the three streams of a camera and yields complete frames.

    Messages of one frame carry the same stamp (the driver stamps them together). Only the
    newest ``history`` stamps are kept, so a stream that stops cannot grow memory; a frame
    is released once, the moment its last stream arrives.
    """

    history: int = 8
    _pending: OrderedDict[int, dict[str, Any]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stream: str, stamp_ns: int, message: Any) -> dict[str, Any] | None:
        """Store ``message``; returns {stream: message} for all STREAMS when complete."""
        if stream not in STREAMS:
            raise ValueError(f"unknown stream '{stream}'; expected one of {STREAMS}")
        with self._lock:
            entry = self._pending.setdefault(stamp_ns, {})
            entry[stream] = message
            if len(entry) == len(STREAMS):
                del self._pending[stamp_ns]
                return entry
            while len(self._pending) > self.history:
                self._pending.popitem(last=False)
            return None

    def missing(self) -> set[str]:
        """Streams absent from every pending stamp (what to tell a user who gets nothing)."""
        with self._lock:
            seen = set().union(*self._pending.values()) if self._pending else set()
        return set(STREAMS) - seen if self._pending else set()


class LatestSlot:
    """Holds at most one item: a put replaces the waiting one, which counts as dropped.

    The consumer always works on the newest frame, so a slow inference never builds a queue
    and never delays a fresh frame behind stale ones.
    """

    def __init__(self) -> None:
        self._item: Any = None
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float | None = None) -> Any:
        """The newest item, waiting up to ``timeout`` s; None on timeout or after close()."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass
class LatencyStats:
    """Rolling figures of the last ``window`` frames, ms."""

    window: int = 100
    _samples: dict[str, deque[float]] = field(default_factory=dict)

    def add(self, **times_ms: float) -> None:
        for name, ms in times_ms.items():
            self._samples.setdefault(name, deque(maxlen=self.window)).append(ms)

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(s) for name, s in self._samples.items() if s}
