"""numpy in, numpy out: the engine the node, the CLI and the benchmarks use."""

from __future__ import annotations

import contextlib
import math
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .backends.factory import Calibration, make_visual_pass
from .backends.support import DEFAULT_BACKEND, combination_error, require
from .methods import zoo
from .methods.backbone import load_backbone
from .model import apply_background_rule, classify
from .options import MAX_LONG_SIDE, MODES, PATCH, PRECISION_NAMES, REFINES, check_input_size
from .segmentation import Segmentation
from .vocabulary import MAX_CLASSES, Vocabulary, vocabulary_error

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}  # torch autocast's
SLIDE_CROP = 448  # benchmark protocol: 448×448 windows ...
SLIDE_STRIDE = 224  # ... every 224 pixels


def validate_image(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        desc = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {desc}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"image has zero size {rgb.shape[:2]}")


def resized_shape(height: int, width: int, short_side: int) -> Tuple[int, int]:
    """Keep-ratio size with the short side at `short_side` and the long side at most 2048."""
    scale = min(MAX_LONG_SIDE / max(height, width), short_side / min(height, width))
    return int(height * scale + 0.5), int(width * scale + 0.5)


def slide_windows(height: int, width: int) -> List[Tuple[int, int, int, int]]:
    """(y1, y2, x1, x2) of the 448/224 sliding windows, the last one flush with the border."""

    def starts(size: int) -> List[Tuple[int, int]]:
        count = max(size - SLIDE_CROP + SLIDE_STRIDE - 1, 0) // SLIDE_STRIDE + 1
        spans = []
        for i in range(count):
            end = min(i * SLIDE_STRIDE + SLIDE_CROP, size)
            spans.append((max(end - SLIDE_CROP, 0), end))
        return spans

    return [(y1, y2, x1, x2) for y1, y2 in starts(height) for x1, x2 in starts(width)]


def _upsample(maps: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def _patch_to_pixels(maps: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """×16 bilinear upsampling of a padded patch grid, cropped to the unpadded size."""
    h, w = maps.shape[-2:]
    return _upsample(maps, (h * PATCH, w * PATCH))[..., :height, :width]


class Segmenter:
    """CLIP-DINOiser, MaskCLIP or a training-free method (engine/methods) over numpy RGB images."""

    def __init__(
        self,
        weights: str = "",
        heads: str = "",
        device: str = "cpu",
        precision: str = "fp32",
        method: str = "clip_dinoiser",
        input_size: Optional[int] = None,
        mode: str = "whole",
        refine: str = "none",
        backend: str = DEFAULT_BACKEND,
        calibration: Calibration = None,
    ):
        """weights '' = the method's default backbone; heads are loaded only for methods that use them.
        backend: what runs the image pass (engine/backends); calibration: int8's frames."""
        if precision not in PRECISION_NAMES:
            raise ValueError(f"precision must be one of {list(PRECISION_NAMES)}, got {precision!r}")
        reason = combination_error(backend, precision, device, method)
        if reason:
            raise ValueError(reason)
        if backend != DEFAULT_BACKEND:
            require(backend)  # before loading any weights: a missing package is one line, at once
        self.backend = backend
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available")
        if self.device.type == "cuda" and precision == "fp32":
            # cuDNN runs fp32 convolutions in TF32 by default: measured on an H100, that moves
            # objectness by 2e-4 and probabilities by 1e-3, outside the reference bar. fp32 means
            # IEEE fp32 here; fp16/bf16 are the fast precisions.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        self.precision = precision
        self.method, self.mode, self.refine, self.input_size = method, MODES[0], REFINES[0], None
        self.configure(input_size=input_size or 0, mode=mode, refine=refine)  # fail fast, before loading
        self.backbone = load_backbone(weights, heads, method, self.device)
        self.network, self.text = self.backbone.network, self.backbone.text
        # The visual pass the frames go through: the network itself, or its compiled graph per shape.
        self.visual = make_visual_pass(backend, self.network, precision, device, calibration)
        self._vocabulary: Optional[Vocabulary] = None

    # ---------------------------------------------------------------------------- settings
    def configure(
        self,
        method: Optional[str] = None,
        input_size: Optional[int] = None,
        mode: Optional[str] = None,
        refine: Optional[str] = None,
    ) -> None:
        """Change how later frames are segmented; input_size 0 means the image's own size. A method
        that needs another backbone, or that the backend cannot run, raises ValueError (method_reason
        says why)."""
        reason = self.method_reason(method) if method is not None else None
        if reason:
            raise ValueError(reason)
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if refine is not None and refine not in REFINES:
            raise ValueError(f"refine must be one of {list(REFINES)}, got {refine!r}")
        if input_size is not None:
            check_input_size(input_size)  # before any assignment: a rejected call changes nothing
            self.input_size = input_size or None
        self.method = method or self.method
        self.mode = mode or self.mode
        self.refine = refine or self.refine

    def method_reason(self, method: str) -> Optional[str]:
        """Why later frames cannot use `method` on the loaded backbone, or None."""
        backend_reason = combination_error(self.backend, self.precision, str(self.device), method)
        return backend_reason or self.backbone.switch_reason(method)

    # -------------------------------------------------------------------------- vocabulary
    @property
    def vocabulary(self) -> Optional[Vocabulary]:
        return self._vocabulary

    def prepare_vocabulary(
        self, names: Sequence[str], background: bool = True, max_classes: int = MAX_CLASSES
    ) -> Vocabulary:
        """Validate and embed; only names never seen before cost text-encoder time. Thread-safe."""
        reason = vocabulary_error(names, background, max_classes)
        if reason:
            raise ValueError(reason)
        names = tuple(n.strip() for n in names)
        embeddings = self.text.embeddings(list(Vocabulary.classes_for(names, background))).to(self.device)
        return Vocabulary(names=names, background=background, embeddings=embeddings, backbone=self.text.backbone)

    def use_vocabulary(self, vocabulary: Vocabulary) -> None:
        self._vocabulary = vocabulary  # one reference swap: atomic for concurrent readers

    def set_vocabulary(self, names: Sequence[str], background: bool = True) -> Vocabulary:
        vocab = self.prepare_vocabulary(names, background)
        self.use_vocabulary(vocab)
        return vocab

    # ----------------------------------------------------------------------------- images
    def segment(
        self,
        rgb: np.ndarray,
        vocabulary: Optional[Vocabulary] = None,
        input_size: Optional[int] = None,
        probs_image: bool = False,
    ) -> Segmentation:
        """Segment one H×W×3 uint8 RGB image; input_size overrides the configured one (0 = native);
        probs_image also returns the K×H×W probabilities labels/confidence are argmax/max of."""
        return self.segment_batch([rgb], vocabulary, input_size, probs_image)[0]

    def segment_batch(
        self,
        images: Sequence[np.ndarray],
        vocabulary: Optional[Vocabulary] = None,
        input_size: Optional[int] = None,
        probs_image: bool = False,
    ) -> List[Segmentation]:
        """Results in input order; in whole mode images of one size share a forward pass (several
        cameras of one model), in slide mode each image runs its own windows."""
        vocab = vocabulary or self._vocabulary
        if vocab is None:
            raise RuntimeError("no vocabulary: call set_vocabulary() first")
        if vocab.backbone and vocab.backbone != self.text.backbone:
            raise ValueError(f"vocabulary embedded on {vocab.backbone}, not this engine's {self.text.backbone}")
        for rgb in images:
            validate_image(rgb)
        size = self.input_size if input_size is None else check_input_size(input_size)
        groups: Dict[Tuple[int, ...], List[int]] = {}
        for i, rgb in enumerate(images):  # slide mode batches an image's windows instead
            groups.setdefault(rgb.shape if self.mode == "whole" else (i,), []).append(i)
        results: List[Optional[Segmentation]] = [None] * len(images)
        for indices in groups.values():
            stack = self._segment_stack([images[i] for i in indices], vocab, size, probs_image)
            for i, result in zip(indices, stack, strict=True):
                results[i] = result
        return results  # type: ignore[return-value]  # every index was filled

    @contextlib.contextmanager
    def _precision(self) -> Iterator[None]:
        dtype = PRECISIONS.get(self.precision, torch.float32)
        with torch.inference_mode():
            if dtype == torch.float32 or self.backend != "torch":  # compiled passes hold their precision
                yield
            else:
                with torch.autocast(device_type=self.device.type, dtype=dtype):
                    yield

    def _to_tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        batch = torch.from_numpy(np.stack(images))
        if self.device.type == "cuda":  # uint8 over the bus (4× less than float), converted on the GPU
            batch = batch.pin_memory()
        return batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)

    def _segment_stack(
        self, images: Sequence[np.ndarray], vocab: Vocabulary, input_size: Optional[int], probs_image: bool = False
    ) -> List[Segmentation]:
        height, width = images[0].shape[:2]
        with self._precision():
            x = self._to_tensor(images)
            if input_size:
                x = _upsample(x, resized_shape(height, width, input_size))
            if self.method in zoo.ZOO:  # training-free methods: their own protocols, no objectness
                maps = (self.backbone.vit, self.method, x, vocab, self.mode, self.refine, (height, width))
                probs, objectness, pixels = zoo.engine_maps(*maps)
            else:
                predict = self._predict_slide if self.mode == "slide" else self._predict_whole
                probs, objectness, pixels = predict(x, vocab)
                if self.refine == "pamr":
                    pixels = zoo.refine_probabilities(pixels, x)
            if pixels.shape[-2:] != (height, width):
                pixels = _upsample(pixels, (height, width))
            return _results(probs, objectness, pixels, vocab, probs_image)

    def predict(self, x: torch.Tensor, vocab: Vocabulary) -> Tuple[torch.Tensor, torch.Tensor]:
        """x: B×3×H×W in [0,1], any size. Returns probs B×K×h×w and objectness B×h×w (padded grid)."""
        pad_h, pad_w = (-x.shape[-2]) % PATCH, (-x.shape[-1]) % PATCH
        x = F.pad(x, (0, pad_w, 0, pad_h))  # zero = black, before normalisation, as upstream
        features, objectness = self.visual(x, pool=self.method == "clip_dinoiser")
        probs = classify(features, vocab.embeddings)
        if self.method == "clip_dinoiser":
            probs = apply_background_rule(probs, objectness.float(), vocab.background_index)
        return probs, objectness.float()

    def _predict_whole(self, x: torch.Tensor, vocab: Vocabulary) -> Tuple[torch.Tensor, ...]:
        """Patch-level probs and objectness, and both as one (K+1)-channel map at x's size."""
        probs, objectness = self.predict(x, vocab)
        pixels = _patch_to_pixels(torch.cat([probs, objectness[:, None]], 1), *x.shape[-2:])
        return probs, objectness, pixels

    def _predict_slide(self, x: torch.Tensor, vocab: Vocabulary) -> Tuple[torch.Tensor, ...]:
        """Average of window predictions at pixel level; all windows share one batched pass."""
        height, width = x.shape[-2:]
        windows = slide_windows(height, width)
        crops = torch.cat([x[..., y1:y2, x1:x2] for y1, y2, x1, x2 in windows])
        _, _, maps = self._predict_whole(crops, vocab)
        total = x.new_zeros((1, maps.shape[1], height, width), dtype=torch.float32)
        count = x.new_zeros((1, 1, height, width), dtype=torch.float32)
        for (y1, y2, x1, x2), window in zip(windows, maps, strict=True):
            total[0, :, y1:y2, x1:x2] += window
            count[0, :, y1:y2, x1:x2] += 1
        pixels = total / count
        # Callers also want a patch grid: average-pool the pixel map onto the one the image would have.
        patch = F.adaptive_avg_pool2d(pixels, (math.ceil(height / PATCH), math.ceil(width / PATCH)))
        return patch[:, :-1], patch[:, -1], pixels


def _results(
    probs: torch.Tensor, objectness: torch.Tensor, pixels: torch.Tensor, vocab: Vocabulary, probs_image: bool = False
) -> List[Segmentation]:
    """Split the (K+1)-channel pixel maps into labels, confidence and objectness, per image."""
    confidence, labels = pixels[:, :-1].max(dim=1)
    to_np = lambda t: t.float().cpu().numpy()  # noqa: E731
    probs, objectness, obj_image = to_np(probs), to_np(objectness), to_np(pixels[:, -1])
    labels, confidence = labels.cpu().numpy(), to_np(confidence)
    images = to_np(pixels[:, :-1]) if probs_image else [None] * len(probs)
    return [
        Segmentation(
            probs=probs[i],
            objectness=objectness[i],
            objectness_image=obj_image[i],
            labels=labels[i],
            confidence=confidence[i],
            vocabulary=vocab,
            probs_image=images[i],
        )
        for i in range(len(probs))
    ]
