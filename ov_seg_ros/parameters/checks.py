"""Parameter value rules, pure: name lists (vocabulary, cameras, class lists) parsed from a string array
or one comma-separated string, and checks returning a reason string (rejected) or None (accepted).

The spec table (`params`) names these checks per parameter; vocabulary rules are the engine's own
(`vocabulary.vocabulary_error`). No ROS and no torch here.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..engine.backends.support import combination_error
from ..engine.options import check_input_size
from ..engine.vocabulary import vocabulary_error

# Image QoS: `auto` follows the publishers (ov_seg_ros.node.image_link holds that rule).
RELIABILITY_SETTINGS = ("auto", "best_effort", "reliable")

# Label id 0 is background/unlabelled, so an encoding holding N ids carries N - 1 classes.
LABEL_ENCODINGS: Dict[str, int] = {"mono16": 65535, "mono8": 255}
CLASS_LISTS = ("obstacle_classes", "targets")  # class names that must be in the vocabulary
MAX_CAMERAS = 16
CAMERA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*")

Reason = Optional[str]
Check = Callable[[str, Any], Reason]  # (parameter name, value) -> reason or None


def parse_names(value: Any, what: str = "vocabulary") -> Tuple[Optional[List[str]], Reason]:
    """A list of names from a string array, or one comma-separated string ("floor, door"), also
    bracketed ("[floor, door]": what a launch file passes when it does not parse YAML). None is an empty
    list: what a params file's `targets: []` reaches the node as (an empty YAML list has no type)."""
    if value is None:
        return [], None
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


def engine_reason(check: Any, value: Any) -> Reason:
    """The engine's own check (one rule for engine and node), as a reason instead of an exception."""
    try:
        check(value)
    except ValueError as e:
        return str(e)
    return None


# ------------------------------------------------------- per-parameter checks (ParamSpec.check)
def check_vocabulary(name: str, value: Any) -> Reason:
    """Parsable and usable on its own (mono16); the label_encoding/background combination is checked
    with the other parameters."""
    names, reason = parse_names(value, name)
    return reason or vocabulary_reason(names, "mono16")


def check_cameras(name: str, value: Any) -> Reason:
    return parse_cameras(value)[1]


def check_class_list(name: str, value: Any) -> Reason:
    """A list of class names without blanks; whether they are in the vocabulary is `class_lists_reason`."""
    names, reason = parse_names(value, name)
    return reason or (f"{name} has a blank name" if any(not n for n in names) else None)


def check_engine_input_size(name: str, value: Any) -> Reason:
    return engine_reason(check_input_size, value)


def backend_reason(cfg: Mapping[str, Any]) -> Reason:
    """Backend x precision x device x method: the engine's own rule (it raises the same reason)."""
    return combination_error(cfg["backend"], cfg["precision"], cfg["device"], cfg["method"])


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
