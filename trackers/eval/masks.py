"""DAVIS region similarity J and boundary accuracy F for one mask pair.

Both follow the DAVIS evaluation code (``davis2017-evaluation``, ``metrics.py``):

* **J** = |pred & gt| / |pred | gt|; 1 when both masks are empty.
* **F** = 2PR / (P + R) between the one-pixel boundaries of the two masks,
  where a boundary pixel matches when the other boundary lies within a disk of
  radius ``ceil(bound_th * image diagonal)`` (``bound_th = 0.008``).  Empty
  boundaries follow DAVIS: both empty -> P = R = 1; only the prediction empty ->
  P = 1, R = 0; only the truth empty -> P = 0, R = 1.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

BOUND_TH = 0.008


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """J: mask IoU (1 when both are empty)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary of a binary mask, exactly DAVIS's ``_seg2bmap`` at full size.

    A pixel is on the boundary when it differs from its right, lower or
    lower-right neighbour (the last row/column compare with what exists).
    """
    seg = np.asarray(mask, bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def disk(radius: int) -> np.ndarray:
    """``skimage.morphology.disk``: pixels with x^2 + y^2 <= r^2."""
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def boundary_radius(shape: tuple[int, int], bound_th: float = BOUND_TH) -> int:
    """Match tolerance in pixels: ``bound_th`` itself if >= 1, else a fraction of the diagonal."""
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(shape[0], shape[1])))


def boundary_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = BOUND_TH) -> float:
    """F: boundary F-measure with DAVIS's tolerance."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    kernel = disk(boundary_radius(gt.shape, bound_th))
    pred_b, gt_b = boundary_map(pred), boundary_map(gt)
    pred_dil = cv2.dilate(pred_b.astype(np.uint8), kernel) > 0
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel) > 0
    n_pred, n_gt = int(pred_b.sum()), int(gt_b.sum())
    if n_pred == 0 and n_gt == 0:
        precision = recall = 1.0
    elif n_pred == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = float((pred_b & gt_dil).sum() / n_pred)
        recall = float((gt_b & pred_dil).sum() / n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)
