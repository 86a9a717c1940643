"""Square context crops around a box, resized to the network input, and back.

``crop_and_resize(frame, box, context, out_size)`` cuts the square of side
``context * sqrt(w * h)`` centred on the box (``context`` is the side ratio; 4
means the crop covers 16x the target area), pads what falls outside the frame
with the frame's mean colour, resizes it to ``out_size`` and returns the patch
with the :class:`CropTransform` that maps patch pixels back to frame pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CropTransform:
    """``frame = origin + patch / scale`` (per axis)."""

    x0: float
    y0: float
    scale: float        # patch pixels per frame pixel
    out_size: int

    @property
    def region(self) -> tuple[float, float, float, float]:
        """The frame region ``(x, y, w, h)`` the patch covers (may extend past the frame)."""
        side = self.out_size / self.scale
        return (self.x0, self.y0, side, side)

    def points_to_frame(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, np.float64)
        return pts / self.scale + np.array([self.x0, self.y0])

    def points_to_patch(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, np.float64)
        return (pts - np.array([self.x0, self.y0])) * self.scale

    def box_to_frame(self, box) -> tuple[float, float, float, float]:
        x, y, w, h = (float(v) for v in box)
        return (x / self.scale + self.x0, y / self.scale + self.y0, w / self.scale, h / self.scale)

    def box_to_patch(self, box) -> tuple[float, float, float, float]:
        x, y, w, h = (float(v) for v in box)
        return ((x - self.x0) * self.scale, (y - self.y0) * self.scale, w * self.scale, h * self.scale)


def crop_square(center: tuple[float, float], side: float, out_size: int) -> CropTransform:
    """The transform of the ``side``-pixel square centred at ``center`` resized to ``out_size``."""
    side = max(float(side), 1.0)
    return CropTransform(center[0] - side / 2, center[1] - side / 2, out_size / side, int(out_size))


def context_side(box, context: float) -> float:
    _, _, w, h = (float(v) for v in box)
    return context * math.sqrt(max(w, 1.0) * max(h, 1.0))


def crop_and_resize(frame: np.ndarray, box, context: float, out_size: int,
                    pad_value: tuple[float, ...] | None = None) -> tuple[np.ndarray, CropTransform]:
    """Crop ``context * sqrt(w h)`` around ``box`` (x, y, w, h) and resize to ``out_size`` squared.

    Returns ``(patch, transform)``; ``patch`` is ``out_size x out_size x C`` of the
    frame's dtype.  Pixels outside the frame take ``pad_value`` (default: the
    frame's mean colour, the usual choice for trackers).
    """
    x, y, w, h = (float(v) for v in box)
    t = crop_square((x + w / 2, y + h / 2), context_side(box, context), out_size)
    return warp_crop(frame, t, pad_value), t


def warp_crop(frame: np.ndarray, t: CropTransform, pad_value: tuple[float, ...] | None = None) -> np.ndarray:
    """Sample the patch described by ``t`` from ``frame`` (bilinear; area-averaged when shrinking a lot)."""
    if pad_value is None:
        pad_value = tuple(float(v) for v in frame.reshape(-1, frame.shape[-1]).mean(0)) if frame.ndim == 3 \
            else (float(frame.mean()),)
    # warpAffine maps pixel *indices* (centres at integers); boxes use edge coordinates
    # (pixel i covers [i, i+1]), hence the +-0.5 terms: index j = (i + 0.5 - x0) * scale - 0.5
    src, sx, sy = frame, 1.0, 1.0
    if t.scale < 0.5:
        # shrinking by more than 2x with bilinear sampling aliases: pre-shrink with INTER_AREA
        factor = int(1 / t.scale) // 2 * 2
        h, w = frame.shape[:2]
        src = cv2.resize(frame, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
        sx, sy = w / src.shape[1], h / src.shape[0]
    m = np.array([[sx * t.scale, 0, (0.5 * sx - t.x0) * t.scale - 0.5],
                  [0, sy * t.scale, (0.5 * sy - t.y0) * t.scale - 0.5]], np.float64)
    return cv2.warpAffine(src, m, (t.out_size, t.out_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=pad_value)
