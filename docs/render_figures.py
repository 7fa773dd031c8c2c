#!/usr/bin/env python3
"""Render the README figures from the bundled demo: overlay, objectness and a point-cloud view.

    python docs/render_figures.py [--weights seeded --heads seeded] [--frame 2]

Writes docs/img/{overlay,objectness,points}.png (palette PNGs, a few hundred kB in all). The checked-in
figures were made with SEEDED (untrained) weights, because trained ones cannot be downloaded where they
were rendered: they show the pipeline and its outputs, not segmentation quality, and every figure says
so. Re-run with --weights auto (or a tag/file) on a machine with the weights cached for real masks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Tuple

import numpy as np
import yaml
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
from ov_seg_ros import Segmenter
from ov_seg_ros.engine.auto_weights import resolve_auto_weights
from ov_seg_ros.messages.depth import metres_from_depth
from ov_seg_ros.messages.pointcloud import semantic_points, unpack_rgb
from ov_seg_ros.messages.visualize import SEEDED_BANNER, draw_banner, load_font, objectness_to_rgb, render_overlay

ROOT = Path(__file__).resolve().parents[1]
VOCABULARY = ["floor", "wall", "door", "box"]
VIEW_SIZE = (640, 480)


def load_demo(frame: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    demo = ROOT / "demo"
    rgb = np.asarray(Image.open(demo / f"frame_{frame:02d}.png").convert("RGB"))
    depth = metres_from_depth(np.asarray(Image.open(demo / f"depth_{frame:02d}.png")), "16UC1")
    k = np.array(yaml.safe_load((demo / "camera_info.yaml").read_text())["camera_matrix"]["data"])
    return rgb, depth, k.reshape(3, 3)


def caption(image: np.ndarray, text: str, seeded: bool) -> Image.Image:
    """A title line on top and, for seeded weights, the same red banner the node draws."""
    im = Image.fromarray(image).convert("RGBA")
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = load_font(16)
    draw.rectangle([0, 0, im.width, 24], fill=(0, 0, 0, 170))
    draw.text((6, 3), text, font=font, fill=(255, 255, 255, 255))
    if seeded:
        draw_banner(draw, SEEDED_BANNER, im.size, 16)
    return Image.alpha_composite(im, layer).convert("RGB")


def colour_bar(image: np.ndarray) -> np.ndarray:
    """Objectness image with a 0..1 viridis bar on its right edge."""
    h = image.shape[0]
    bar = objectness_to_rgb(np.repeat(np.linspace(1, 0, h - 80, dtype=np.float32)[:, None], 16, axis=1))
    out = image.copy()
    out[40 : h - 40, -30:-14] = bar
    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    font = load_font(13)
    draw.text((image.shape[1] - 44, 26), "1", font=font, fill=(255, 255, 255))
    draw.text((image.shape[1] - 44, h - 54), "0", font=font, fill=(255, 255, 255))
    return np.asarray(im)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rows: right, down, forward of a virtual camera (optical convention)."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def render_points(points: np.ndarray) -> np.ndarray:
    """Oblique view of the cloud from above-right-behind the camera, far points drawn first."""
    xyz = np.stack([points["x"], points["y"], points["z"]], axis=1)
    eye, target = np.array([3.0, -3.2, -1.5]), np.array([0.0, 0.3, 3.0])
    cam = (xyz - eye) @ look_at(eye, target, up=np.array([0.0, -1.0, 0.0])).T
    w, h = VIEW_SIZE
    f = 0.9 * w
    keep = cam[:, 2] > 0.1
    cam, colours = cam[keep], unpack_rgb(points["rgb"][keep])
    u = np.round(f * cam[:, 0] / cam[:, 2] + w / 2).astype(int)
    v = np.round(f * cam[:, 1] / cam[:, 2] + h / 2).astype(int)
    order = np.argsort(-cam[:, 2])  # painter's algorithm: nearest written last
    canvas = np.full((h, w, 3), 24, np.uint8)
    for du in (0, 1):  # 2x2 splats so a stride-2 cloud has no holes
        for dv in (0, 1):
            uu, vv = u[order] + du, v[order] + dv
            ok = (uu >= 0) & (uu < w) & (vv >= 0) & (vv < h)
            canvas[vv[ok], uu[ok]] = colours[order][ok]
    origin = look_at(eye, target, np.array([0.0, -1.0, 0.0])) @ (np.zeros(3) - eye)
    ou, ov = f * origin[0] / origin[2] + w / 2, f * origin[1] / origin[2] + h / 2
    im = Image.fromarray(canvas)
    ImageDraw.Draw(im).ellipse([ou - 5, ov - 5, ou + 5, ov + 5], outline=(255, 255, 255), width=2)
    return np.asarray(im)


def save(image: Image.Image, name: str) -> None:
    path = ROOT / "docs" / "img" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} kB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="seeded")
    parser.add_argument("--heads", default="seeded")
    parser.add_argument("--frame", type=int, default=2)
    args = parser.parse_args()
    weights, heads, seeded = resolve_auto_weights(args.weights, args.heads)
    rgb, depth, k = load_demo(args.frame)
    segmenter = Segmenter(weights=weights, heads=heads, device="cpu", input_size=448)
    vocab = segmenter.set_vocabulary(VOCABULARY, background=True)
    result = segmenter.segment(rgb)
    labels = result.label_image()
    label_map = vocab.label_map()
    tag = "seeded weights" if seeded else f"weights {weights}"
    save(
        Image.fromarray(render_overlay(rgb, labels, label_map, banner=SEEDED_BANNER if seeded else None)), "overlay.png"
    )
    save(
        caption(colour_bar(objectness_to_rgb(result.objectness_image)), f"~/objectness ({tag})", seeded),
        "objectness.png",
    )
    points = semantic_points(
        depth,
        k[0, 0],
        k[1, 1],
        k[0, 2],
        k[1, 2],
        labels,
        result.confidence,
        result.objectness_image,
        label_map,
        stride=2,
    )
    view = render_points(points)
    save(caption(view, f"~/points, stride 2: {len(points)} points, class colours ({tag})", seeded), "points.png")


if __name__ == "__main__":
    main()
