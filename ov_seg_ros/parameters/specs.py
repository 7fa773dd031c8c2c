"""The node's parameters, one typed table every front-end uses: the node declares them with descriptors
built from it, seg.launch.py takes its override arguments from it, `ov-seg` its defaults, and README /
config/seg.yaml are tested against it. Validation is one generic path: the spec's type, choices and range,
then its own check (`param_checks`), then the rules that combine parameters.

No rclpy here; `rcl_interfaces` is imported only when descriptors are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..engine.backends.support import BACKEND_NAMES
from ..engine.options import MAX_LONG_SIDE, METHODS, MODES, PATCH, PRECISION_NAMES, REFINES
from . import checks as rules
from .checks import CLASS_LISTS, LABEL_ENCODINGS, RELIABILITY_SETTINGS, Check, Reason

PRECISIONS = PRECISION_NAMES
IMAGE_TRANSPORTS = ("raw", "compressed")
DEPTH_TRANSPORTS = ("raw", "compressedDepth")
MIN_INPUT_SIZE, MAX_INPUT_SIZE = PATCH, MAX_LONG_SIDE
DEFAULT_VOCABULARY = ("floor", "wall", "door", "person", "chair", "table")
CONFIDENCE_ENCODINGS = ("32FC1", "mono8")
POINTS_LAYOUTS = ("sparse", "organized")


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
    dynamic_typing: bool = False  # any type on the wire; `check` parses it
    check: Optional[Check] = None  # its own rule, after type / choices / range: (name, value) -> reason
    launch: bool = False  # an argument of seg.launch.py ('' = as in the params file)

    @property
    def yaml_valued(self) -> bool:
        """Launch argument text is parsed as YAML (lists, booleans), not taken as a string."""
        return self.dynamic_typing or not isinstance(self.default, str)


SPECS: Tuple[ParamSpec, ...] = (
    ParamSpec(
        "vocabulary",
        list(DEFAULT_VOCABULARY),
        "Class names to segment (string array, or one comma-separated string). Changing it "
        "re-encodes only new names off the executor thread and republishes ~/label_map.",
        dynamic_typing=True,
        check=rules.check_vocabulary,
        launch=True,
    ),
    ParamSpec(
        "background",
        True,
        "Add a 'background' class (label 0) decided by the objectness head; without it, and for methods "
        "without that head, label 0 means below min_confidence ('unlabelled' / 'background').",
    ),
    ParamSpec(
        "method",
        "clip_dinoiser",
        "clip_dinoiser (needs its heads) or plain maskclip on LAION CLIP; the training-free naclip, "
        "clearclip or sclip on OpenAI CLIP. A switch to another backbone is refused: restart with it.",
        choices=METHODS,
    ),
    ParamSpec("refine", "none", "Post-processing: none, or pamr (NACLIP's mask refinement).", choices=REFINES),
    ParamSpec(
        "input_size",
        448,
        f"Shorter image side fed to the network in pixels ({MIN_INPUT_SIZE}..{MAX_INPUT_SIZE}); "
        "0 = the image's native size. Outputs are always at the input image's size.",
        int_range=(0, MAX_INPUT_SIZE),
        check=rules.check_engine_input_size,
    ),
    ParamSpec(
        "mode", "whole", "Whole image, or the method's sliding windows (448 px; naclip, sclip 224).", choices=MODES
    ),
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
    ParamSpec("device", "cpu", "Torch device: cpu, cuda, cuda:0, ...", read_only=True, launch=True),
    ParamSpec(
        "precision",
        "fp32",
        "Network precision (the backend decides which: see README 'Backends').",
        read_only=True,
        choices=PRECISIONS,
        launch=True,
    ),
    ParamSpec(
        "backend",
        "torch",
        "What runs the image pass: torch, onnxruntime / openvino (CPU), tensorrt (cuda); compiled once per "
        "input shape into $XDG_CACHE_HOME/ov_seg_ros/engines.",
        read_only=True,
        choices=BACKEND_NAMES,
        launch=True,
    ),
    ParamSpec("calibration", "", "Image folder calibrating int8 ('' = demo frames).", read_only=True),
    ParamSpec(
        "weights",
        "",
        "OpenCLIP tag, checkpoint file or 'seeded' (untrained); '' = the method's own (openai or laion2b_s34b_b88k).",
        read_only=True,
        launch=True,
    ),
    ParamSpec(
        "heads",
        "",
        "CLIP-DINOiser head checkpoint file; '' = default location, 'seeded' = untrained.",
        read_only=True,
        launch=True,
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
        check=rules.check_cameras,
        launch=True,
    ),
    ParamSpec(
        "qos_reliability",
        "auto",
        "Reliability of the input subscriptions. auto: reliable when every publisher on the topic is "
        "reliable, else best effort, re-checked every second as publishers come and go; best_effort "
        "or reliable fix it.",
        read_only=True,
        choices=RELIABILITY_SETTINGS,
        launch=True,
    ),
    ParamSpec(
        "image_transport",
        "raw",
        "How camera images arrive: 'raw' sensor_msgs/Image on image, or 'compressed' "
        "sensor_msgs/CompressedImage (JPEG or PNG) on image/compressed, the image topic after "
        "remapping plus '/compressed' as image_transport names it.",
        read_only=True,
        choices=IMAGE_TRANSPORTS,
        launch=True,
    ),
    ParamSpec(
        "depth_transport",
        "raw",
        "How depth images arrive (publish_points): 'raw' sensor_msgs/Image on depth, or "
        "'compressedDepth' (compressed_depth_image_transport's PNG, 16UC1 or 32FC1) on "
        "depth/compressedDepth, the depth topic after remapping plus '/compressedDepth'.",
        read_only=True,
        choices=DEPTH_TRANSPORTS,
        launch=True,
    ),
    ParamSpec(
        "publish_points",
        False,
        "Subscribe to 'depth' (16UC1 mm or 32FC1 m, registered to the image) and 'camera_info' "
        "and publish a labelled PointCloud2 on ~/points.",
        read_only=True,
        launch=True,
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
        check=rules.check_class_list,
    ),
    ParamSpec(
        "targets",
        [],
        "Vocabulary names whose connected regions are objects: ~/detections, ~/instances, and with "
        "depth ~/detections_3d and ~/targets/points.",
        dynamic_typing=True,
        check=rules.check_class_list,
    ),
    ParamSpec(
        "min_object_pixels",
        200,
        "Smallest object (8-connected pixels of one target class).",
        int_range=(1, 100_000_000),
    ),
    ParamSpec(
        "autostart",
        True,
        "Configure and activate the lifecycle node by itself at start (true), or wait unconfigured for a "
        "lifecycle manager (ros2 lifecycle set, Nav2's lifecycle_manager).",
        read_only=True,
        launch=True,
    ),
)
SPEC_BY_NAME: Dict[str, ParamSpec] = {s.name: s for s in SPECS}
DEFAULTS: Dict[str, Any] = {s.name: s.default for s in SPECS}
LAUNCH_SPECS: Tuple[ParamSpec, ...] = tuple(s for s in SPECS if s.launch)


def value_reason(name: str, value: Any) -> Reason:
    """Why one parameter value is unacceptable on its own, or None: its type, choices or range from the
    spec (dynamically typed ones are parsed by their check instead), then the spec's own check."""
    spec = SPEC_BY_NAME.get(name)
    if spec is None:
        return None  # not ours (e.g. use_sim_time): rclpy checks it
    return _spec_reason(spec, value) or (spec.check(name, value) if spec.check else None)


def _spec_reason(spec: ParamSpec, value: Any) -> Reason:
    if spec.dynamic_typing:
        return None
    if spec.choices:
        return rules.choice_reason(spec.name, value, spec.choices)
    if spec.float_range is not None:
        return rules.range_reason(spec.name, value, *spec.float_range)
    if spec.int_range is not None:
        return rules.type_reason(spec.name, value, int) or rules.range_reason(spec.name, value, *spec.int_range)
    return rules.type_reason(spec.name, value, type(spec.default))


def changes_reason(current: Mapping[str, Any], changes: Mapping[str, Any]) -> Reason:
    """Why applying `changes` on top of `current` is unacceptable, or None (checks combinations too)."""
    for name, value in changes.items():
        reason = value_reason(name, value)
        if reason:
            return reason
    merged = {**current, **changes}
    if {"vocabulary", "label_encoding", "background"} & set(changes):
        names, reason = rules.parse_vocabulary(merged["vocabulary"])
        reason = reason or rules.vocabulary_reason(names, merged["label_encoding"], merged["background"])
        if reason:
            return reason
    if {"backend", "precision", "device", "method"} & set(changes):
        reason = rules.backend_reason(merged)
        if reason:
            return reason
    if {"vocabulary", *CLASS_LISTS} & set(changes):
        return rules.class_lists_reason(merged)
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
    vocabulary = set(rules.parse_vocabulary(merged["vocabulary"])[0] or [])
    pruned = {}
    for name in CLASS_LISTS:
        names = rules.class_names(merged, name)
        dropped = [n for n in names if n not in vocabulary]
        if dropped:
            pruned[name] = ([n for n in names if n in vocabulary], dropped)
    return pruned
