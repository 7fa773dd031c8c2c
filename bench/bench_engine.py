#!/usr/bin/env python3
"""Engine benchmark: frames/s, latency percentiles and peak memory per size, method, mode and refine
(every method, each on an engine for its own backbone);
the single pass against the reference implementation's code path; vocabulary switch time.

    python bench/bench_engine.py                     # CPU, seeded weights, tables + bench/results/engine.json
    python bench/bench_engine.py --device cuda --precision fp16 --iters 200

Seeded weights have the real architecture and cost, so timings hold for trained weights too.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_methods import METHOD_HEADER, bench_methods, engines, format_method_row
from ov_seg_ros import Segmenter
from ov_seg_ros.engine.segmenter import PRECISIONS

SIZES = [(448, 448), (480, 640), (720, 1280)]
VOCABULARY = ["floor", "wall", "door", "table", "chair", "person"]
NEW_CLASSES = ["mug", "bottle", "keyboard", "monitor", "plant", "sofa", "lamp", "window", "shelf", "box"]


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call by torch's own counter, plus the CPU flash-attention kernel it does not know."""
    from torch.utils import flop_counter

    def cpu_sdpa(query, key, value, *args, **kwargs):  # shapes, by torch's shape_wrapper
        return flop_counter.sdpa_flop_count(query, key, value)

    op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    with flop_counter.FlopCounterMode(display=False, custom_mapping={op: cpu_sdpa}) as counter:
        with torch.inference_mode():
            fn()
    return float(counter.get_total_flops())


def matmul_peak(device: torch.device, precision: str, size: int = 2048, iters: int = 10) -> float:
    """FLOP/s of the fastest of `iters` large square matmuls at `precision`: the compute-bound limit
    of this machine (the fastest, because a shared machine's load only ever slows a run down)."""
    a = torch.randn(size, size, device=device, dtype=PRECISIONS[precision])
    times = time_calls(lambda: a @ a, iters, 2, device)
    return 2 * size**3 / float(times.min())


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_calls(fn: Callable[[], object], iters: int, warmup: int, device: torch.device) -> np.ndarray:
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return np.asarray(times)


def summarize(times: np.ndarray) -> Dict[str, float]:
    return {
        "fps": float(1.0 / times.mean()),
        "p50_ms": float(np.percentile(times, 50) * 1e3),
        "p95_ms": float(np.percentile(times, 95) * 1e3),
        "iters": int(len(times)),
    }


def bench_configs(seg: Segmenter, args: argparse.Namespace) -> List[Dict]:
    """Every method × mode × refine per size (bench_methods.py), each on an engine for its backbone."""
    rng = np.random.default_rng(0)
    per_method = engines(seg, args.weights, args.heads)
    print(METHOD_HEADER + (" {:>9}".format("CUDA MiB") if seg.device.type == "cuda" else ""))
    rows = []
    for height, width in args.sizes:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        run = (time_calls, summarize, args.iters, args.warmup)
        for row in bench_methods(per_method, image, args.input_size, VOCABULARY, *run):
            rows.append(row)
            print(format_method_row(row), flush=True)
    seg.configure(method="clip_dinoiser", mode="whole")
    return rows


def bench_batches(seg: Segmenter, args: argparse.Namespace) -> List[Dict]:
    """Frames/s when `segment_batch` gets several same-size frames (cameras, or a recording offline)."""
    height, width = args.sizes[min(1, len(args.sizes) - 1)]
    rng = np.random.default_rng(1)
    rows = []
    for batch in args.batches:
        images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(batch)]
        times = time_calls(lambda images=images: seg.segment_batch(images), args.iters, args.warmup, seg.device)
        rows.append(
            {
                "size": f"{height}x{width}",
                "batch": batch,
                "fps": float(batch / times.mean()),
                "p50_ms_per_batch": float(np.percentile(times, 50) * 1e3),
            }
        )
        print(
            f"batch {batch:3d} x {height}x{width}: {rows[-1]['fps']:8.2f} frames/s "
            f"({rows[-1]['p50_ms_per_batch']:.1f} ms per batch p50)",
            flush=True,
        )
    return rows


def bench_against_reference(seg: Segmenter, args: argparse.Namespace) -> Dict:
    """Same 448×448 input, same weights, fp32: the upstream-style pass vs ours, alternating, outputs compared."""
    from bench.reference_impl import ReferencePath
    from ov_seg_ros.engine.weights import load_heads

    reference = ReferencePath(seg.network.visual, load_heads(args.heads))
    for module in (reference.obj_proj, reference.bkg_decoder):
        module.to(seg.device)
    image = np.random.default_rng(1).integers(0, 256, (448, 448, 3), dtype=np.uint8)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(seg.device)
    vocab = seg.vocabulary
    seg.configure(method="clip_dinoiser", mode="whole", input_size=0)

    def ours():
        with torch.inference_mode():
            return seg.predict(x, vocab)[0]

    def theirs():
        return reference(x.cpu() if seg.device.type == "cpu" else x, vocab.embeddings, True)["probs"]

    ref_times, our_times, peaks = [], [], []
    for _ in range(args.warmup):
        ours(), theirs()
    for _ in range(args.ref_iters):  # interleaved so load changes hit both (and the peak) alike
        ref_times.append(time_calls(theirs, 1, 0, seg.device)[0])
        our_times.append(time_calls(ours, 1, 0, seg.device)[0])
        peaks.append(matmul_peak(seg.device, "fp32", iters=3))
    difference = float((ours()[0] - theirs()).abs().max())
    result = {
        "reference": summarize(np.asarray(ref_times)),
        "single_pass": summarize(np.asarray(our_times)),
        "max_abs_prob_difference": difference,
    }
    result["speedup_p50"] = result["reference"]["p50_ms"] / result["single_pass"]["p50_ms"]
    result["compute"] = compute_bound(
        count_flops(ours), count_flops(theirs), min(our_times), min(ref_times), max(peaks)
    )
    seg.configure(input_size=args.input_size)
    return result


def compute_bound(our_flops: float, ref_flops: float, our_s: float, ref_s: float, peak: float) -> Dict:
    """How close each pass runs to the machine's matmul peak, and the speed-up that peak allows.
    Fastest times against the fastest peak: all measured while the machine was least loaded."""
    return {
        "single_pass_gflop": our_flops / 1e9,
        "reference_gflop": ref_flops / 1e9,
        "matmul_peak_gflops": peak / 1e9,
        "single_pass_of_peak": our_flops / our_s / peak,
        "reference_of_peak": ref_flops / ref_s / peak,
        "speedup_at_peak": ref_s / (our_flops / peak),
    }


def print_versus(versus: Dict) -> None:
    c = versus["compute"]
    print(
        f"448x448 network pass, reference code path: p50 {versus['reference']['p50_ms']:.1f} ms; "
        f"single pass: p50 {versus['single_pass']['p50_ms']:.1f} ms; speed-up {versus['speedup_p50']:.2f}x; "
        f"max |probs difference| {versus['max_abs_prob_difference']:.1e}"
    )
    print(
        f"work per frame: reference {c['reference_gflop']:.1f} GFLOP, single pass {c['single_pass_gflop']:.1f} "
        f"GFLOP ({c['reference_gflop'] / c['single_pass_gflop']:.2f}x less); fp32 matmul peak "
        f"{c['matmul_peak_gflops']:.0f} GFLOP/s; fastest runs: reference at {c['reference_of_peak']:.0%} of it, "
        f"single pass at {c['single_pass_of_peak']:.0%}; at 100% the single pass would be "
        f"{c['speedup_at_peak']:.2f}x the fastest reference run"
    )


def bench_vocabulary_switch(seg: Segmenter) -> Dict:
    synchronize(seg.device)
    start = time.perf_counter()
    seg.set_vocabulary(NEW_CLASSES, background=True)
    synchronize(seg.device)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    seg.set_vocabulary(list(reversed(NEW_CLASSES)), background=True)
    warm = time.perf_counter() - start
    return {
        "new_classes": len(NEW_CLASSES),
        "switch_ms": cold * 1e3,
        "cached_switch_ms": warm * 1e3,
        **bench_text_context(seg),
    }


def bench_text_context(seg: Segmenter, names=("saucer", "kettle", "ladder", "pillow")) -> Dict:
    """Encoding only the used context vs the full 77 tokens (OpenCLIP encode_text, as upstream)."""
    import open_clip

    from bench.reference_impl import reference_text_embeddings

    start = time.perf_counter()
    ours = seg.text.embeddings(list(names))
    truncated = time.perf_counter() - start
    start = time.perf_counter()
    full = reference_text_embeddings(seg.text._clip, open_clip.get_tokenizer("ViT-B-16"), list(names))
    full_context = time.perf_counter() - start
    return {
        "text_names": len(names),
        "text_truncated_ms": truncated * 1e3,
        "text_full_context_ms": full_context * 1e3,
        "text_max_abs_difference": float((ours.to(full.device) - full).abs().max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=list(PRECISIONS))
    parser.add_argument("--weights", default="seeded")
    parser.add_argument("--heads", default="seeded")
    parser.add_argument("--input-size", type=int, default=448, help="short side the network sees (0 = native)")
    parser.add_argument(
        "--sizes",
        type=lambda t: [tuple(int(v) for v in s.split("x")) for s in t.split(",")],
        default=SIZES,
        help="HxW,HxW,... (default 448x448,480x640,720x1280)",
    )
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--ref-iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--batches",
        type=lambda t: [int(v) for v in t.split(",")],
        default=[1, 4],
        help="segment_batch sizes timed on the second size (default 1,4; GPU: 1,4,8,16)",
    )
    parser.add_argument("--methods-only", action="store_true", help="only the per-method table")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "engine.json"))
    args = parser.parse_args()

    seg = Segmenter(
        weights=args.weights, heads=args.heads, device=args.device, precision=args.precision, input_size=args.input_size
    )
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if seg.device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "precision": args.precision,
        "input_size": args.input_size,
    }
    print(f"# {machine}")
    if args.methods_only:  # the method × mode × refine table alone (a busy machine, a quick look)
        seg.set_vocabulary(VOCABULARY, background=True)
        rows = bench_configs(seg, args)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"machine": machine, "configs": rows}, indent=2))
        return
    switch = bench_vocabulary_switch(seg)
    print(
        f"vocabulary switch to {switch['new_classes']} new classes: {switch['switch_ms']:.0f} ms "
        f"(all cached: {switch['cached_switch_ms']:.1f} ms)"
    )
    print(
        f"text encoding of {switch['text_names']} names: {switch['text_truncated_ms']:.0f} ms with the "
        f"used context only, {switch['text_full_context_ms']:.0f} ms with all 77 tokens "
        f"({switch['text_full_context_ms'] / switch['text_truncated_ms']:.1f}x; max |difference| "
        f"{switch['text_max_abs_difference']:.1e})"
    )
    seg.set_vocabulary(VOCABULARY, background=True)
    rows = bench_configs(seg, args)
    batches = bench_batches(seg, args)
    versus = bench_against_reference(seg, args)
    print_versus(versus)
    headline = ("448x448", "clip_dinoiser", "whole", "none")
    main_row = [r for r in rows if (r["size"], r["method"], r["mode"], r["refine"]) == headline]
    if main_row:  # the headline configuration, at the precision asked for
        achieved = main_row[0]["fps"] * versus["compute"]["single_pass_gflop"] * 1e9
        peak = matmul_peak(seg.device, args.precision)
        print(
            f"compute: {achieved / 1e12:.2f} TFLOP/s achieved at 448x448 {args.precision}, "
            f"{achieved / peak:.0%} of this device's {args.precision} matmul peak ({peak / 1e12:.2f} TFLOP/s)"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "machine": machine,
                "configs": rows,
                "versus_reference": versus,
                "batches": batches,
                "vocabulary_switch": switch,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
