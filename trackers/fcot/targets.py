"""Labels and regression targets on the score-map grids (shared by training and tracking).

Cell ``(i, j)`` of a stride-``s`` map stands for search-crop point
``(s * j + s / 2, s * i + s / 2)`` (the paper's ``floor(s/2) + x s``).
Boxes here are ``xyxy`` in search-crop pixels.
"""
from __future__ import annotations

import torch

from ..ops import boxes_from_ltrb, gaussian_label, ltrb_distances
from .model import REG_UNIT

SIGMA_COARSE = 0.25   # Gaussian sigma as a fraction of sqrt(target area), Score Map-18
SIGMA_FINE = 0.10     # ... Score Map-72 in offline training: sharper, it refines the location
# Online (tracking) fits of Score Map-72 use a wider label: with 0.10 the least-squares
# optimum on the memory reached only ~5% amplitude (too peaky for one linear filter).
SIGMA_FINE_ONLINE = 0.20
REG_RADIUS = 2        # regression is trained/optimised within this many cells of the centre


def cell_points(h: int, w: int, stride: int, device=None) -> torch.Tensor:
    """``(H, W, 2)`` crop-pixel ``(x, y)`` of each cell."""
    ys = stride * torch.arange(h, dtype=torch.float32, device=device) + stride / 2
    xs = stride * torch.arange(w, dtype=torch.float32, device=device) + stride / 2
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)


def _centre_and_size(boxes: torch.Tensor):
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = ((boxes[:, 2] - boxes[:, 0]).clamp(min=1) * (boxes[:, 3] - boxes[:, 1]).clamp(min=1)).sqrt()
    return centre, size


def score_labels(boxes: torch.Tensor, size: tuple[int, int], stride: int, sigma_factor: float) -> torch.Tensor:
    """Gaussian labels ``(N, H, W)`` centred on each box."""
    centre, sz = _centre_and_size(boxes)
    return gaussian_label(size, centre, sigma_factor * sz, stride=stride, offset=stride / 2)


def regression_targets(boxes: torch.Tensor, size: tuple[int, int], stride: int = 4):
    """``(targets (N, 4, H, W), mask (N, 1, H, W))``: ltrb / REG_UNIT and the near-centre cells."""
    pts = cell_points(size[0], size[1], stride, boxes.device)                       # (H, W, 2)
    ltrb = ltrb_distances(pts[None], boxes[:, None, None, :]) / REG_UNIT            # (N, H, W, 4)
    centre, _ = _centre_and_size(boxes)
    ci = (centre / stride - 0.5)                                                    # cell coords
    d = (pts[None] / stride - 0.5) - ci[:, None, None, :]
    mask = (d.abs().amax(-1) <= REG_RADIUS + 0.5).to(boxes.dtype)
    return ltrb.permute(0, 3, 1, 2).contiguous(), mask[:, None]


def boxes_from_maps(reg: torch.Tensor, stride: int = 4) -> torch.Tensor:
    """Every cell's box ``(N, H, W, 4)`` xyxy from ltrb maps ``(N, 4, H, W)``."""
    n, _, h, w = reg.shape
    pts = cell_points(h, w, stride, reg.device)
    return boxes_from_ltrb(pts[None], reg.permute(0, 2, 3, 1) * REG_UNIT)
