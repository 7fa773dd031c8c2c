"""Training-free ("head-free") CLIP segmentation methods beside CLIP-DINOiser, and PAMR.

Each is re-implemented from the SPECs in shared/reference/zoo (no upstream code is copied: ClearCLIP is
non-commercial, SCLIP states no licence) and proven against fixtures the unmodified upstream code made:

- `vit`: what the three share: OpenAI-rounded normalisation, the floor patch grid (no padding), the
  DINO-style positional embedding ((h+0.1)/14 bicubic scale), blocks 0..10, patch logits.
- `naclip`: last block = Gaussian-neighbourhood K·Kᵀ attention, no residual/FFN (temperature 40).
- `clearclip`: last block = Q·Qᵀ attention, no residual/FFN (temperature 50).
- `sclip`: last block = Q·Qᵀ + K·Kᵀ correlative attention, residual and FFN kept (temperature 40).
- `protocol`: each method's whole-image and sliding-window protocol (logits averaged, never probs).
- `pamr`: pixel-adaptive mask refinement (NACLIP's published post-processing) in bounded memory.
- `zoo`: the table of methods and the one entry point the Segmenter dispatches to.

Imports nothing here, so `ov_seg_ros.engine.methods` loads without torch.
"""
