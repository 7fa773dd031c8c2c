"""ov-seg on real rosbag2 recordings (MCAP and sqlite3, written here with rosbags), real seeded engine:
outputs per good frame with the input's header and log time, skips, stamp matching, selection, errors."""

import json
import re
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import REPO, interrupt, random_image, ros_env
from PIL import Image
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from ov_seg_ros.messages.pointcloud import POINT_DTYPE
from ov_seg_ros.offline.cli import main
from ov_seg_ros.offline.output_bag import register_type

TS = get_typestore(Stores.ROS2_KILTED)
for _name in ("LabelInfo", "Detection2DArray", "Detection3DArray"):  # rosbags lacks vision_msgs
    assert register_type(TS, f"vision_msgs/msg/{_name}") is None
T = TS.types
H, W = 64, 80
SEEDED = ["--weights", "seeded", "--heads", "seeded", "--input-size", "64", "--classes", "floor,door"]
T0 = 1_700_000_000 * 10**9  # log time and stamp of frame 0 (ns)
PERIOD = 100_000_000  # 10 Hz
BAD = 2  # index of the malformed frame in the recordings below


def header(t_ns: int, frame_id: str = "camera"):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9), frame_id=frame_id
    )


def raw_image(rgb, t_ns, bad=False):
    data = rgb.reshape(-1)
    return T["sensor_msgs/msg/Image"](
        header=header(t_ns),
        height=rgb.shape[0],
        width=rgb.shape[1],
        encoding="rgb8",
        is_bigendian=0,
        step=rgb.shape[1] * 3,
        data=data[:-7] if bad else data,
    )


def jpeg_image(rgb, t_ns, bad=False):
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    data = np.frombuffer(b"not a jpeg at all", np.uint8) if bad else jpg.reshape(-1)
    return T["sensor_msgs/msg/CompressedImage"](header=header(t_ns), format="rgb8; jpeg compressed bgr8", data=data)


def depth_image(metres, t_ns):
    mm = np.full((H, W), int(metres * 1000), np.uint16)
    return T["sensor_msgs/msg/Image"](
        header=header(t_ns),
        height=H,
        width=W,
        encoding="16UC1",
        is_bigendian=0,
        step=W * 2,
        data=mm.view(np.uint8).reshape(-1),
    )


def camera_info(t_ns):
    k = np.array([50.0, 0, W / 2, 0, 50.0, H / 2, 0, 0, 1])
    p = np.array([50.0, 0, W / 2, 0, 0, 50.0, H / 2, 0, 0, 0, 1, 0])
    return T["sensor_msgs/msg/CameraInfo"](
        header=header(t_ns),
        height=H,
        width=W,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=k,
        r=np.eye(3).ravel(),
        p=p,
        binning_x=0,
        binning_y=0,
        roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def frames(n):
    return [random_image(H, W, seed=i) for i in range(n)]


def write_bag(path, n=5, storage="mcap", compressed=False, extras=True):
    """n frames at 10 Hz; frame BAD is malformed. With extras: camera_info and depth (depth = 1 + i/10 m)
    logged 30 ms *after* their frame with the frame's stamp, and an unrelated String topic."""
    plugin = StoragePlugin.SQLITE3 if storage == "sqlite3" else StoragePlugin.MCAP
    make = jpeg_image if compressed else raw_image
    msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    with Writer(path, version=9, storage_plugin=plugin) as w:
        cam = w.add_connection("/cam/image", msgtype, typestore=TS)
        if extras:
            info = w.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo", typestore=TS)
            depth = w.add_connection("/cam/depth", "sensor_msgs/msg/Image", typestore=TS)
            chat = w.add_connection("/chatter", "std_msgs/msg/String", typestore=TS)
        for i, rgb in enumerate(frames(n)):
            t = T0 + i * PERIOD
            w.write(cam, t, TS.serialize_cdr(make(rgb, t, bad=i == BAD), msgtype))
            if extras:
                w.write(chat, t + 1, TS.serialize_cdr(T["std_msgs/msg/String"](data=f"hi {i}"), "std_msgs/msg/String"))
                w.write(info, t + 30_000_000, TS.serialize_cdr(camera_info(t), "sensor_msgs/msg/CameraInfo"))
                w.write(depth, t + 30_000_000, TS.serialize_cdr(depth_image(1 + i / 10, t), "sensor_msgs/msg/Image"))
    return path


def read_bag(path):
    """{topic: [(log time, message)]} of a bag (outputs and copies)."""
    out = {}
    with Reader(path) as r:
        for conn, t, raw in r.messages():
            out.setdefault(conn.topic, []).append(
                (t, TS.deserialize_cdr(raw, conn.msgtype) if conn.msgtype in TS.fielddefs else raw)
            )
    return out


def stamp(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, segmenter):  # ov-seg configures the engine it is given: restore it after
    """MCAP raw rgb8 with camera_info, depth, an unrelated topic and a malformed frame; all outputs."""
    saved = {"method": segmenter.method, "input_size": segmenter.input_size or 0, "mode": segmenter.mode}
    tmp = tmp_path_factory.mktemp("full")
    bag = write_bag(tmp / "in", n=5)
    out = tmp / "out"
    code = main(
        [
            str(bag),
            "--topic",
            "/cam/image",
            "--camera-info-topic",
            "/cam/camera_info",
            "--depth-topic",
            "/cam/depth",
            "--overlay",
            "--point-stride",
            "4",
            "--out",
            str(out),
            *SEEDED,
        ],
        segmenter,
    )
    segmenter.configure(**saved)
    return code, out


def test_every_good_frame_has_all_outputs_with_its_header_and_log_time(full_run, capsys):
    code, out = full_run
    assert code == 0
    topics = read_bag(out)
    good = [T0 + i * PERIOD for i in range(5) if i != BAD]
    for name in ("labels", "confidence", "objectness", "overlay", "camera_info", "points"):
        msgs = topics[f"/ov_seg/{name}"]
        assert [t for t, _ in msgs] == good, name
        assert [stamp(m) for _, m in msgs] == good, name
        assert all(m.header.frame_id == "camera" for _, m in msgs)
    labels = topics["/ov_seg/labels"][0][1]
    assert (labels.encoding, labels.height, labels.width) == ("mono16", H, W)
    ids = np.frombuffer(labels.data.tobytes(), "<u2")
    assert set(np.unique(ids)) <= {0, 1, 2}
    assert topics["/ov_seg/confidence"][0][1].encoding == "32FC1"
    assert topics["/ov_seg/overlay"][0][1].encoding == "rgb8"
    assert not any(t.startswith("/cam") or t == "/chatter" for t in topics)  # no --copy-input
    # no --targets / --obstacle-classes: nothing to report on, so not recorded (the node would publish empties)
    assert not {"detections", "instances", "obstacles/points", "detections_3d", "targets/points"} & {
        t.removeprefix("/ov_seg/") for t in topics
    }


def test_label_map_and_label_info_come_before_the_first_labels(full_run):
    _, out = full_run
    topics = read_bag(out)
    ((t_map, label_map),) = topics["/ov_seg/label_map"]
    assert t_map < topics["/ov_seg/labels"][0][0]
    doc = json.loads(label_map.data)
    assert (doc["0"], doc["1"], doc["2"], doc["encoding"]) == ("unlabelled", "floor", "door", "mono16")
    ((t_info, info),) = topics["/ov_seg/label_info"]
    assert t_info == t_map
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "unlabelled"), (1, "floor"), (2, "door")]
    assert info.threshold == 0.0


def test_depth_logged_after_its_frame_is_matched_by_stamp(full_run):
    _, out = full_run
    topics = read_bag(out)
    for t, cloud in topics["/ov_seg/points"]:
        i = (t - T0) // PERIOD
        points = np.frombuffer(cloud.data.tobytes(), POINT_DTYPE)
        assert points.size == (H // 4) * (W // 4)
        assert np.allclose(points["z"], 1 + i / 10), i  # this frame's depth, not the previous one's
    info = topics["/ov_seg/camera_info"][0][1]
    assert (info.width, info.height) == (W, H) and info.k[0] == 50.0


def test_malformed_frame_is_skipped_with_its_reason(tmp_path, engine, capsys):
    bag = write_bag(tmp_path / "in", n=4, extras=False)
    assert main([str(bag), "--out", str(tmp_path / "o"), *SEEDED], engine) == 0
    err = capsys.readouterr().err
    assert "segmenting /cam/image" in err  # the only image topic, chosen and said so
    assert "segmented 3 of 4 frame(s)" in err
    assert "skipped 1 frame(s)" in err and "data has" in err and f"message {BAD}" in err


def test_sqlite3_jpeg_in_sqlite3_out_with_copy_input(tmp_path, engine, capsys):
    write_bag(tmp_path / "in", n=4, storage="sqlite3", compressed=True)
    db3 = next((tmp_path / "in").glob("*.db3"))  # a single storage file is an input too
    out = tmp_path / "o"
    code = main(
        [
            str(db3),
            "--topic",
            "/cam/image",
            "--storage",
            "sqlite3",
            "--copy-input",
            "--batch-size",
            "2",
            "--out",
            str(out),
            *SEEDED,
        ],
        engine,
    )
    assert code == 0
    assert list(out.glob("*.db3")) and not list(out.glob("*.mcap"))
    topics = read_bag(out)
    assert [stamp(m) for _, m in topics["/ov_seg/labels"]] == [T0 + i * PERIOD for i in (0, 1, 3)]
    assert len(topics["/cam/image"]) == 4 and len(topics["/chatter"]) == 4 and len(topics["/cam/depth"]) == 4
    assert "could not be decoded" in capsys.readouterr().err  # the corrupt JPEG


def test_start_end_every_select_frames(tmp_path, engine):
    bag = write_bag(tmp_path / "in", n=8, extras=False)
    out = tmp_path / "o"
    # window [0.1 s, 0.75 s) holds frames 1..7; every 2nd of those: 1, 3, 5, 7 (BAD=2 not among them)
    assert main([str(bag), "--start", "0.1", "--end", "0.75", "--every", "2", "--out", str(out), *SEEDED], engine) == 0
    assert [t for t, _ in read_bag(out)["/ov_seg/labels"]] == [T0 + i * PERIOD for i in (1, 3, 5, 7)]


def test_bag_frame_gives_the_same_labels_as_the_frame_saved_as_png(tmp_path, engine):
    bag = write_bag(tmp_path / "in", n=2, extras=False)
    rgb = frames(1)[0]
    Image.fromarray(rgb).save(tmp_path / "frame.png")
    flags = ["--classes", "floor,door", "--weights", "seeded", "--heads", "seeded"]  # default input size
    assert main([str(tmp_path / "frame.png"), "--out", str(tmp_path / "png"), *flags], engine) == 0
    assert main([str(bag), "--out", str(tmp_path / "bag"), *flags], engine) == 0
    with Image.open(tmp_path / "png" / "frame_labels.png") as im:
        from_png = np.asarray(im).astype(np.uint16)
    msg = read_bag(tmp_path / "bag")["/ov_seg/labels"][0][1]
    from_bag = np.frombuffer(msg.data.tobytes(), "<u2").reshape(H, W)
    assert np.array_equal(from_bag, from_png)


def test_existing_output_is_refused_and_overwrite_replaces_it(tmp_path, engine, capsys):
    bag = write_bag(tmp_path / "in", n=2, extras=False)
    out = tmp_path / "o"
    assert main([str(bag), "--out", str(out), *SEEDED], engine) == 0
    before = sorted(p.name for p in out.iterdir())
    assert main([str(bag), "--out", str(out), "--every", "2", *SEEDED], engine) == 2
    assert "already exists" in capsys.readouterr().err
    assert len(read_bag(out)["/ov_seg/labels"]) == 2 and sorted(p.name for p in out.iterdir()) == before
    assert main([str(bag), "--out", str(out), "--every", "2", "--overwrite", *SEEDED], engine) == 0
    assert len(read_bag(out)["/ov_seg/labels"]) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_clean_errors_name_the_file_or_topic(tmp_path, engine, capsys):
    bag = write_bag(tmp_path / "in", n=1)
    out = tmp_path / "o"
    cases = [
        ([str(tmp_path / "missing.mcap")], "missing.mcap: no such file"),
        ([str(bag), "--topic", "/nope"], "no topic /nope (image topics: /cam/depth (Image), /cam/image (Image))"),
        ([str(bag), "--topic", "/chatter"], "topic /chatter is std_msgs/msg/String, not an image"),
        ([str(bag)], "several image topics; choose one with --topic (image topics: /cam/depth (Image), /cam/image"),
        ([str(bag), "--depth-topic", "/cam/depth"], "--depth-topic needs --camera-info-topic"),
        ([str(bag), "--topic", "/cam/image", "--start", "5"], "no messages on /cam/image between --start 5.0 s"),
        (
            [str(bag), "--topic", "/cam/image", "--camera-info-topic", "/cam/depth"],
            "--camera-info-topic: topic /cam/depth is",
        ),
    ]
    for argv, expected in cases:
        assert main([*argv, "--out", str(out), *SEEDED], engine) == 2, argv
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, err
        assert not out.exists()
    (tmp_path / "garbage.mcap").write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 50)
    assert main([str(tmp_path / "garbage.mcap"), "--out", str(out), *SEEDED], engine) == 2
    assert "garbage.mcap: not a readable rosbag2 recording" in capsys.readouterr().err
    assert not out.exists()


def test_truncated_bag_subprocess_exit_code_and_one_line(tmp_path):
    bag = write_bag(tmp_path / "in", n=3)
    mcap = next(bag.glob("*.mcap"))
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    out = tmp_path / "o"
    proc = subprocess.run(
        [sys.executable, "-m", "ov_seg_ros.offline.cli", str(cut), "--out", str(out), *SEEDED],
        capture_output=True,
        text=True,
        env=ros_env(0),
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cut.mcap" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cut.mcap", "in"]


def test_ctrl_c_leaves_a_readable_bag_of_the_frames_done(tmp_path):
    bag = write_bag(tmp_path / "in", n=300, extras=False)
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ov_seg_ros.offline.cli", str(bag), "--out", str(out), *SEEDED],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ros_env(0),
        cwd=REPO,
    )
    chunks = []  # stderr as it comes: the progress bar counts frames written and skipped (frame BAD)
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stderr.read1(4096), b"")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while not re.search(rb"\b([2-9]|\d\d+)/300\b", b"".join(chunks)) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        interrupt(proc, timeout=30)
    reader.join(10)
    err = b"".join(chunks).decode()
    assert proc.returncode == 130, err
    assert "interrupted after" in err and "Traceback" not in err, err
    done = len(read_bag(out)["/ov_seg/labels"])
    assert 0 < done < 299
    assert not list(tmp_path.glob(".o.*"))


def test_bag_defaults_are_the_node_defaults():
    from ov_seg_ros.offline.cli import parse_args
    from ov_seg_ros.parameters.specs import DEFAULTS

    args = parse_args(["recording.mcap", "--classes", "floor"])
    for name in (
        "depth_tolerance",
        "point_stride",
        "max_depth",
        "overlay_alpha",
        "label_encoding",
        "confidence_encoding",
        "points_layout",
        "targets",
        "obstacle_classes",
        "min_object_pixels",
    ):
        assert getattr(args, name) == DEFAULTS[name], name


def test_values_the_node_refuses_are_refused_with_its_reason(capsys):
    from ov_seg_ros.offline.cli import parse_args

    for argv, reason in (
        (["--targets", "door,sofa"], "targets: ['sofa'] not in the vocabulary"),
        (["--obstacle-classes", "lamp"], "obstacle_classes: ['lamp'] not in the vocabulary"),
        (["--points-layout", "dense"], "points_layout"),
        (["--min-object-pixels", "0"], "min_object_pixels"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            parse_args(["recording.mcap", "--classes", "floor,door", *argv])
        assert exit_info.value.code == 2
        assert reason in capsys.readouterr().err, argv
