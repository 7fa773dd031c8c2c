"""ov-seg on many recordings (ov_seg_ros/offline/fleet*.py, ray_workers.py): outputs equal to single-bag
runs, serially and on a local Ray cluster with two workers; a corrupt recording fails alone; reruns skip
finished outputs untouched (before torch or Ray is imported), refuse other options, redo with
--overwrite; a killed driver or a killed worker leaves no partial output in place and the work completes.

Ray runs on a cluster started here with address="local", a short RAY_TMPDIR and a small object store,
and its processes are ended by pid (never `ray stop`: it ends every Ray cluster on the machine)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import psutil
import pytest
from conftest import REPO, ros_env
from rosbags.rosbag2 import Reader
from test_bag import SEEDED, TS, stamp, write_bag

from ov_seg_ros.offline.cli import main
from ov_seg_ros.offline.fleet_jobs import RECORD

GOOD_FRAMES = 2  # write_bag(n=3): frame BAD=2 is malformed and skipped


def raw_topics(path):
    """{topic: [(log time, raw CDR bytes)]}: equal only if every message is byte for byte the same."""
    out = {}
    with Reader(path) as r:
        for conn, t, raw in r.messages():
            out.setdefault(conn.topic, []).append((t, bytes(raw)))
    return out


def assert_same_outputs(path, expected):
    """The messages of two runs of one recording are the same, except what may differ between runs:
    label_map's vocabulary version (a new process writes 1; the tests' shared engine counts every
    vocabulary set on it) and the last bits of float images (how many decoded frames are ready decides
    the batch, and the batch size the order of float sums)."""
    got = comparable(path)
    assert sorted(got) == sorted(expected)
    for topic, messages in got.items():
        assert [t for t, _ in messages] == [t for t, _ in expected[topic]], topic
        for (_, mine), (_, theirs) in zip(messages, expected[topic], strict=True):
            if topic in ("/ov_seg/confidence", "/ov_seg/objectness"):
                assert mine[:-1] == theirs[:-1], topic
                assert np.allclose(mine[-1], theirs[-1], atol=1e-4), (topic, np.abs(mine[-1] - theirs[-1]).max())
            else:
                assert mine == theirs, topic


def comparable(path):
    topics = raw_topics(path)
    topics["/ov_seg/label_map"] = [(t, label_map(raw)) for t, raw in topics["/ov_seg/label_map"]]
    for _, doc in topics["/ov_seg/label_map"]:
        assert doc.pop("version") >= 1
    for name in ("/ov_seg/confidence", "/ov_seg/objectness"):
        topics[name] = [(t, float_image(raw)) for t, raw in topics[name]]
    return topics


def float_image(raw):
    msg = TS.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    assert msg.encoding == "32FC1"
    return (stamp(msg), msg.header.frame_id, msg.height, msg.width, np.frombuffer(msg.data.tobytes(), "<f4"))


def label_map(raw):
    return json.loads(raw[8:].rstrip(b"\x00").decode())  # CDR: encapsulation, length, text, NUL


def manifest(out):
    return {os.path.basename(line["input"]): line for line in map(json.loads, (out / "manifest.jsonl").open())}


def hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def files_and_mtimes(folder):
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A folder of recordings: a bag folder (MCAP), a single .db3 file, and a corrupt .mcap."""
    tmp = tmp_path_factory.mktemp("recs")
    recs = tmp / "recs"
    recs.mkdir()
    write_bag(recs / "alpha", n=3, extras=False)
    write_bag(tmp / "beta", n=3, storage="sqlite3", extras=False)
    shutil.copy(next((tmp / "beta").glob("*.db3")), recs / "beta.db3")
    (recs / "gamma.mcap").write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 50)
    return recs


@pytest.fixture(scope="module")
def single_runs(recordings, tmp_path_factory, segmenter):
    """What `ov-seg BAG --out X` writes for each good recording."""
    saved = segmenter.method, segmenter.input_size, segmenter.mode
    tmp = tmp_path_factory.mktemp("single")
    runs = {}
    for name in ("alpha", "beta.db3"):
        assert main([str(recordings / name), "--out", str(tmp / name), *SEEDED], segmenter) == 0
        runs[name] = comparable(tmp / name)
    segmenter.method, segmenter.input_size, segmenter.mode = saved
    return runs


def check_outputs(out, single_runs):
    lines = manifest(out)
    assert set(lines) == {"alpha", "beta.db3", "gamma.mcap"}
    for name, expected in single_runs.items():
        line = lines[name]
        assert (line["status"], line["frames"], line["error"]) == ("done", GOOD_FRAMES, ""), line
        output = out / (name.split(".")[0] + "_ov_seg")
        assert line["output"] == str(output)
        assert_same_outputs(output, expected)
        record = json.loads((output / RECORD).read_text())
        assert record["frames"] == GOOD_FRAMES and record["options"]["classes"] == "floor,door"
    assert lines["gamma.mcap"]["status"] == "failed"
    assert "not a readable rosbag2 recording" in lines["gamma.mcap"]["error"]
    assert not (out / "gamma_ov_seg").exists()
    assert hidden(out) == []  # no staging folder left


def test_serial_outputs_equal_single_runs_and_a_corrupt_one_fails_alone(recordings, single_runs, tmp_path, engine):
    out = tmp_path / "out"
    assert main([str(recordings), "--out", str(out), *SEEDED], engine) == 1
    check_outputs(out, single_runs)


def test_rerun_skips_untouched_refuses_other_options_and_overwrite_redoes(recordings, tmp_path, engine, capsys):
    out = tmp_path / "out"
    inputs = [str(recordings / "alpha"), str(recordings / "beta.db3")]
    assert main([*inputs, "--out", str(out), *SEEDED], engine) == 0
    before = files_and_mtimes(out / "alpha_ov_seg") | files_and_mtimes(out / "beta_ov_seg")
    capsys.readouterr()

    # The rerun, in a fresh process: skips decided without importing torch or ray; execution-only
    # flags (--batch-size) are not part of the options.
    code = (
        "import sys; from ov_seg_ros.offline.cli import main; "
        f"rc = main({[*inputs, '--out', str(out), '--batch-size', '2', *SEEDED]!r}); "
        "print(rc, 'torch' in sys.modules, 'ray' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ros_env(0), cwd=REPO)
    assert done.stdout.split() == ["0", "False", "False"], done.stderr
    assert "2 recording(s): 0 done, 2 skipped, 0 failed" in done.stderr
    assert {line["status"] for line in manifest(out).values()} == {"skipped"}
    assert [line["frames"] for line in manifest(out).values()] == [GOOD_FRAMES, GOOD_FRAMES]
    assert files_and_mtimes(out / "alpha_ov_seg") | files_and_mtimes(out / "beta_ov_seg") == before

    # Other options: refused with one line, exit 2, nothing touched.
    assert main([*inputs, "--out", str(out), *SEEDED, "--classes", "floor,wall"], engine) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "made with other options" in err[0] and "--classes: 'floor,door' there" in err[0], err
    assert files_and_mtimes(out / "alpha_ov_seg") | files_and_mtimes(out / "beta_ov_seg") == before

    # --overwrite redoes them with the new options.
    assert main([*inputs, "--out", str(out), *SEEDED, "--classes", "floor,wall", "--overwrite"], engine) == 0
    assert {line["status"] for line in manifest(out).values()} == {"done"}
    for name in ("alpha_ov_seg", "beta_ov_seg"):
        assert label_map(raw_topics(out / name)["/ov_seg/label_map"][0][1])["2"] == "wall"
        assert json.loads((out / name / RECORD).read_text())["options"]["classes"] == "floor,wall"
    assert hidden(out) == []


def test_setup_problems_are_one_line_before_anything_runs(recordings, tmp_path, engine, capsys):
    out = tmp_path / "out"
    cases = [
        ([str(recordings / "alpha"), str(recordings / "beta.db3")], "several recordings need --out DIR"),
        ([str(recordings), str(tmp_path / "nope.mcap"), "--out", str(out)], "nope.mcap: no such file or folder"),
        ([str(recordings / "alpha"), str(recordings / "alpha"), "--out", str(out)], "would both write"),
        ([str(recordings / "alpha"), "--ray", "--out", str(out)], "need several recordings"),
        ([str(recordings), "--workers", "2", "--out", str(out)], "add --ray"),
    ]
    for argv, expected in cases:
        assert main([*argv, *SEEDED], engine) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
        assert not out.exists()


def test_driver_killed_mid_run_then_rerun_completes(tmp_path, engine):
    recs, out = tmp_path / "recs", tmp_path / "out"
    recs.mkdir()
    for name in ("a", "b", "c"):
        write_bag(recs / name, n=20, extras=False)
    argv = [sys.executable, "-m", "ov_seg_ros.offline.cli", str(recs), "--out", str(out), *SEEDED]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ros_env(0), cwd=REPO)
    try:
        deadline = time.monotonic() + 600  # the model load alone takes minutes on a busy 2-core machine
        while not list(out.glob(".b_ov_seg.*.fleet/.b_ov_seg.*.partial")) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the second recording's frame loop has started
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    outputs = [out / f"{n}_ov_seg" for n in "abc"]
    assert outputs[0].is_dir() and not outputs[2].exists()  # killed in the second recording
    assert all((o / RECORD).is_file() for o in outputs if o.exists())  # nothing half-written in place
    assert hidden(out)  # the killed run's staging folder, cleaned by the rerun
    assert main([str(recs), "--out", str(out), *SEEDED], engine) == 0
    lines = manifest(out)
    assert lines["a"]["status"] == "skipped" and lines["c"]["status"] == "done"
    assert [lines[n]["frames"] for n in "abc"] == [19, 19, 19]
    assert hidden(out) == []


# ---- Ray ----------------------------------------------------------------------------------------------


def ray_processes():
    return [p for p in psutil.Process().children(recursive=True) if p.is_running()]


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of this test process: what `--ray local` would start, joined by ov-seg."""
    import ray

    tmp = tempfile.mkdtemp(prefix="rf", dir="/tmp")  # Ray's socket paths must stay under 107 bytes
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_TMPDIR", tmp)
        ray.init(address="local", num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False)
        try:
            yield ray
        finally:
            ray.shutdown()
            for proc in ray_processes():  # whatever outlived shutdown, by pid
                proc.kill()
            shutil.rmtree(tmp, ignore_errors=True)


def test_ray_two_workers_outputs_equal_single_runs(ray_cluster, recordings, single_runs, tmp_path):
    out = tmp_path / "out"
    assert main([str(recordings), "--out", str(out), "--ray", "local", "--workers", "2", *SEEDED]) == 1
    check_outputs(out, single_runs)


def test_ray_worker_killed_mid_recording_is_retried_and_completes(ray_cluster, tmp_path):
    recs, out = tmp_path / "recs", tmp_path / "out"
    recs.mkdir()
    for name in ("a", "b"):
        write_bag(recs / name, n=60, extras=False)
    codes = []
    argv = [str(recs), "--out", str(out), "--ray", "--workers", "1", *SEEDED]
    driver = threading.Thread(target=lambda: codes.append(main(argv)))
    driver.start()
    deadline = time.monotonic() + 600  # Ray's start and the model load take minutes on a busy 2-core machine
    while not list(out.glob(".a_ov_seg.*.fleet/.a_ov_seg.*.partial")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the worker is in the first recording's frame loop
    workers = [p for p in ray_processes() if " ".join(p.cmdline()).startswith("ray::FleetWorker.segment")]
    assert len(workers) == 1, [p.cmdline()[:1] for p in ray_processes()]
    workers[0].kill()
    driver.join(timeout=900)
    assert codes == [0]
    lines = manifest(out)
    assert [(lines[n]["status"], lines[n]["frames"]) for n in "ab"] == [("done", 59), ("done", 59)]
    assert len(raw_topics(out / "a_ov_seg")["/ov_seg/labels"]) == 59
    # one vocabulary per worker process, set once: each output's label_map is a new process's first
    assert [label_map(raw_topics(out / f"{n}_ov_seg")["/ov_seg/label_map"][0][1])["version"] for n in "ab"] == [1, 1]
    assert hidden(out) == []
