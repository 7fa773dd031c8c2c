"""The node's parameters of an `ov-seg` run: the options that share a name with a node parameter (they are
made from its spec) plus the few that `ov-seg` names its own way (--classes, --overlay, --depth-topic).

A recording's outputs are built from this one dictionary by the node's own output table, so a frame
segmented by `ov-seg` with the same values is the frame the node would publish. Validated by the node's
rules (`changes_reason`), so a combination the node refuses (a target that is not in the vocabulary,
mono8 labels for 300 classes) is refused here too, before anything is read or loaded.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, Optional

from ..parameters.checks import parse_vocabulary
from ..parameters.specs import DEFAULTS, changes_reason


def node_config(args: argparse.Namespace) -> Dict[str, Any]:
    """The node's parameter values that `args` stands for (DEFAULTS for the rest)."""
    cfg = {name: getattr(args, name) for name in DEFAULTS if hasattr(args, name)}
    cfg["vocabulary"] = parse_vocabulary(args.classes)[0]
    cfg["publish_overlay"] = bool(getattr(args, "overlay", False))  # the node's default is on; a file's is off
    cfg["publish_points"] = bool(getattr(args, "depth_topic", None))
    return {**DEFAULTS, **cfg}


def config_reason(args: argparse.Namespace) -> Optional[str]:
    """Why the node would refuse these values together, or None."""
    return changes_reason(DEFAULTS, node_config(args))
