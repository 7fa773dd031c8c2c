"""The layers of ov_seg_ros import only downwards (engine < parameters < messages < node | offline),
and the ROS shell's and the front-ends' modules load no torch, so parameter validation, message
conversion and `ov-seg --help` stay fast and the engine loads once.

The rules are read from every module's source (function-local imports too), so a forbidden import
fails here even on a code path no other test runs; `test_rules_catch_*` prove the checker can fail.
"""

import subprocess
import sys
from typing import List

import pytest

from tools.layer_graph import LAYERS, PACKAGE, imported_modules, mermaid, package_modules

DOCS = PACKAGE.parent / "docs" / "architecture.md"
TORCH = ("torch", "torchvision", "open_clip")
ROS = (
    "rclpy",
    "rosbags",
    "sensor_msgs",
    "std_msgs",
    "vision_msgs",
    "diagnostic_msgs",
    "rcl_interfaces",
)  # the engine uses none
# engine modules that load torch when imported: the torch-free layers may use the others
ENGINE_TORCH = ("model", "clip_layout", "text", "weights", "segmenter", "methods")

# layer -> (external top-level packages it must not import, ov_seg_ros layers it must not import)
FORBIDDEN = {
    "engine": (ROS, ("parameters", "messages", "node", "offline")),
    "parameters": (TORCH + ("rclpy", "rosbags"), ("messages", "node", "offline")),
    "messages": (TORCH + ("rclpy", "rosbags"), ("node", "offline")),
    "node": ((), ("offline",)),
    "offline": ((), ("node",)),
}


def violations(layer: str, module: str, source: str) -> List[str]:
    external, layers = FORBIDDEN[layer]
    found = []
    for name in imported_modules(source, module):
        parts = name.split(".")
        if parts[0] in external:
            found.append(f"{module} imports {name}")
        if parts[0] == "ov_seg_ros" and len(parts) > 1 and parts[1] in layers:
            found.append(f"{module} imports {name} (layer {parts[1]})")
        torch_free = layer in ("parameters", "messages")
        if torch_free and parts[:2] == ["ov_seg_ros", "engine"] and len(parts) > 2 and parts[2] in ENGINE_TORCH:
            found.append(f"{module} imports {name}, which loads torch")
    return found


def test_every_module_is_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"modules outside the layer packages: {loose}"


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_downwards(layer):
    found = []
    for mod_layer, module, path in package_modules():
        if mod_layer == layer:
            found += violations(layer, module, path.read_text())
    assert found == []


def test_architecture_document_draws_todays_layers():
    """docs/architecture.md's diagram is `python tools/layer_graph.py`'s output for today's code."""
    assert mermaid() in DOCS.read_text(), "regenerate the diagram: python tools/layer_graph.py"


def test_rules_catch_an_engine_module_importing_rclpy():
    source = "import numpy\n\ndef f():\n    from rclpy.node import Node\n"
    assert violations("engine", "ov_seg_ros.engine.model", source) == ["ov_seg_ros.engine.model imports rclpy.node"]


def test_rules_catch_upward_and_sideways_imports():
    assert violations("messages", "ov_seg_ros.messages.convert", "from ..node import ov_seg_node\n")
    assert violations("messages", "ov_seg_ros.messages.convert", "from ..engine.segmenter import Segmenter\n")
    assert violations("offline", "ov_seg_ros.offline.cli", "from ov_seg_ros.node.frames import Throttle\n")
    assert violations("parameters", "ov_seg_ros.parameters.specs", "import torch\n")
    assert violations("engine", "ov_seg_ros.engine.text", "from ..engine.vocabulary import Vocabulary\n") == []


TORCH_FREE = [
    "parameters.specs",
    "parameters.checks",
    "parameters.descriptions",
    "offline.options",
    "messages.convert",
    "messages.pointcloud",
    "messages.visualize",
    "messages.outputs",
    "messages.frame_data",
    "messages.objects",
    "messages.depth",
    "engine.segmentation",
    "engine.options",
    "engine.vocabulary",
    "engine.auto_weights",
    "node.camera_io",
    "node.image_link",
    "node.diagnostics",
    "offline.cli",
    "offline.image_files",
    "offline.input_bag",
    "offline.output_bag",
    "offline.plan",
    "offline.decode",
    "offline.outputs",
    "offline.node_config",
    "offline.segment_bag",
    "offline.fleet",
    "offline.fleet_jobs",
]


def loaded_after_import(module: str, watched: tuple) -> str:
    code = f"import sys, ov_seg_ros.{module}; print([m for m in {watched!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
    return done.stdout.strip()


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_loads_no_torch(module):
    assert loaded_after_import(module, ("torch", "open_clip", "ov_seg_ros.engine.segmenter")) == "[]"


def test_engine_loads_no_ros():
    assert loaded_after_import("engine.segmenter", ("rclpy", "rosbags", "sensor_msgs")) == "[]"
