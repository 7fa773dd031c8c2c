"""ov-seg's image files: which inputs a path names, their output names, reading them, and writing the
four files of one segmented image (labels PNG, overlay PNG, objectness PNG when the method has it, label
map JSON)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..engine.options import has_objectness
from ..messages.visualize import SEEDED_BANNER, label_map_document, objectness_to_rgb, render_overlay

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def list_images(path: Path) -> List[Path]:
    """A file as given (whatever its suffix), or a folder's image files in name order."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return [path]


def output_stems(images: Sequence[Path]) -> Dict[Path, str]:
    """Output name per image: its stem, or stem_suffix when two inputs share a stem (a.png, a.jpg)."""
    stems = [p.stem for p in images]
    return {p: p.stem if stems.count(p.stem) == 1 else f"{p.stem}_{p.suffix.lstrip('.')}" for p in images}


def read_rgb(path: Path) -> np.ndarray:
    """HxWx3 uint8; raises ValueError with the reason for missing, truncated or non-image files."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"cannot read image: {exc}") from exc


def write_outputs(
    result, rgb: np.ndarray, out: Path, stem: str, image: Path, args: argparse.Namespace, seeded: bool
) -> None:
    """The four files of one image; ids and colours as the node publishes them."""
    labels = result.label_image(args.min_confidence)
    label_map = result.vocabulary.label_map()
    Image.fromarray(labels).save(out / f"{stem}_labels.png")
    overlay = render_overlay(rgb, labels, label_map, banner=SEEDED_BANNER if seeded else None)
    Image.fromarray(overlay).save(out / f"{stem}_overlay.png")
    if has_objectness(args.method):  # the training-free methods have no objectness head
        Image.fromarray(objectness_to_rgb(result.objectness_image)).save(out / f"{stem}_objectness.png")
    meta = label_map_document(
        label_map,
        result.vocabulary.version,
        encoding="mono16",
        image=str(image),
        weights=args.weights,
        heads=args.heads,
        seeded_weights=seeded,
    )
    (out / f"{stem}_labels.json").write_text(json.dumps(meta, indent=2) + "\n")
