"""Global attention model (§4): past segmentation maps -> theta = (shift, scale) of a square anchor.

Input: the previous full-frame segmentation map resized to ``MAP_SIZE`` squared
(64 instead of the paper's 224: CPU training), with two coordinate channels
added (CoordConv: absolute position is what theta encodes, plain convolutions
are blind to it).  Four stages of two 3x3 convs + 2x2 max-pool (4, 8, 16, 32
channels: half of Table 1) -> 2-layer ConvLSTM (32 ch at 4x4) -> FC 256 -> concat
the frame's aspect ratio -> FC 3.

Deviation, for CPU training budgets: the FC output is a *correction* added to
the theta implied by the input map's own moments (:func:`map_theta`: centroid,
spread; an empty map keeps the last one), instead of theta from scratch.  The
ConvLSTM still carries the history (motion, scale trend) the correction needs;
from scratch, the regression did not converge in the minutes a run may take.

theta = (tx, ty, log_s): anchor centre in normalised frame coordinates
(-1..1 across the width / height) and the log of its side relative to
``ANCHOR_FRACTION`` x the frame's shorter side.  The anchor is square *in frame
pixels*, so on the (squashed) map it is a ``side/W`` x ``side/H`` rectangle.
The anchor is fitted to the object (side = the object's longer side); the ROI
the local model crops is ``ROI_CONTEXT`` times the anchor (§3.3: "twice the
longer length of the object").
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .convlstm import ConvLSTM

MAP_SIZE = 64
ANCHOR_FRACTION = 0.25
ROI_CONTEXT = 2.0
ROI_MIN, ROI_MAX = 56.0, 672.0     # §3.3 bounds on the ROI side, frame pixels
BURN_IN = 5                        # §4: loss counts from the 5th step (paper: i = 5)
SMOOTH_LAMBDA = 0.1                # weight of ||theta_t - theta_{t-1}|| in Eq. 4
FG_WEIGHT = 4.0                    # weighted L2: missing foreground costs more than covering background


def coord_channels(batch: int, size: int, device=None) -> torch.Tensor:
    r = (torch.arange(size, device=device, dtype=torch.float32) * 2 + 1) / size - 1
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([xx, yy])[None].expand(batch, 2, size, size)


class GlobalModel(nn.Module):
    def __init__(self, map_size: int = MAP_SIZE, hidden: int = 32) -> None:
        super().__init__()
        self.map_size = map_size
        chans = (3, 4, 8, 16, 32)
        layers: list[nn.Module] = []
        for a, b in zip(chans, chans[1:]):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU(inplace=True),
                       nn.Conv2d(b, b, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.convs = nn.Sequential(*layers)
        g = map_size // 16
        self.lstm = ConvLSTM(chans[-1], hidden, (g, g), layers=2)
        self.fc1 = nn.Sequential(nn.Linear(hidden * g * g, 256), nn.ReLU(inplace=True))
        self.fc2 = nn.Linear(256 + 1, 3)
        with torch.no_grad():
            self.fc2.weight.mul_(0.1)
            self.fc2.bias.zero_()

    def zero_state(self, batch: int, device=None):
        return self.lstm.zero_state(batch, device), None

    def step(self, seg_map: torch.Tensor, aspect: torch.Tensor, state):
        """``seg_map`` ``(B, 1, G, G)`` in [0, 1], ``aspect`` ``(B,)`` = W / H -> (theta ``(B, 3)``, state)."""
        return self._recur(self.encode(seg_map), map_theta(seg_map, aspect), aspect, state)

    def encode(self, seg_map: torch.Tensor) -> torch.Tensor:
        """The conv + pool stack (no recurrence: training runs it on all steps at once)."""
        x = torch.cat([seg_map, coord_channels(len(seg_map), self.map_size, seg_map.device)], 1)
        return self.convs(x)

    def _recur(self, feats: torch.Tensor, base: tuple[torch.Tensor, torch.Tensor], aspect: torch.Tensor, state):
        lstm_state, prev_base = state
        base_theta, present = base
        if prev_base is not None:      # an empty map (target lost) keeps the last base
            base_theta = torch.where(present[:, None], base_theta, prev_base)
        h, lstm_state = self.lstm(feats, lstm_state)
        f = self.fc1(h.flatten(1))
        delta = self.fc2(torch.cat([f, torch.log(aspect.to(f.dtype))[:, None]], 1))
        return base_theta + delta, (lstm_state, base_theta)

    def forward(self, maps: torch.Tensor, aspect: torch.Tensor, warmup: int = 0) -> torch.Tensor:
        """``maps`` ``(B, T, 1, G, G)`` (Z_{0..T-1}) -> thetas ``(B, warmup + T, 3)``.

        ``warmup`` extra steps first feed ``maps[:, 0]`` (the burn-in on the first map that
        inference does too); its features are computed once."""
        B, T = maps.shape[:2]
        feats = self.encode(maps.flatten(0, 1)).unflatten(0, (B, T))
        bt, bp = map_theta(maps.flatten(0, 1), aspect.repeat_interleave(T))
        bt, bp = bt.unflatten(0, (B, T)), bp.unflatten(0, (B, T))
        state = self.zero_state(B, maps.device)
        out = []
        for t in range(-warmup, T):
            k = max(t, 0)
            theta, state = self._recur(feats[:, k], (bt[:, k], bp[:, k]), aspect, state)
            out.append(theta)
        return torch.stack(out, 1)


def map_theta(seg_map: torch.Tensor, aspect: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """theta of the box implied by a map's moments (centroid; side from the spread, sqrt(12) std
    for a uniform box) and whether the map has any mass: the base the FC layers correct."""
    p = seg_map[:, 0]
    G = p.shape[-1]
    r = (torch.arange(G, device=p.device, dtype=p.dtype) * 2 + 1) / G - 1
    mass = p.sum((-2, -1))
    present = mass > 0.5
    m = mass.clamp(min=1e-6)
    px, py = p.sum(-2), p.sum(-1)                    # marginals over x and y
    cx, cy = (px * r).sum(-1) / m, (py * r).sum(-1) / m
    sx = ((px * (r - cx[:, None]) ** 2).sum(-1) / m).clamp(min=1e-6).sqrt()
    sy = ((py * (r - cy[:, None]) ** 2).sum(-1) / m).clamp(min=1e-6).sqrt()
    a = aspect.to(p.dtype)
    short = torch.clamp(a, max=1.0)                  # min(W, H) / H
    w_rel = 12 ** 0.5 * sx / 2 * a / short           # box width / min(W, H)
    h_rel = 12 ** 0.5 * sy / 2 / short
    ls = torch.log(torch.maximum(w_rel, h_rel).clamp(min=1e-3) / ANCHOR_FRACTION)
    return torch.stack([cx, cy, ls], -1), present


# -- geometry -----------------------------------------------------------------------------------
def anchor_side(theta_log_s, width: float, height: float):
    return ANCHOR_FRACTION * min(width, height) * (torch.exp(theta_log_s) if torch.is_tensor(theta_log_s)
                                                   else math.exp(theta_log_s))


def theta_from_box(box, width: int, height: int) -> np.ndarray:
    """The theta whose anchor is centred on ``box`` (x, y, w, h) with side = its longer side."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h, 1.0)
    return np.array([2 * (x + w / 2) / width - 1, 2 * (y + h / 2) / height - 1,
                     math.log(side / (ANCHOR_FRACTION * min(width, height)))], np.float32)


def roi_from_theta(theta, width: int, height: int) -> tuple[tuple[float, float], float]:
    """(centre in frame pixels, ROI side in pixels) of the ROI the local model crops."""
    tx, ty, ls = (float(v) for v in theta)
    side = ROI_CONTEXT * float(anchor_side(float(np.clip(ls, -6, 3)), width, height))
    side = float(np.clip(side, ROI_MIN, ROI_MAX))
    cx = (float(np.clip(tx, -1.5, 1.5)) + 1) / 2 * width
    cy = (float(np.clip(ty, -1.5, 1.5)) + 1) / 2 * height
    return (cx, cy), side


def render_anchor(theta: torch.Tensor, aspect: torch.Tensor, size: int = MAP_SIZE,
                  sharpness: float | None = None) -> torch.Tensor:
    """T(theta)(Z_A): the soft square anchor on the ``size`` x ``size`` map, ``(..., size, size)``.

    ``theta`` ``(..., 3)``, ``aspect`` broadcastable to ``theta[..., 0]``.  Differentiable in theta.
    """
    k = sharpness if sharpness is not None else size / 2.0
    r = (torch.arange(size, device=theta.device, dtype=theta.dtype) * 2 + 1) / size - 1
    aspect = aspect.to(theta.dtype)
    # half-extents in normalised units: side / W and side / H with side = F * min(W, H) * s
    s = ANCHOR_FRACTION * torch.exp(theta[..., 2].clamp(-6, 3))
    hx = s * torch.clamp(1 / aspect, max=1.0)      # min(W,H)/W
    hy = s * torch.clamp(aspect, max=1.0)          # min(W,H)/H
    ax = torch.sigmoid(k * (hx[..., None] - (r - theta[..., 0, None]).abs()))
    ay = torch.sigmoid(k * (hy[..., None] - (r - theta[..., 1, None]).abs()))
    return ay[..., :, None] * ax[..., None, :]


def global_loss(thetas: torch.Tensor, targets: torch.Tensor, target_thetas: torch.Tensor, aspect: torch.Tensor,
                valid: torch.Tensor, burn_in: int = BURN_IN, smooth_lambda: float = SMOOTH_LAMBDA,
                theta_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """Eq. 4 from step ``burn_in`` on: weighted L2 between T(theta_t)(Z_A) and Z_t, plus
    ``lambda * ||theta_t - theta_{t-1}||``, plus a direct term on theta (``theta_weight``)
    because the rendered-box loss has no gradient while the anchor misses the object entirely.

    ``thetas`` ``(B, T, 3)``; ``targets`` ``(B, T, G, G)`` (Z_t); ``target_thetas`` ``(B, T, 3)``;
    ``valid`` ``(B, T)`` (target present).
    """
    anchors = render_anchor(thetas, aspect[:, None], targets.shape[-1])
    weight = 1 + (FG_WEIGHT - 1) * targets
    l2 = (weight * (anchors - targets) ** 2).mean((-2, -1))
    smooth = (thetas[:, 1:] - thetas[:, :-1]).norm(dim=-1)
    smooth = F.pad(smooth, (1, 0))
    direct = F.smooth_l1_loss(thetas, target_thetas, reduction="none", beta=0.1).sum(-1)
    counted = valid.clone().float()
    counted[:, :burn_in] = 0
    n = counted.sum().clamp(min=1)
    l2m, sm, dm = (l2 * counted).sum() / n, (smooth * counted).sum() / n, (direct * counted).sum() / n
    loss = l2m + smooth_lambda * sm + theta_weight * dm
    return loss, {"l2": float(l2m.detach()), "smooth": float(sm.detach()), "theta": float(dm.detach())}
