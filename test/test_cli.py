"""ov-seg over real files with seeded weights: outputs per good image, errors per bad one, exit codes."""

import json

import numpy as np
import pytest
from PIL import Image

from ov_seg_ros.messages.visualize import class_color
from ov_seg_ros.offline.cli import main
from ov_seg_ros.offline.image_files import output_stems

SEEDED = ["--weights", "seeded", "--heads", "seeded", "--input-size", "64"]


def _image(path, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    out = tmp_path_factory.mktemp("out")
    _image(src / "one.png", 1)
    _image(src / "two.jpg", 2)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (src / "notes.txt").write_text("not an image, not an input")
    code = main([str(src), "--classes", "floor, door", "--out", str(out), *SEEDED])
    return code, src, out


def test_folder_with_a_corrupt_file_exits_1_and_writes_the_good_ones(folder_run):
    code, _, out = folder_run
    assert code == 1
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"{stem}_{kind}"
        for stem in ("one", "two")
        for kind in ("labels.png", "overlay.png", "objectness.png", "labels.json")
    )


def test_label_png_is_16_bit_with_the_node_ids(folder_run):
    _, _, out = folder_run
    with Image.open(out / "one_labels.png") as im:
        assert im.mode in ("I;16", "I") and im.size == (64, 64)
        labels = np.asarray(im)
    assert set(np.unique(labels)) <= {0, 1, 2}


def test_label_map_json_names_ids_and_colours(folder_run):
    _, src, out = folder_run
    meta = json.loads((out / "two_labels.json").read_text())
    assert meta["0"] == "unlabelled"  # no --background
    assert meta["1"] == "floor" and meta["colors"]["1"] == list(class_color("floor"))
    assert meta["2"] == "door" and meta["encoding"] == "mono16"
    assert meta["seeded_weights"] is True and meta["image"] == str(src / "two.jpg")


def test_overlay_and_objectness_are_rgb_at_image_size(folder_run):
    _, _, out = folder_run
    for kind in ("overlay", "objectness"):
        with Image.open(out / f"one_{kind}.png") as im:
            assert im.mode == "RGB" and im.size == (64, 64)


def test_single_file_with_background_exits_0(tmp_path):
    _image(tmp_path / "x.png", 3)
    code = main([str(tmp_path / "x.png"), "--classes", "person", "--background", "--out", str(tmp_path / "o"), *SEEDED])
    assert code == 0
    meta = json.loads((tmp_path / "o" / "x_labels.json").read_text())
    assert meta["0"] == "background" and meta["1"] == "person"


def test_corrupt_error_names_the_file(tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"garbage")
    code = main([str(tmp_path / "bad.png"), "--classes", "floor", "--out", str(tmp_path / "o"), *SEEDED])
    assert code == 1
    assert "bad.png: cannot read image" in capsys.readouterr().err


def test_missing_input_and_missing_heads_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), "--classes", "floor", *SEEDED]) == 2
    assert "no such file" in capsys.readouterr().err
    _image(tmp_path / "x.png", 4)
    code = main(
        [
            str(tmp_path / "x.png"),
            "--classes",
            "floor",
            "--weights",
            "seeded",
            "--heads",
            str(tmp_path / "missing_last.pt"),
        ]
    )
    assert code == 2
    assert "last.pt" in capsys.readouterr().err


def test_empty_folder_exits_2(tmp_path, capsys):
    assert main([str(tmp_path), "--classes", "floor", *SEEDED]) == 2
    assert "no image files" in capsys.readouterr().err


def test_output_stems_disambiguate_same_stem():
    from pathlib import Path

    stems = output_stems([Path("a.png"), Path("a.jpg"), Path("b.png")])
    assert stems == {Path("a.png"): "a_png", Path("a.jpg"): "a_jpg", Path("b.png"): "b"}


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--input-size", "8"], "at least 16"),
        (["--method", "yolo"], "clip_dinoiser"),
        (["--min-confidence", "1.5"], "[0.0, 1.0]"),
        (["--point-stride", "0"], "point_stride"),
        (["--classes", "Cup,cup"], "duplicate"),
    ],
)
def test_options_are_checked_by_the_node_parameter_rules(argv, words, capsys):
    """ov-seg refuses what the node's parameter service refuses, with the same reason, before loading anything."""
    from ov_seg_ros.offline.cli import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["frame.png", "--classes", "floor", *argv])
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err
