"""One image's segmentation result: numpy arrays and the vocabulary they were made with (no torch,
so the ROS shell and the offline writers can hold results without loading the engine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .vocabulary import Vocabulary


@dataclass
class Segmentation:
    """One image's result. probs/objectness at patch resolution, the rest at image size."""

    probs: np.ndarray  # K×h×w float32, after the background rule
    objectness: np.ndarray  # h×w float32 in [0, 1]; NaN for methods without an objectness head
    objectness_image: np.ndarray  # H×W float32 in [0, 1]; NaN likewise
    labels: np.ndarray  # H×W int64 class index into `classes`
    confidence: np.ndarray  # H×W float32, probability of the chosen class
    vocabulary: Vocabulary
    probs_image: Optional[np.ndarray] = None  # K×H×W float32 when asked for (segment(probs_image=True))

    def label_image(self, min_confidence: float = 0.0) -> np.ndarray:
        """uint16 ids: 0 = background/unlabelled (or below min_confidence), k = vocabulary.names[k-1]."""
        ids = self.vocabulary.class_to_id(self.labels).astype(np.uint16)
        ids[self.confidence < min_confidence] = 0
        return ids
