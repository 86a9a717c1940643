"""Box geometry shared by ROLO's parts: IoU, frame-normalised boxes, 32x32 heatmaps.

Normalised boxes follow the paper's Eq. 3: ``(cx, cy, w, h)`` relative to the
frame's width and height, so every coordinate lies in ``[0, 1]``.

Heatmaps (paper §III-C) are ``S x S`` grids over the *whole frame*.  We paint a
box with each cell's *fractional coverage* instead of hard 0/1 cells: for
boxes larger than a cell this is the paper's map up to the edge cells, and it
makes :func:`heatmap_to_box` an exact inverse (the coverage is separable,
``H = cx (x) cy``, so the marginals give the centre and the extent to
sub-cell precision).
"""
from __future__ import annotations

import numpy as np
import torch

from ..ops import box_iou, iou_xywh, xywh_to_xyxy

HEATMAP_SIZE = 32

iou = iou_xywh  # one IoU for the whole project


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``(len(a), len(b))`` of ``(x, y, w, h)`` boxes (numpy in, numpy out)."""
    a = torch.as_tensor(np.asarray(boxes_a, np.float64).reshape(-1, 4))
    b = torch.as_tensor(np.asarray(boxes_b, np.float64).reshape(-1, 4))
    return box_iou(xywh_to_xyxy(a), xywh_to_xyxy(b)).numpy()


def to_normalized(box, width: int, height: int) -> np.ndarray:
    """``(x, y, w, h)`` pixels -> ``(cx, cy, w, h)`` relative to the frame (Eq. 3)."""
    x, y, w, h = box
    return np.array([(x + w / 2) / width, (y + h / 2) / height, w / width, h / height], np.float32)


def from_normalized(nbox, width: int, height: int) -> tuple[float, float, float, float]:
    cx, cy, w, h = (float(v) for v in nbox)
    w, h = max(w, 1e-4) * width, max(h, 1e-4) * height
    return (cx * width - w / 2, cy * height - h / 2, w, h)


def cxcywh_to_xywh(b) -> np.ndarray:
    """Normalised ``(cx, cy, w, h)`` -> ``(x, y, w, h)`` in the same units (numpy, any leading shape)."""
    b = np.asarray(b, np.float64)
    return np.concatenate([b[..., :2] - b[..., 2:] / 2, b[..., 2:]], -1)


def _coverage(lo: float, hi: float, n: int) -> np.ndarray:
    """Fraction of each of ``n`` unit cells covered by the interval ``[lo, hi]``."""
    edges = np.arange(n + 1, dtype=np.float64)
    return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, 1.0)


def box_to_heatmap(nbox, size: int = HEATMAP_SIZE) -> np.ndarray:
    """Paint a normalised box on a ``size x size`` grid (cell = fraction covered)."""
    cx, cy, w, h = (float(v) for v in nbox)
    cov_x = _coverage((cx - w / 2) * size, (cx + w / 2) * size, size)
    cov_y = _coverage((cy - h / 2) * size, (cy + h / 2) * size, size)
    return np.outer(cov_y, cov_x).astype(np.float32)


def heatmap_to_box(heat: np.ndarray, core: float = 0.5) -> tuple[np.ndarray, float]:
    """Normalised ``(cx, cy, w, h)`` and a confidence from a (predicted) heatmap.

    The box is read from the blob around the peak: the connected cells above
    ``core`` (or, for a weak map, above half the peak) grown by one cell so the
    fractional edge cells count, everything else is noise.  Within it the
    marginals of the separable coverage give the centre (mass centroid) and
    the extent (sum of the marginal divided by its maximum, in cells).
    Confidence = the peak value times the share of the map's mass inside the
    blob: high for one crisp blob, low for a faint or scattered map.
    """
    heat = np.clip(np.asarray(heat, np.float64), 0.0, 1.0)
    n_rows, n_cols = heat.shape
    peak = float(heat.max())
    if peak <= 1e-6:
        return np.array([0.5, 0.5, 0.0, 0.0], np.float32), 0.0
    level = min(core, 0.5 * peak)
    blob = _component_at(heat >= level, np.unravel_index(int(heat.argmax()), heat.shape))
    grown = blob.copy()
    grown[1:, :] |= blob[:-1, :]
    grown[:-1, :] |= blob[1:, :]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    kept = np.where(grown, heat, 0.0)
    col, row = kept.sum(0), kept.sum(1)
    total = kept.sum()
    cx = (np.arange(n_cols) + 0.5) @ col / total
    cy = (np.arange(n_rows) + 0.5) @ row / total
    w = total / max(col.max(), 1e-9)
    h = total / max(row.max(), 1e-9)
    conf = peak * total / max(heat.sum(), 1e-9)
    return np.array([cx / n_cols, cy / n_rows, w / n_cols, h / n_rows], np.float32), float(conf)


def _component_at(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """4-connected component of ``mask`` containing ``seed`` (flood fill)."""
    out = np.zeros_like(mask, dtype=bool)
    if not mask[seed]:
        out[seed] = True
        return out
    stack = [seed]
    out[seed] = True
    rows, cols = mask.shape
    while stack:
        r, c = stack.pop()
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < rows and 0 <= cc < cols and mask[rr, cc] and not out[rr, cc]:
                out[rr, cc] = True
                stack.append((rr, cc))
    return out
