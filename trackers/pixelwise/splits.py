"""Which dev sequences train and which validate (fixed before any result was seen)."""
from __future__ import annotations

import glob
import os

DAVIS_HELD_OUT = ["davis-libby", "davis-dance-twirl"]


def davis_sequences(root: str) -> list[str]:
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(root, "davis-*")) if os.path.isdir(os.path.join(p, "masks")))


def davis_train(root: str) -> list[str]:
    return [n for n in davis_sequences(root) if n not in DAVIS_HELD_OUT]


def box_sequences(root: str) -> list[str]:
    """Box-only sequences: backgrounds of the composites, box tracks for the global model."""
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(root, "*"))
                  if os.path.isdir(p) and not os.path.isdir(os.path.join(p, "masks")))
