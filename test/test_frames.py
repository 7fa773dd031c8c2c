"""Latest-frame slot, rolling statistics and log throttling (pure Python)."""

import threading

from ov_seg_ros.node.frames import FrameStats, LatestSlot, Throttle


def test_newer_frame_replaces_untaken_one_of_the_same_source():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True  # 1 was never taken: dropped
    assert slot.take_all(timeout=0) == {"": 2}
    assert slot.take_all(timeout=0.01) == {}
    assert slot.put(3) is False


def test_take_all_hands_over_every_source_at_once():
    slot = LatestSlot()
    assert slot.put("f1", "front") is False
    assert slot.put("r1", "rear") is False  # another camera's frame does not replace it
    assert slot.put("f2", "front") is True
    assert slot.take_all(timeout=0) == {"front": "f2", "rear": "r1"}
    assert slot.put("r2", "rear") is False


def test_take_all_wakes_on_put_and_on_close():
    slot = LatestSlot()
    got = []
    t = threading.Thread(target=lambda: got.append(slot.take_all(timeout=5)))
    t.start()
    slot.put("frame", "front")
    t.join(2)
    assert got == [{"front": "frame"}]
    t = threading.Thread(target=lambda: got.append(slot.take_all(timeout=5)))
    t.start()
    slot.close()
    t.join(2)
    assert not t.is_alive() and got[-1] == {}


def test_stats_rates_and_percentiles():
    stats = FrameStats(rate_window_s=10.0)
    assert stats.latency_percentiles() == {"p50": 0.0, "p95": 0.0} and stats.frames_per_second() == 0
    for i in range(11):
        stats.processed(latency_s=0.01 * (i + 1), now=100.0 + 0.5 * i)
    stats.count("dropped", 3)
    assert abs(stats.frames_per_second(now=105.0) - 2.0) < 1e-9
    pct = stats.latency_percentiles()
    assert abs(pct["p50"] - 0.06) < 1e-9 and 0.1 < pct["p95"] <= 0.11
    assert stats.snapshot() == {"processed": 11, "dropped": 3}


def test_throttle_once_per_period_per_key():
    th = Throttle(5.0)
    assert th.ready("a", now=0.0) and not th.ready("a", now=4.9) and th.ready("b", now=4.9)
    assert th.ready("a", now=5.0)
