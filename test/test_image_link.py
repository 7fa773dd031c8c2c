"""The image link rules: which reliability `auto` picks, and when silence or loss is reported."""

from ov_seg_ros.node.image_link import SILENCE_S, ArrivalMonitor, wanted_reliability


def test_auto_is_reliable_only_when_every_publisher_is():
    assert wanted_reliability("auto", ["reliable", "reliable"]) == "reliable"
    assert wanted_reliability("auto", ["reliable", "best_effort"]) == "best_effort"
    assert wanted_reliability("auto", []) == "best_effort"  # matches whoever comes first
    assert wanted_reliability("reliable", ["best_effort"]) == "reliable"  # an explicit choice stands
    assert wanted_reliability("best_effort", ["reliable"]) == "best_effort"


def test_silence_is_reported_only_after_publishers_stayed_quiet():
    monitor = ArrivalMonitor()
    assert monitor.problems("/cam", "best_effort", now=100.0) == []  # no publisher: just waiting
    monitor.publishers(1, now=100.0)
    assert monitor.problems("/cam", "best_effort", now=100.0 + SILENCE_S - 0.1) == []
    [problem] = monitor.problems("/cam", "best_effort", now=100.0 + SILENCE_S + 0.1)
    assert "/cam" in problem and "no frame" in problem and "FASTRTPS_DEFAULT_PROFILES_FILE" in problem
    monitor.arrived(now=106.0)
    assert monitor.problems("/cam", "best_effort", now=107.0) == []
    assert monitor.problems("/cam", "best_effort", now=106.0 + SILENCE_S + 1) != []  # quiet again
    monitor.publishers(0, now=120.0)
    assert monitor.problems("/cam", "best_effort", now=130.0) == []  # camera gone: nothing to say


def test_sequence_gaps_count_lost_frames_per_publisher():
    monitor = ArrivalMonitor()
    monitor.publishers(2, now=0.0)
    for t, seq in ((0.1, 1), (0.2, 2), (0.3, 5), (0.4, 6)):  # 3 and 4 lost
        monitor.arrived(now=t, publisher=b"a", sequence=seq)
    monitor.arrived(now=0.35, publisher=b"b", sequence=40)  # another publisher's numbering
    assert monitor.lost_recently() == (2, 5)
    [problem] = monitor.problems("/cam", "reliable", now=0.5)
    assert "2 of 7 frames lost" in problem
    monitor.arrived(now=20.0, publisher=b"a", sequence=7)  # the old losses left the window
    assert monitor.lost_recently() == (0, 1)
