"""The node's diagnostics layer, without DDS: values from FrameStats, status levels, the log line."""

from types import SimpleNamespace

import pytest

from ov_seg_ros.node import diagnostics as d
from ov_seg_ros.node.frames import FrameStats, Throttle


def test_peak_memory_on_cpu_is_the_process_peak_only():
    peak = d.peak_memory_mib("cpu")
    assert list(peak) == ["peak_rss_mib"] and peak["peak_rss_mib"] > 10


def values(**counts):
    stats = FrameStats()
    for what, n in counts.items():
        stats.count(what, n)
    vocabulary = SimpleNamespace(names=("floor", "door"), version=3)
    return d.diagnostic_values(stats, {"device": "cpu"}, "cpu", vocabulary, ["/a/image", "/b/image"])


def test_values_name_counters_memory_cameras_and_vocabulary():
    v = values(received=5, dropped=2)
    assert (v["received"], v["dropped"], v["processed"], v["batched"]) == ("5", "2", "0", "0")
    assert v["cameras"] == "/a/image, /b/image" and v["vocabulary"] == "floor, door"
    assert v["vocabulary_version"] == "3" and "peak_rss_mib" in v and "device_peak_mib" not in v
    assert d.status_line(v).startswith("0.00 frames/s, latency p50 0.0 ms")


@pytest.mark.parametrize(
    "counts, problems, level, message",
    [
        ({}, [], "OK", "waiting for images"),
        ({"processed": 1}, [], "OK", "ok"),
        ({"processed": 1, "failed": 1}, [], "WARN", "some frames failed (see log)"),
        ({"failed": 1}, ["no images on /a/image", "x"], "WARN", "no images on /a/image; x"),
    ],
)
def test_status_level_and_message(counts, problems, level, message):
    pytest.importorskip("diagnostic_msgs")
    from diagnostic_msgs.msg import DiagnosticStatus

    status = d.diagnostic_status("ov_seg: segmentation", "cpu", values(**counts), problems)
    assert (status.level, status.message) == (getattr(DiagnosticStatus, level), message)
    assert {kv.key for kv in status.values} >= {"frames_per_second", "latency_p95_ms", "vocabulary"}


def test_worth_logging_once_per_kind_of_message():
    throttle = Throttle(60.0)
    assert d.worth_logging(throttle, "frame 12 failed")
    assert not d.worth_logging(throttle, "frame 13 failed")  # same kind: digits aside
    assert d.worth_logging(throttle, "other problem")


def test_without_a_model_the_vocabulary_is_left_out_and_the_state_is_the_message():
    pytest.importorskip("diagnostic_msgs")
    v = d.diagnostic_values(FrameStats(), {"device": "cpu"}, None, None, [])
    assert "vocabulary" not in v and "vocabulary_size" not in v and v["processed"] == "0"
    status = d.diagnostic_status("ov_seg: segmentation", "cpu", v, [], state="inactive")
    assert status.message == "inactive: not processing images"
    status = d.diagnostic_status("ov_seg: segmentation", "cpu", v, ["configure failed: x"], state="unconfigured")
    assert status.message == "configure failed: x"
