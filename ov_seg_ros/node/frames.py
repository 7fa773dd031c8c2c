"""Pure helpers for the node's frame flow: a latest-frame slot and rolling statistics. No ROS here."""

from __future__ import annotations

import collections
import threading
import time
from typing import Deque, Dict, Generic, Optional, TypeVar

import numpy as np

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """At most one item per source (camera): a newer `put` replaces an untaken older one from the same
    source, so a slow consumer never builds a queue and never works on stale frames. `take_all` hands
    over every source's latest item at once, so cameras that arrive together share one forward pass."""

    def __init__(self) -> None:
        self._items: Dict[str, T] = {}
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T, source: str = "") -> bool:
        """Store `item` for `source`; True when it replaced one that was never taken (a dropped frame)."""
        with self._cond:
            replaced = source in self._items
            self._items[source] = item
            self._cond.notify()
            return replaced

    def take_all(self, timeout: Optional[float] = None) -> Dict[str, T]:
        """Every source's latest item, waiting up to `timeout` s for one; {} on timeout or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout)
            items, self._items = self._items, {}
            return {} if self._closed else items

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class FrameStats:
    """Counters and a rolling window of latencies / completion times, safe across threads."""

    def __init__(self, window: int = 200, rate_window_s: float = 10.0) -> None:
        self._lock = threading.Lock()
        self._latencies: Deque[float] = collections.deque(maxlen=window)
        self._done: Deque[float] = collections.deque(maxlen=window)
        self._rate_window_s = rate_window_s
        self.counts: Dict[str, int] = collections.Counter()

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def processed(self, latency_s: float, now: Optional[float] = None) -> None:
        with self._lock:
            self.counts["processed"] += 1
            self._latencies.append(latency_s)
            self._done.append(time.monotonic() if now is None else now)

    def frames_per_second(self, now: Optional[float] = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._done if now - t <= self._rate_window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def latency_percentiles(self) -> Dict[str, float]:
        """p50 / p95 of recent latencies in seconds (0 when nothing has been processed)."""
        with self._lock:
            values = np.asarray(self._latencies, dtype=np.float64)
        if values.size == 0:
            return {"p50": 0.0, "p95": 0.0}
        p50, p95 = np.percentile(values, [50, 95])
        return {"p50": float(p50), "p95": float(p95)}

    def snapshot(self) -> Dict[str, int]:
        with self._lock:
            return dict(self.counts)


class Throttle:
    """True at most once per `period_s` per key: logs name every kind of problem without flooding."""

    def __init__(self, period_s: float = 5.0) -> None:
        self._period_s = period_s
        self._last: Dict[str, float] = {}
        self._lock = threading.Lock()

    def ready(self, key: str, now: Optional[float] = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            if now - self._last.get(key, -float("inf")) < self._period_s:
                return False
            self._last[key] = now
            return True
