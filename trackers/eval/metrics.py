"""Box metrics, each defined once: IoU, centre error, GOT-10k AO/SR, OTB success/precision.

Conventions (the got10k toolkit's, so figures are comparable with published ones):

* boxes are ``(x, y, w, h)``; a predicted box that is missing (``None``, ``nan``
  or with ``w <= 0`` / ``h <= 0``) has IoU 0 and an infinite centre error;
* IoU clips both boxes to the image when ``bound=(width, height)`` is given,
  exactly as ``got10k.utils.metrics.rect_iou`` does (x, y clamped into the
  image, then w, h cut at the right/bottom edge; so a box hanging off the
  left/top edge is moved rather than cut, a toolkit quirk kept so that figures
  stay comparable) and divides by ``union + eps``;
* centre = ``(x + (w - 1) / 2, y + (h - 1) / 2)`` (``got10k.utils.metrics.center_error``).

Which frames are scored is decided by :func:`evaluated_frames`: every frame
after the initialisation frame where the target is present.  The same frames
are used for GOT-10k and OTB figures (the OTB toolkit also scores the first
frame, which only flatters every tracker by the same free frame).
"""
from __future__ import annotations

from typing import Iterable, Sequence as Seq

import numpy as np

EPS = np.finfo(float).eps
OTB_THRESHOLDS = np.linspace(0.0, 1.0, 21)   # 0:0.05:1
PRECISION_PIXELS = 20.0


def as_boxes(boxes: Iterable | np.ndarray) -> np.ndarray:
    """``(N, 4)`` float array; ``None`` entries become ``nan`` rows."""
    if isinstance(boxes, np.ndarray):
        return boxes.astype(np.float64).reshape(-1, 4)
    rows = [[np.nan] * 4 if b is None else [float(v) for v in b] for b in boxes]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """Rows that hold a real box (finite, positive width and height)."""
    return np.all(np.isfinite(boxes), axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def _clip(boxes: np.ndarray, bound: tuple[float, float]) -> np.ndarray:
    out = boxes.copy()
    out[:, 0] = np.clip(out[:, 0], 0, bound[0])
    out[:, 1] = np.clip(out[:, 1], 0, bound[1])
    out[:, 2] = np.clip(out[:, 2], 0, bound[0] - out[:, 0])
    out[:, 3] = np.clip(out[:, 3], 0, bound[1] - out[:, 1])
    return out


def iou(pred, gt, bound: tuple[float, float] | None = None) -> np.ndarray:
    """Per-row IoU of two ``(N, 4)`` box arrays; missing boxes score 0."""
    a, b = as_boxes(pred), as_boxes(gt)
    if a.shape != b.shape:
        raise ValueError(f"iou needs equal shapes, got {a.shape} and {b.shape}")
    ok = valid_boxes(a) & valid_boxes(b)
    a, b = np.where(ok[:, None], a, 0.0), np.where(ok[:, None], b, 0.0)
    if bound is not None:
        a, b = _clip(a, bound), _clip(b, bound)
    iw = np.maximum(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0)
    ih = np.maximum(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    out = np.clip(inter / (union + EPS), 0.0, 1.0)
    return np.where(ok, out, 0.0)


def center_error(pred, gt) -> np.ndarray:
    """Per-row distance between box centres in pixels; ``inf`` for a missing prediction."""
    a, b = as_boxes(pred), as_boxes(gt)
    ca = a[:, :2] + (a[:, 2:] - 1) / 2
    cb = b[:, :2] + (b[:, 2:] - 1) / 2
    err = np.sqrt(np.sum((ca - cb) ** 2, axis=1))
    return np.where(valid_boxes(a), err, np.inf)


def evaluated_frames(absent: np.ndarray, init_index: int = 0) -> np.ndarray:
    """Boolean mask of scored frames: after ``init_index`` and target present."""
    keep = ~np.asarray(absent, bool)
    keep[: init_index + 1] = False
    return keep


def got10k_metrics(ious: np.ndarray) -> dict:
    """AO, SR0.5, SR0.75 of IoUs already pooled over the scored frames of all sequences."""
    ious = np.asarray(ious, np.float64)
    if ious.size == 0:
        return {"ao": None, "sr50": None, "sr75": None, "frames": 0}
    return {"ao": float(ious.mean()), "sr50": float(np.mean(ious > 0.5)), "sr75": float(np.mean(ious > 0.75)),
            "frames": int(ious.size)}


def success_curve(ious: np.ndarray) -> np.ndarray:
    """Fraction of frames with IoU strictly above each OTB threshold (0, 0.05, ..., 1)."""
    ious = np.asarray(ious, np.float64)
    return np.mean(ious[:, None] > OTB_THRESHOLDS[None, :], axis=0)


def success_auc(ious: np.ndarray) -> float:
    """OTB success score: the mean of :func:`success_curve` (its area under the curve)."""
    return float(success_curve(ious).mean())


def precision_at(errors: np.ndarray, pixels: float = PRECISION_PIXELS) -> float:
    """Fraction of frames whose centre error is at most ``pixels`` (``<=``, as OTB)."""
    return float(np.mean(np.asarray(errors, np.float64) <= pixels))


def otb_metrics(per_sequence: Seq[tuple[np.ndarray, np.ndarray]]) -> dict:
    """OTB success AUC and precision@20px, each averaged over sequences.

    ``per_sequence`` holds ``(ious, centre_errors)`` over each sequence's scored
    frames; sequences with no scored frame are left out of the average.
    """
    scored = [(i, e) for i, e in per_sequence if len(i)]
    if not scored:
        return {"auc": None, "precision": None, "sequences": 0}
    return {"auc": float(np.mean([success_auc(i) for i, _ in scored])),
            "precision": float(np.mean([precision_at(e) for _, e in scored])),
            "sequences": len(scored)}
