"""Pure parameter validators and descriptors (no DDS); README and config/seg.yaml against the specs."""

import re
from pathlib import Path

import pytest
import yaml

from ov_seg_ros.parameters import checks as rules
from ov_seg_ros.parameters import descriptions
from ov_seg_ros.parameters import specs as p


def test_defaults_are_valid():
    assert p.changes_reason(p.DEFAULTS, p.DEFAULTS) is None
    assert set(p.DEFAULTS) >= {
        "vocabulary",
        "background",
        "method",
        "input_size",
        "mode",
        "min_confidence",
        "label_encoding",
        "publish_overlay",
        "overlay_alpha",
        "device",
        "precision",
        "weights",
        "heads",
        "qos_reliability",
        "publish_points",
        "depth_tolerance",
        "max_depth",
        "point_stride",
        "cameras",
    }


@pytest.mark.parametrize(
    "value, names",
    [
        (["floor", "door"], ["floor", "door"]),
        (["  floor ", "door"], ["floor", "door"]),
        ("floor, door,person", ["floor", "door", "person"]),
        (["floor, door"], ["floor", "door"]),
        ("chair", ["chair"]),
        ("[floor, 'door' ]", ["floor", "door"]),
    ],
)
def test_parse_vocabulary_accepts_lists_and_comma_strings(value, names):
    assert rules.parse_vocabulary(value) == (names, None)


@pytest.mark.parametrize(
    "value, words",
    [
        ([], "empty"),
        ("", "empty"),
        ("[ ]", "empty"),
        ("floor,,door", "blank"),
        (["floor", " "], "blank"),
        (["floor", "x" * 300], "longer"),
        (["floor", "door", "floor"], "duplicate"),
        (["Floor", "floor"], "duplicate"),
        ([True, False], "list of strings"),
        (3, "list of strings"),
        (["background", "floor"], "background"),
    ],
)
def test_bad_vocabularies_are_rejected_with_a_reason(value, words):
    reason = p.changes_reason(p.DEFAULTS, {"vocabulary": value})
    assert reason and words in reason


def test_mono8_holds_255_classes():
    names = [f"class {i}" for i in range(256)]
    reason = p.changes_reason(p.DEFAULTS, {"vocabulary": names, "label_encoding": "mono8"})
    assert "mono8" in reason and "255" in reason
    assert p.changes_reason(p.DEFAULTS, {"vocabulary": names[:255], "label_encoding": "mono8"}) is None
    # switching the encoding alone is checked against the current vocabulary too
    current = {**p.DEFAULTS, "vocabulary": names}
    assert "mono8" in p.changes_reason(current, {"label_encoding": "mono8"})


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("method", "deeplab", "clip_dinoiser"),
        ("mode", "tiles", "whole"),
        ("precision", "int4", "fp32"),
        ("label_encoding", "rgb8", "mono16"),
        ("qos_reliability", "sometimes", "auto"),
        ("min_confidence", 1.5, "[0.0, 1.0]"),
        ("min_confidence", -0.1, "[0.0, 1.0]"),
        ("min_confidence", float("nan"), "[0.0, 1.0]"),
        ("overlay_alpha", 2.0, "[0.0, 1.0]"),
        ("input_size", 8, "at least 16"),
        ("input_size", 100000, "input_size"),
        ("input_size", -1, "input_size"),
        ("point_stride", 0, "point_stride"),
        ("max_depth", 0.0, "max_depth"),
        ("depth_tolerance", -1.0, "depth_tolerance"),
        ("publish_overlay", "yes", "bool"),
        ("device", 3, "str"),
        ("cameras", ["front", "front"], "unique"),
        ("cameras", ["front", "/rear"], "relative ROS name"),
        ("cameras", ["front", "rear cam"], "relative ROS name"),
        ("cameras", ["2nd"], "relative ROS name"),
        ("cameras", [""], "relative ROS name"),
        ("cameras", [f"cam{i}" for i in range(17)], "at most 16"),
        ("cameras", 3, "list of strings"),
        ("cameras", "front, front", "unique"),
    ],
)
def test_out_of_range_and_unknown_values_are_rejected(name, value, words):
    reason = p.changes_reason(p.DEFAULTS, {name: value})
    assert reason and words in reason and (name in reason or name == "label_encoding")


@pytest.mark.parametrize(
    "name, value",
    [
        ("method", "maskclip"),
        ("mode", "slide"),
        ("input_size", 0),
        ("input_size", 16),
        ("min_confidence", 1.0),
        ("overlay_alpha", 0.0),
        ("label_encoding", "mono8"),
        ("background", False),
        ("use_sim_time", True),
        ("cameras", ""),
        ("cameras", []),
        ("cameras", ["front", "rear"]),
        ("cameras", "front, rear"),
        ("cameras", ["robot/left", "robot/right_2"]),
    ],
)
def test_good_values_pass(name, value):
    assert p.changes_reason(p.DEFAULTS, {name: value}) is None


def test_descriptors_carry_ranges_and_read_only():
    d = descriptions.descriptor(p.SPEC_BY_NAME["min_confidence"])
    assert d.description and not d.read_only
    assert (d.floating_point_range[0].from_value, d.floating_point_range[0].to_value) == (0.0, 1.0)
    d = descriptions.descriptor(p.SPEC_BY_NAME["input_size"])
    assert d.integer_range[0].to_value == p.MAX_INPUT_SIZE
    for name in ("device", "precision", "weights", "heads", "qos_reliability", "publish_points", "cameras"):
        assert descriptions.descriptor(p.SPEC_BY_NAME[name]).read_only, name
    assert "maskclip" in descriptions.descriptor(p.SPEC_BY_NAME["method"]).description
    assert descriptions.descriptor(p.SPEC_BY_NAME["vocabulary"]).dynamic_typing
    assert descriptions.descriptor(p.SPEC_BY_NAME["cameras"]).dynamic_typing


@pytest.mark.parametrize(
    "value, names",
    [
        ("", []),
        ([], []),
        ("front, rear", ["front", "rear"]),
        (["front", "rear"], ["front", "rear"]),
        ("[left]", ["left"]),
    ],
)
def test_parse_cameras(value, names):
    assert rules.parse_cameras(value) == (names, None)


def test_params_module_does_not_import_rclpy():
    import subprocess
    import sys

    code = (
        "import sys, ov_seg_ros.parameters.specs as p; p.changes_reason(p.DEFAULTS, {}); print('rclpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------- consumer outputs (targets, obstacles, layouts)
@pytest.mark.parametrize("name", ["targets", "obstacle_classes"])
def test_class_lists_must_name_vocabulary_entries(name):
    cfg = {**p.DEFAULTS, "vocabulary": ["floor", "chair", "person"]}
    assert p.changes_reason(cfg, {name: ["chair", "person"]}) is None
    assert p.changes_reason(cfg, {name: "chair, person"}) is None  # one comma-separated string too
    assert p.changes_reason(cfg, {name: []}) is None
    reason = p.changes_reason(cfg, {name: ["chair", "sofa"]})
    assert reason and name in reason and "'sofa'" in reason and "vocabulary" in reason
    assert "list of strings" in p.changes_reason(cfg, {name: [1, 2]})
    assert "blank" in p.changes_reason(cfg, {name: "chair,,person"})


def test_vocabulary_change_without_pruning_is_refused_when_a_list_names_a_removed_class():
    cfg = {**p.DEFAULTS, "vocabulary": ["floor", "chair"], "targets": ["chair"]}
    reason = p.changes_reason(cfg, {"vocabulary": ["floor", "door"]})
    assert reason and "targets" in reason and "chair" in reason


def test_pruned_class_lists_drop_removed_names_so_the_vocabulary_change_is_accepted():
    cfg = {
        **p.DEFAULTS,
        "vocabulary": ["floor", "chair", "person"],
        "targets": ["chair", "person"],
        "obstacle_classes": ["person"],
    }
    change = {"vocabulary": ["floor", "person", "door"]}
    pruned = p.pruned_class_lists(cfg, change)
    assert pruned == {"targets": (["person"], ["chair"])}
    lists = {name: kept for name, (kept, _) in pruned.items()}
    assert p.changes_reason(cfg, {**change, **lists}) is None
    assert p.pruned_class_lists(cfg, {"vocabulary": []}) == {}  # an invalid vocabulary is refused as is
    assert p.pruned_class_lists(cfg, {"min_confidence": 0.5}) == {}


@pytest.mark.parametrize(
    "name, good, bad",
    [
        ("confidence_encoding", "mono8", "16UC1"),
        ("points_layout", "organized", "dense"),
        ("min_object_pixels", 1, 0),
    ],
)
def test_consumer_parameters_are_validated(name, good, bad):
    assert p.changes_reason(p.DEFAULTS, {name: good}) is None
    assert p.changes_reason(p.DEFAULTS, {name: bad})


# ------------------------------------------------- the other places that list the parameters
REPO = Path(__file__).resolve().parents[1]


def same_value(spec: p.ParamSpec, value) -> bool:
    """A documented value is the default; name lists compare as parsed ("" and [] are both none)."""
    if spec.dynamic_typing and value != spec.default:
        return rules.parse_names(value, spec.name) == rules.parse_names(spec.default, spec.name)
    return value == spec.default and type(value) is type(spec.default)


def readme_parameter_rows():
    """(names, default cells, runtime) of README's "### Parameters" table; a row may group names."""
    text = (REPO / "README.md").read_text().split("### Parameters", 1)[1].split("\n#", 1)[0]
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| `")]
    for cells in rows:
        names = re.findall(r"`([^`]+)`", cells[0])
        yield names, re.findall(r"`([^`]*)`", cells[1])[: len(names)], cells[2].strip()


def test_readme_table_lists_exactly_the_specs_with_their_defaults():
    documented = []
    for names, defaults, runtime in readme_parameter_rows():
        assert len(defaults) == len(names), names
        for name, text in zip(names, defaults, strict=True):
            spec = p.SPEC_BY_NAME.get(name)
            assert spec is not None, f"README documents {name}, which is no parameter"
            assert same_value(spec, yaml.safe_load(text)), f"README: {name} default {text}, spec {spec.default!r}"
            assert runtime == ("read-only" if spec.read_only else "yes"), name
        documented += names
    assert sorted(documented) == sorted(p.DEFAULTS)


def test_seg_yaml_sets_every_parameter_to_its_default():
    values = yaml.safe_load((REPO / "config" / "seg.yaml").read_text())["/**"]["ros__parameters"]
    assert sorted(values) == sorted(p.DEFAULTS)
    for name, value in values.items():
        assert same_value(p.SPEC_BY_NAME[name], value), f"seg.yaml: {name}: {value!r}, spec {p.DEFAULTS[name]!r}"
        assert value != [], f"seg.yaml: {name}: an empty YAML list has no type in a ROS params file; use ''"


def test_an_empty_list_from_a_params_file_is_an_empty_list():
    # rclpy hands `targets: []` in a --params-file over as an unset parameter (None)
    assert p.changes_reason(p.DEFAULTS, {"targets": None, "obstacle_classes": None, "cameras": None}) is None
    assert "empty" in p.changes_reason(p.DEFAULTS, {"vocabulary": None})
