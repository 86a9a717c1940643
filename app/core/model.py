"""Plain data the core passes around: per-frame annotations and whole videos.

These are the exchange types between the store, the formats and the
propagation engine.  Masks travel as COCO RLE dicts (``{'size': [h, w],
'counts': str}``) so that nothing needs a full-resolution array unless it
draws or edits one.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

Box = tuple[float, float, float, float]

HUMAN = "human"
INTERPOLATED = "interpolated"


def tracker_source(name: str) -> str:
    return f"tracker:{name}"


def is_human(source: str) -> bool:
    return source == HUMAN


@dataclass(frozen=True)
class FrameAnnotation:
    """One object on one frame.

    ``box`` is ``(x, y, w, h)`` or ``None`` (absent frames may have none);
    ``source`` is ``'human'``, ``'interpolated'`` or ``'tracker:<name>'``.
    """

    box: Optional[Box] = None
    mask_rle: Optional[dict] = None
    absent: bool = False
    score: Optional[float] = None
    source: str = HUMAN

    def with_(self, **changes) -> "FrameAnnotation":
        return replace(self, **changes)

    @property
    def is_human(self) -> bool:
        return self.source == HUMAN


@dataclass
class TrackObject:
    track_id: int
    category: str = "object"
    color: str = "#e6194b"
    frames: dict[int, FrameAnnotation] = field(default_factory=dict)
    visible: bool = True
    tracker: str = "csrt"


@dataclass
class VideoAnnotations:
    """One video's annotations, as the formats read and write them."""

    name: str
    width: int
    height: int
    num_frames: int
    objects: list[TrackObject] = field(default_factory=list)
    frame_files: Optional[list[str]] = None   # file names per frame, when known
    fps: float = 25.0


# -- masks -------------------------------------------------------------------

def encode_mask(mask: np.ndarray) -> dict:
    """Bool/uint8 HxW mask -> COCO compressed RLE with ``counts`` as str."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"]}


def decode_mask(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    r = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return mask_utils.decode(r).astype(bool)


def mask_area(rle: dict) -> float:
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    r = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return float(mask_utils.area(r))


def mask_bbox(rle: dict) -> Box:
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    r = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return tuple(float(v) for v in mask_utils.toBbox(r))  # type: ignore[return-value]
