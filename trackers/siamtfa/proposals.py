"""Anchors, proposal selection and training targets of SiamTFA's two stages.

Anchor order matches the flattened head outputs: level by level, then cell
row, cell column, anchor (``(h, w, A)``).  Boxes are xyxy in search-crop pixels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..ops import box_iou, decode_deltas, encode_deltas, nms
from .model import ANCHOR_RATIOS, ANCHOR_SIDE, LEVELS

REFINE_WEIGHTS = (10.0, 10.0, 5.0, 5.0)   # Faster R-CNN's second-stage delta scaling


def level_anchors(stride: int, size: tuple[int, int], crop: int) -> torch.Tensor:
    """``(h * w * A, 4)`` anchors of one level whose ``size`` map covers a ``crop``-pixel square."""
    h, w = size
    step_y, step_x = crop / h, crop / w
    side = ANCHOR_SIDE * stride
    shapes = torch.tensor([[side / math.sqrt(r), side * math.sqrt(r)] for r in ANCHOR_RATIOS])  # (A, 2) w, h
    cy = (torch.arange(h, dtype=torch.float32) + 0.5) * step_y
    cx = (torch.arange(w, dtype=torch.float32) + 0.5) * step_x
    c = torch.stack(torch.meshgrid(cx, cy, indexing="xy"), -1)[:, :, None, :]   # (h, w, 1, 2)
    half = shapes[None, None] / 2
    return torch.cat([c - half, c + half], -1).reshape(-1, 4)


def flatten_head(cls: torch.Tensor, reg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 2A, h, w)``, ``(N, 4A, h, w)`` -> ``(N, h*w*A, 2)``, ``(N, h*w*A, 4)``."""
    n, _, h, w = cls.shape
    a = len(ANCHOR_RATIOS)
    cls = cls.view(n, a, 2, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 2)
    reg = reg.view(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
    return cls, reg


def gather(rpn_out: dict, crop: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All levels' ``(anchors (M,4), cls (N,M,2), deltas (N,M,4), level id (M,))``."""
    anchors, cls, reg, level_id = [], [], [], []
    for i, level in enumerate(LEVELS):
        _, c, r = rpn_out[level]
        a = level_anchors(level, tuple(c.shape[-2:]), crop)
        c, r = flatten_head(c, r)
        anchors.append(a)
        cls.append(c)
        reg.append(r)
        level_id.append(torch.full((len(a),), i))
    return torch.cat(anchors), torch.cat(cls, 1), torch.cat(reg, 1), torch.cat(level_id)


def select_proposals(anchors: torch.Tensor, cls: torch.Tensor, reg: torch.Tensor, crop: int, top_n: int = 16,
                     pre_nms: int = 300, nms_iou: float = 0.7) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``top_n`` proposals of one image (``cls (M, 2)``, ``reg (M, 4)``): boxes ``(K, 4)``, scores ``(K,)``."""
    scores = F.softmax(cls, -1)[:, 1]
    order = scores.argsort(descending=True)[:pre_nms]
    boxes = decode_deltas(reg[order], anchors[order]).clamp(0, crop)
    ok = ((boxes[:, 2] - boxes[:, 0]) >= 2) & ((boxes[:, 3] - boxes[:, 1]) >= 2)
    boxes, s = boxes[ok], scores[order][ok]
    keep = nms(boxes, s, nms_iou, max_keep=top_n)
    return boxes[keep], s[keep]


def rpn_targets(anchors: torch.Tensor, gt: torch.Tensor, generator: torch.Generator | None = None,
                batch: int = 64, max_pos: int = 16, pos_iou: float = 0.6, neg_iou: float = 0.3):
    """Labels ``(M,)`` (1 fg, 0 bg, -1 ignored) and delta targets ``(M, 4)`` for one xyxy ``gt``."""
    iou = box_iou(anchors, gt[None])[:, 0]
    labels = torch.full((len(anchors),), -1, dtype=torch.long)
    labels[iou < neg_iou] = 0
    labels[iou >= pos_iou] = 1
    labels[iou.argmax()] = 1            # every target gets at least its best anchor
    for value, limit in ((1, max_pos), (0, None)):
        idx = torch.nonzero(labels == value)[:, 0]
        keep = limit if limit is not None else batch - int((labels == 1).sum())
        if len(idx) > keep:
            drop = idx[torch.randperm(len(idx), generator=generator)[keep:]]
            labels[drop] = -1
    return labels, encode_deltas(gt.expand_as(anchors), anchors)


def jitter_boxes(gt: torch.Tensor, count: int, crop: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` boxes around xyxy ``gt`` at varied overlaps (refine-stage training RoIs)."""
    cx, cy = (gt[0] + gt[2]) / 2, (gt[1] + gt[3]) / 2
    w, h = gt[2] - gt[0], gt[3] - gt[1]
    mag = torch.linspace(0.05, 0.6, count)[:, None]
    r = torch.randn(count, 4, generator=generator) * mag
    ncx, ncy = cx + r[:, 0] * w, cy + r[:, 1] * h
    nw, nh = w * r[:, 2].exp(), h * r[:, 3].exp()
    boxes = torch.stack([ncx - nw / 2, ncy - nh / 2, ncx + nw / 2, ncy + nh / 2], 1).clamp(0, crop - 2)
    return torch.cat([boxes[:, :2], torch.maximum(boxes[:, 2:], boxes[:, :2] + 2)], 1)   # never empty


def refine_targets(rois: torch.Tensor, gts: torch.Tensor, fg_iou: float = 0.5):
    """Labels ``(K,)`` (IoU >= ``fg_iou``) and delta targets ``(K, 4)`` of xyxy ``rois`` against their own
    ``gts`` (``(K, 4)``, or one ``(4,)`` box for all)."""
    gts = gts.expand_as(rois)
    lt, rb = torch.maximum(rois[:, :2], gts[:, :2]), torch.minimum(rois[:, 2:], gts[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = lambda b: (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)  # noqa: E731
    iou = inter / (area(rois) + area(gts) - inter).clamp(min=1e-9)
    return (iou >= fg_iou).long(), encode_deltas(gts, rois, REFINE_WEIGHTS)
