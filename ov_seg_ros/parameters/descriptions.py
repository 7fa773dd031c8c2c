"""How a parameter spec is shown to each front-end: the description with its choices (`ov-seg --help`,
`ros2 param describe`), seg.launch.py's arguments, and the rcl_interfaces descriptor the node declares
with (ranges and read-only included), all from the one spec table in `specs`."""

from __future__ import annotations

from typing import Any, List, Tuple

from .specs import LAUNCH_SPECS, ParamSpec


def describe(spec: ParamSpec) -> str:
    """The spec's description with its choices, as `ros2 param describe` and `ros2 launch --show-args` show it."""
    return spec.description + (f" One of: {', '.join(spec.choices)}." if spec.choices else "")


def launch_arguments() -> List[Tuple[str, str]]:
    """seg.launch.py's parameter arguments: (name, description); '' keeps the params file's value."""
    return [(spec.name, f"{describe(spec)} '' = params file.") for spec in LAUNCH_SPECS]


def descriptor(spec: ParamSpec) -> Any:
    """rcl_interfaces ParameterDescriptor for a spec (imported here so validators stay ROS-free)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    d = ParameterDescriptor(
        name=spec.name, description=describe(spec), read_only=spec.read_only, dynamic_typing=spec.dynamic_typing
    )
    if spec.float_range is not None:
        d.floating_point_range = [
            FloatingPointRange(from_value=float(spec.float_range[0]), to_value=float(spec.float_range[1]), step=0.0)
        ]
    if spec.int_range is not None:
        d.integer_range = [IntegerRange(from_value=spec.int_range[0], to_value=spec.int_range[1], step=0)]
    return d
