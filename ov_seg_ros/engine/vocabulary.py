"""The vocabulary: validated class names and their text embeddings, immutable once built."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

BACKGROUND = "background"
UNLABELLED = "unlabelled"
MAX_NAME_LENGTH = 200  # characters; CLIP's 77-token context truncates anything longer anyway
MAX_CLASSES = 4096  # a text-encoder pass per 80 prompts: more is a typo, not a vocabulary

_versions = itertools.count(1)


def vocabulary_error(names: Sequence[str], background: bool = True, max_classes: int = MAX_CLASSES) -> Optional[str]:
    """Why `names` is not a usable vocabulary, or None when it is."""
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        return "vocabulary must be a list of strings"
    stripped = [n.strip() for n in names]
    if not stripped:
        return "vocabulary is empty: give at least one class name"
    if any(not n for n in stripped):
        return "vocabulary contains a blank name"
    too_long = [n for n in stripped if len(n) > MAX_NAME_LENGTH]
    if too_long:
        return f"class name longer than {MAX_NAME_LENGTH} characters: {too_long[0][:40]!r}..."
    # CLIP's tokenizer lower-cases, so "Cup" and "cup" are one class twice: compare folded names.
    folded = [n.casefold() for n in stripped]
    duplicates = [n for i, n in enumerate(stripped) if folded[i] in folded[:i]]
    if duplicates:
        first = {f: n for n, f in reversed(list(zip(stripped, folded, strict=True)))}
        pairs = sorted(
            {f"{first[d.casefold()]!r} and {d!r}" if first[d.casefold()] != d else repr(d) for d in duplicates}
        )
        return f"duplicate class names (the text encoder ignores case): {', '.join(pairs)}"
    if BACKGROUND in folded:
        return f"{BACKGROUND!r} is not a vocabulary entry: set background=true to get it as id 0"
    if len(stripped) > max_classes:
        return f"{len(stripped)} classes is more than the {max_classes} allowed"
    return None


@dataclass(frozen=True)
class Vocabulary:
    """Class names with embeddings; swapped whole, never edited, so readers need no lock.

    `classes` is what the network scores (with "background" first when `background`); label ids
    are stable for users: 0 = background/unlabelled, k = names[k-1], whatever `background` is.
    """

    names: Tuple[str, ...]
    background: bool
    embeddings: object = field(repr=False)  # torch.Tensor K×512 on the segmenter's device
    version: int = field(default_factory=lambda: next(_versions))
    backbone: str = ""  # the text tower the embeddings come from ('' = unchecked)

    @staticmethod
    def classes_for(names: Tuple[str, ...], background: bool) -> Tuple[str, ...]:
        return ((BACKGROUND,) if background else ()) + tuple(names)

    @property
    def classes(self) -> Tuple[str, ...]:
        return self.classes_for(self.names, self.background)

    @property
    def background_index(self) -> Optional[int]:
        return self.classes.index(BACKGROUND) if self.background else None

    @property
    def id_offset(self) -> int:
        """Label id of class index i is i + id_offset."""
        return 0 if self.background else 1

    def label_map(self) -> Dict[int, str]:
        return {0: BACKGROUND if self.background else UNLABELLED, **{i + 1: name for i, name in enumerate(self.names)}}

    def class_to_id(self, class_index: np.ndarray) -> np.ndarray:
        return class_index + self.id_offset
