"""Box coding: xywh <-> xyxy, anchor deltas, ltrb side distances, IoU.

All functions take and return torch tensors (any device) with boxes along the
last dimension, so they work on ``(4,)``, ``(N, 4)`` or ``(B, N, 4)``.
"""
from __future__ import annotations

import math

import torch

# exp() of a larger log-ratio would overflow; 1000x is far beyond any real box change
_MAX_LOG_RATIO = math.log(1000.0 / 16)


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    x, y, w, h = boxes.unbind(-1)
    return torch.stack((x, y, x + w, y + h), -1)


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack((x0, y0, x1 - x0, y1 - y0), -1)


def xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), -1)


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -1)


def encode_deltas(boxes: torch.Tensor, anchors: torch.Tensor,
                  weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Faster R-CNN deltas ``(dx, dy, dw, dh)`` of xyxy ``boxes`` relative to xyxy ``anchors``."""
    b, a = xyxy_to_cxcywh(boxes), xyxy_to_cxcywh(anchors)
    wx, wy, ww, wh = weights
    return torch.stack((wx * (b[..., 0] - a[..., 0]) / a[..., 2], wy * (b[..., 1] - a[..., 1]) / a[..., 3],
                        ww * torch.log(b[..., 2] / a[..., 2]), wh * torch.log(b[..., 3] / a[..., 3])), -1)


def decode_deltas(deltas: torch.Tensor, anchors: torch.Tensor,
                  weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Inverse of :func:`encode_deltas`: xyxy boxes."""
    a = xyxy_to_cxcywh(anchors)
    wx, wy, ww, wh = weights
    dx, dy = deltas[..., 0] / wx, deltas[..., 1] / wy
    dw = (deltas[..., 2] / ww).clamp(max=_MAX_LOG_RATIO)
    dh = (deltas[..., 3] / wh).clamp(max=_MAX_LOG_RATIO)
    cx, cy = a[..., 0] + dx * a[..., 2], a[..., 1] + dy * a[..., 3]
    return cxcywh_to_xyxy(torch.stack((cx, cy, a[..., 2] * dw.exp(), a[..., 3] * dh.exp()), -1))


def ltrb_distances(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """FCOS/FCOT regression targets: distances ``(l, t, r, b)`` from points ``(..., 2)`` to xyxy box sides.

    ``boxes`` broadcasts against ``points`` (one box for a grid of points is ``(1, 4)``).
    """
    px, py = points[..., 0], points[..., 1]
    return torch.stack((px - boxes[..., 0], py - boxes[..., 1], boxes[..., 2] - px, boxes[..., 3] - py), -1)


def boxes_from_ltrb(points: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`ltrb_distances`: xyxy boxes."""
    px, py = points[..., 0], points[..., 1]
    return torch.stack((px - ltrb[..., 0], py - ltrb[..., 1], px + ltrb[..., 2], py + ltrb[..., 3]), -1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of xyxy boxes: ``(N, 4) x (M, 4) -> (N, M)``."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-12)


def iou_xywh(a, b) -> float:
    """IoU of two ``(x, y, w, h)`` boxes given as plain sequences (0 when either is empty)."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def clip_to_frame(box, W: int, H: int) -> tuple[float, float, float, float]:
    """An ``(x, y, w, h)`` box clipped to a ``W x H`` frame, at least 1x1 pixel inside it.

    Trackers report their box through this so a drifting estimate never
    leaves the image (the interface promises boxes on the frame).
    """
    x, y, w, h = (float(v) for v in box)
    x0, y0 = min(max(x, 0.0), W - 1.0), min(max(y, 0.0), H - 1.0)
    x1, y1 = min(max(x + w, x0 + 1.0), float(W)), min(max(y + h, y0 + 1.0), float(H))
    return (x0, y0, x1 - x0, y1 - y0)
