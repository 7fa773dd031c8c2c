"""Every method × mode × refine on one image size: per-frame time and the peak memory of that config
(bench_engine.py prints the table; the engines for other backbones are built here), and PAMR's memory
against upstream's 16 stacked copies (`python -m bench.bench_methods`).

Peak memory per config: on CUDA torch's own peak allocation; on CPU the resident set sampled every
2 ms while the config runs, minus the resident set before it (the process-wide ru_maxrss only grows,
so it cannot tell configs apart).
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, Iterator, List

import numpy as np
import torch

from ov_seg_ros import Segmenter
from ov_seg_ros.engine.options import METHODS, MODES, REFINES

PAGE = 4096


def resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


class PeakResident:
    """Context manager: `.peak_mib` is the largest resident set seen above the one at entry."""

    def __enter__(self) -> PeakResident:
        self.base = resident_mib()
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak_mib = max(self.peak_mib, resident_mib() - self.base)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, resident_mib() - self.base)


def engines(seg: Segmenter, weights: str, heads: str) -> Dict[str, Segmenter]:
    """An engine per method: `seg` where its backbone fits, else one more engine per other backbone."""
    out: Dict[str, Segmenter] = {}
    for method in METHODS:
        for candidate in [seg, *out.values()]:
            if candidate.method_reason(method) is None:
                out[method] = candidate
                break
        else:
            out[method] = Segmenter(
                weights=weights, heads=heads, device=str(seg.device), precision=seg.precision, method=method
            )
    return out


def bench_methods(
    per_method: Dict[str, Segmenter],
    image: np.ndarray,
    input_size: int,
    vocabulary: List[str],
    time_calls: Callable,
    summarize: Callable,
    iters: int,
    warmup: int,
) -> Iterator[Dict]:
    """Rows of (method, mode, refine, timing, peak memory MiB of that config) for one image, as measured."""
    vocabularies = {id(s): s.prepare_vocabulary(vocabulary, background=True) for s in per_method.values()}
    for method in METHODS:
        seg = per_method[method]
        for mode in MODES:
            for refine in REFINES:
                seg.configure(method=method, mode=mode, refine=refine, input_size=input_size)
                vocab = vocabularies[id(seg)]
                if seg.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                with PeakResident() as peak:
                    times = time_calls(
                        lambda seg=seg, vocab=vocab: seg.segment(image, vocab), iters, warmup, seg.device
                    )
                memory = {"peak_mib": peak.peak_mib}
                if seg.device.type == "cuda":
                    memory["device_peak_mib"] = torch.cuda.max_memory_allocated(seg.device) / 2**20
                size = f"{image.shape[0]}x{image.shape[1]}"
                yield {"size": size, "method": method, "mode": mode, "refine": refine, **summarize(times), **memory}
        seg.configure(refine="none", mode="whole")


def format_method_row(row: Dict) -> str:
    memory = f"{row['peak_mib']:9.0f}" + (f" {row['device_peak_mib']:9.0f}" if "device_peak_mib" in row else "")
    return (
        f"{row['size']:>10} {row['method']:>14} {row['mode']:>6} {row['refine']:>5} {row['fps']:8.2f} "
        f"{row['p50_ms']:9.1f} {row['p95_ms']:9.1f} {memory}"
    )


METHOD_HEADER = (
    f"{'image':>10} {'method':>14} {'mode':>6} {'refine':>5} {'frames/s':>8} {'p50 ms':>9} {'p95 ms':>9} {'+MiB':>9}"
)


def bench_pamr_memory(height: int = 720, width: int = 1280, classes: int = 20) -> None:
    """PAMR's time and peak memory in the engine (chunked) and as upstream writes it (16 stacked copies)."""
    import time

    from bench import zoo_reference
    from ov_seg_ros.engine.methods import pamr

    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, height, width, generator=generator)
    scores = torch.randn(1, classes, height, width, generator=generator)
    runs = (
        ("engine (chunked)", lambda: pamr.refine(scores, image)),
        ("16 stacked copies", lambda: zoo_reference.pamr(image, scores)),
    )
    for name, run in runs:
        with torch.inference_mode(), PeakResident() as peak:
            start = time.perf_counter()
            run()
            seconds = time.perf_counter() - start
        print(
            f"PAMR {height}x{width}, {classes} classes, 10 iterations, {name}: "
            f"{seconds:.1f} s, peak +{peak.peak_mib:.0f} MiB"
        )


if __name__ == "__main__":  # python -m bench.bench_methods: the PAMR memory comparison
    bench_pamr_memory()
