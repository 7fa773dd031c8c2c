"""The node's parameters: one table of specs, descriptors built from it, and pure validators.

Validators take plain Python values and return a reason string (rejected) or None (accepted), so they
are unit-tested without ROS; vocabulary rules are the engine's own (`vocabulary.vocabulary_error`).
No rclpy here; `rcl_interfaces` is imported only when descriptors are built.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .engine_options import MAX_LONG_SIDE, METHODS, MODES, PATCH, PRECISION_NAMES, check_input_size
from .image_link import RELIABILITY_SETTINGS
from .vocabulary import vocabulary_error

PRECISIONS = PRECISION_NAMES
IMAGE_TRANSPORTS = ("raw", "compressed")
DEPTH_TRANSPORTS = ("raw", "compressedDepth")
# Label id 0 is background/unlabelled, so an encoding holding N ids carries N - 1 classes.
LABEL_ENCODINGS: Dict[str, int] = {"mono16": 65535, "mono8": 255}
MIN_INPUT_SIZE, MAX_INPUT_SIZE = PATCH, MAX_LONG_SIDE
DEFAULT_VOCABULARY = ("floor", "wall", "door", "person", "chair", "table")
CONFIDENCE_ENCODINGS = ("32FC1", "mono8")
POINTS_LAYOUTS = ("sparse", "organized")
CLASS_LISTS = ("obstacle_classes", "targets")  # class names that must be in the vocabulary
MAX_CAMERAS = 16
CAMERA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*")

Reason = Optional[str]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default, description, optional range, whether it may change at runtime."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    float_range: Optional[Tuple[float, float]] = None
    int_range: Optional[Tuple[int, int]] = None
    choices: Tuple[str, ...] = ()
    dynamic_typing: bool = False


def parse_names(value: Any, what: str = "vocabulary") -> Tuple[Optional[List[str]], Reason]:
    """A list of names from a string array, or one comma-separated string ("floor, door"), also
    bracketed ("[floor, door]": what a launch file passes when it does not parse YAML)."""
    if isinstance(value, str):
        if value.strip().startswith("[") and value.strip().endswith("]"):  # YAML list kept as a string
            value = value.strip()[1:-1]
        value = [v.strip().strip("'\"") for v in value.split(",")] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        if any(not isinstance(v, str) for v in value):
            return None, (
                f"{what} must be a list of strings (got "
                f"{type(value[0]).__name__} values; quote names such as 'on' or 'yes')"
            )
        if len(value) == 1 and "," in value[0]:
            value = value[0].split(",")
    else:
        return None, f"{what} must be a list of strings, got {type(value).__name__}"
    return [v.strip() for v in value], None


def vocabulary_reason(names: Sequence[str], label_encoding: str = "mono16", background: bool = True) -> Reason:
    """Why these class names cannot be used with this label encoding, or None."""
    capacity = LABEL_ENCODINGS.get(label_encoding)
    if capacity is not None and len(names) > capacity:
        return (
            f"vocabulary has {len(names)} classes but label_encoding {label_encoding!r} "
            f"holds at most {capacity}; use mono16"
        )
    return vocabulary_error(list(names), background)  # the engine's own rules, one source of truth


def parse_vocabulary(value: Any) -> Tuple[Optional[List[str]], Reason]:
    return parse_names(value, "vocabulary")


def parse_cameras(value: Any) -> Tuple[Optional[List[str]], Reason]:
    """Camera names; none ("" or []) means one camera on the node's plain topic names."""
    names, reason = parse_names(value, "cameras")
    return names, reason or (cameras_reason(names) if names is not None else None)


def cameras_reason(value: Sequence[str]) -> Reason:
    """Camera names become topic prefixes (`front/image`, `~/front/labels`): ROS name tokens, unique."""
    if len(value) > MAX_CAMERAS:
        return f"cameras holds at most {MAX_CAMERAS} names; got {len(value)}"
    for name in value:
        if not CAMERA_NAME.fullmatch(name):
            return (
                f"cameras: {name!r} is not a relative ROS name (letters, digits, '_', '/' between "
                "tokens, starting with a letter)"
            )
    if len(set(value)) != len(value):
        return f"cameras must be unique; got {list(value)}"
    return None


def choice_reason(name: str, value: Any, choices: Sequence[str]) -> Reason:
    if value not in choices:
        return f"{name} must be one of {', '.join(choices)}; got {value!r}"
    return None


def range_reason(name: str, value: Any, low: float, high: float) -> Reason:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} must be a number, got {type(value).__name__}"
    if not math.isfinite(value) or not low <= value <= high:
        return f"{name} must be in [{low}, {high}]; got {value}"
    return None


def type_reason(name: str, value: Any, kind: type) -> Reason:
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    return None if ok else f"{name} must be a {kind.__name__}, got {type(value).__name__}"


SPECS: Tuple[ParamSpec, ...] = (
    ParamSpec(
        "vocabulary",
        list(DEFAULT_VOCABULARY),
        "Class names to segment (string array, or one comma-separated string). Changing it "
        "re-encodes only new names off the executor thread and republishes ~/label_map.",
        dynamic_typing=True,
    ),
    ParamSpec(
        "background",
        True,
        "Add a 'background' class (label 0) decided by the objectness head; without it label 0 "
        "means 'unlabelled' (below min_confidence).",
    ),
    ParamSpec(
        "method",
        "clip_dinoiser",
        "clip_dinoiser (MaskCLIP features pooled by the learned correlation, background from "
        "objectness) or plain maskclip.",
        choices=METHODS,
    ),
    ParamSpec(
        "input_size",
        448,
        f"Shorter image side fed to the network in pixels ({MIN_INPUT_SIZE}..{MAX_INPUT_SIZE}); "
        "0 = the image's native size. Outputs are always at the input image's size.",
        int_range=(0, MAX_INPUT_SIZE),
    ),
    ParamSpec("mode", "whole", "Inference over the whole image, or 448 px sliding windows.", choices=MODES),
    ParamSpec(
        "min_confidence", 0.0, "Pixels whose class probability is below this get label 0.", float_range=(0.0, 1.0)
    ),
    ParamSpec(
        "label_encoding",
        "mono16",
        "Encoding of ~/labels (mono8 holds at most 255 classes).",
        choices=tuple(LABEL_ENCODINGS),
    ),
    ParamSpec("publish_overlay", True, "Publish the rgb8 colour overlay on ~/overlay."),
    ParamSpec("overlay_alpha", 0.5, "Opacity of label colours in ~/overlay.", float_range=(0.0, 1.0)),
    ParamSpec("device", "cpu", "Torch device: cpu, cuda, cuda:0, ...", read_only=True),
    ParamSpec("precision", "fp32", "Network precision.", read_only=True, choices=PRECISIONS),
    ParamSpec(
        "weights",
        "laion2b_s34b_b88k",
        "OpenCLIP pretrained tag, a local checkpoint file, or 'seeded' (untrained, for tests).",
        read_only=True,
    ),
    ParamSpec(
        "heads", "", "CLIP-DINOiser head checkpoint file; '' = default location, 'seeded' = untrained.", read_only=True
    ),
    ParamSpec(
        "cameras",
        "",
        "Names of the cameras this node serves with one model, e.g. [front, rear] (string array or "
        "one comma-separated string): camera c reads c/image (c/camera_info, c/depth) and publishes "
        "~/c/labels etc.; frames of cameras that wait together share one forward pass. Empty: one "
        "camera on image, ~/labels.",
        read_only=True,
        dynamic_typing=True,
    ),
    ParamSpec(
        "qos_reliability",
        "auto",
        "Reliability of the input subscriptions. auto: reliable when every publisher on the topic is "
        "reliable, else best effort, re-checked every second as publishers come and go; best_effort "
        "or reliable fix it.",
        read_only=True,
        choices=RELIABILITY_SETTINGS,
    ),
    ParamSpec(
        "image_transport",
        "raw",
        "How camera images arrive: 'raw' sensor_msgs/Image on image, or 'compressed' "
        "sensor_msgs/CompressedImage (JPEG or PNG) on image/compressed, the image topic after "
        "remapping plus '/compressed' as image_transport names it.",
        read_only=True,
        choices=IMAGE_TRANSPORTS,
    ),
    ParamSpec(
        "depth_transport",
        "raw",
        "How depth images arrive (publish_points): 'raw' sensor_msgs/Image on depth, or "
        "'compressedDepth' (compressed_depth_image_transport's PNG, 16UC1 or 32FC1) on "
        "depth/compressedDepth, the depth topic after remapping plus '/compressedDepth'.",
        read_only=True,
        choices=DEPTH_TRANSPORTS,
    ),
    ParamSpec(
        "publish_points",
        False,
        "Subscribe to 'depth' (16UC1 mm or 32FC1 m, registered to the image) and 'camera_info' "
        "and publish a labelled PointCloud2 on ~/points.",
        read_only=True,
    ),
    ParamSpec(
        "depth_tolerance", 0.05, "Largest stamp difference (s) between image and depth.", float_range=(0.0, 10.0)
    ),
    ParamSpec("max_depth", 10.0, "Depth beyond this (m) is left out of ~/points.", float_range=(0.01, 1000.0)),
    ParamSpec(
        "point_stride",
        2,
        "Use every n-th pixel in each direction for ~/points (sparse layout) and ~/obstacles/points.",
        int_range=(1, 64),
    ),
    ParamSpec(
        "confidence_encoding",
        "32FC1",
        "Encoding of ~/confidence: 32FC1 probabilities, or mono8 round(p*255) (Nav2's semantic_segmentation_layer).",
        choices=CONFIDENCE_ENCODINGS,
    ),
    ParamSpec(
        "points_layout",
        "sparse",
        "~/points as the valid points on the point_stride grid (sparse), or organised: height x width "
        "of ~/labels, row-major, NaN x/y/z where depth is invalid (point_stride does not apply).",
        choices=POINTS_LAYOUTS,
    ),
    ParamSpec(
        "obstacle_classes",
        [],
        "Vocabulary names published as obstacles on ~/obstacles/points (x y z, the point_stride grid, "
        "empty when none is seen so a costmap clears).",
        dynamic_typing=True,
    ),
    ParamSpec(
        "targets",
        [],
        "Vocabulary names whose connected regions are objects: ~/detections, ~/instances, and with "
        "depth ~/detections_3d and ~/targets/points.",
        dynamic_typing=True,
    ),
    ParamSpec(
        "min_object_pixels",
        200,
        "Smallest object (8-connected pixels of one target class).",
        int_range=(1, 100_000_000),
    ),
)
SPEC_BY_NAME: Dict[str, ParamSpec] = {s.name: s for s in SPECS}
DEFAULTS: Dict[str, Any] = {s.name: s.default for s in SPECS}


def _engine_reason(check: Any, value: Any) -> Reason:
    """The engine's own check (one rule for engine and node), as a reason instead of an exception."""
    try:
        check(value)
    except ValueError as e:
        return str(e)
    return None


def value_reason(name: str, value: Any) -> Reason:
    """Why one parameter value is unacceptable on its own, or None."""
    spec = SPEC_BY_NAME.get(name)
    if spec is None:
        return None  # not ours (e.g. use_sim_time): rclpy checks it
    if name == "vocabulary":
        names, reason = parse_vocabulary(value)
        return reason or vocabulary_reason(names, "mono16")
    if name == "cameras":
        return parse_cameras(value)[1]
    if name in CLASS_LISTS:
        names, reason = parse_names(value, name)
        return reason or (f"{name} has a blank name" if any(not n for n in names) else None)
    if spec.choices:
        return choice_reason(name, value, spec.choices)
    if spec.float_range is not None:
        return range_reason(name, value, *spec.float_range)
    if spec.int_range is not None:
        reason = type_reason(name, value, int) or range_reason(name, value, *spec.int_range)
        if reason is None and name == "input_size":
            reason = _engine_reason(check_input_size, value)
        return reason
    return type_reason(name, value, type(spec.default))


def changes_reason(current: Mapping[str, Any], changes: Mapping[str, Any]) -> Reason:
    """Why applying `changes` on top of `current` is unacceptable, or None (checks combinations too)."""
    for name, value in changes.items():
        reason = value_reason(name, value)
        if reason:
            return reason
    merged = {**current, **changes}
    if {"vocabulary", "label_encoding", "background"} & set(changes):
        names, reason = parse_vocabulary(merged["vocabulary"])
        reason = reason or vocabulary_reason(names, merged["label_encoding"], merged["background"])
        if reason:
            return reason
    if {"vocabulary", *CLASS_LISTS} & set(changes):
        return class_lists_reason(merged)
    return None


def class_names(cfg: Mapping[str, Any], name: str) -> List[str]:
    """The names of a class list parameter (targets, obstacle_classes), once each, in order."""
    names, _ = parse_names(cfg[name], name)
    return list(dict.fromkeys(n.strip() for n in names or []))


def class_lists_reason(cfg: Mapping[str, Any]) -> Reason:
    """targets and obstacle_classes must name vocabulary entries: a typo would silently match nothing."""
    vocabulary = set(parse_vocabulary(cfg["vocabulary"])[0] or [])
    for name in CLASS_LISTS:
        unknown = [n for n in class_names(cfg, name) if n not in vocabulary]
        if unknown:
            return f"{name}: {unknown} not in the vocabulary {sorted(vocabulary)}"
    return None


def pruned_class_lists(
    current: Mapping[str, Any], changes: Mapping[str, Any]
) -> Dict[str, Tuple[List[str], List[str]]]:
    """A vocabulary change removing names that targets / obstacle_classes hold: {list: (kept, dropped)},
    so the node can set the lists together with the vocabulary (an operator's vocabulary edit never
    fails because of a downstream list). Empty when the vocabulary is not changed or is invalid."""
    if "vocabulary" not in changes or value_reason("vocabulary", changes["vocabulary"]):
        return {}
    merged = {**current, **changes}
    vocabulary = set(parse_vocabulary(merged["vocabulary"])[0] or [])
    pruned = {}
    for name in CLASS_LISTS:
        names = class_names(merged, name)
        dropped = [n for n in names if n not in vocabulary]
        if dropped:
            pruned[name] = ([n for n in names if n in vocabulary], dropped)
    return pruned


def descriptor(spec: ParamSpec) -> Any:
    """rcl_interfaces ParameterDescriptor for a spec (imported here so validators stay ROS-free)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    text = spec.description
    if spec.choices:
        text += f" One of: {', '.join(spec.choices)}."
    d = ParameterDescriptor(
        name=spec.name, description=text, read_only=spec.read_only, dynamic_typing=spec.dynamic_typing
    )
    if spec.float_range is not None:
        d.floating_point_range = [
            FloatingPointRange(from_value=float(spec.float_range[0]), to_value=float(spec.float_range[1]), step=0.0)
        ]
    if spec.int_range is not None:
        d.integer_range = [IntegerRange(from_value=spec.int_range[0], to_value=spec.int_range[1], step=0)]
    return d
