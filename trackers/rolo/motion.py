"""The track's motion, fitted on its recent detections: the ``coast`` carry of the coordinate LSTM.

Why: with the other carry modes the LSTM's only motion cue in a gap is the
motion of its own outputs, and anything it adds to that motion is integrated
frame after frame -- measured in session 4: on the occlusion goal clip the
shipped LSTM's box slowed down behind the wall and then moved backwards.
Here the velocity is a least-squares line through the assigned detections'
centres over the last :data:`MOTION_SPAN` frames, refitted only on frames with
a detection (and at least three in the span) and frozen otherwise (a gap), so a bias of the LSTM's
correction drifts the box linearly instead of bending its velocity.

The LSTM also gets how well a straight line explains those detections (the
fit's RMS residual in box sizes) and how many frames ago the last detection
was, so it can learn when to believe the line: a constant-velocity target
behind a wall, or a target jittering under a panning camera.

One function, :func:`fit_motion`, serves the tracker (batch 1, one call per
frame) and the training rollouts (a batch, one call per frame), so both see
exactly the same numbers.
"""
from __future__ import annotations

import torch

MOTION_SPAN = 10         # frames of detections a velocity is fitted over
MOTION_DIM = 4           # (vx, vy) * OFFSET_SCALE, fit residual in box sizes, frames since a detection / span
MIN_DETECTIONS = 3       # fewer in the span, or none this frame: keep the previous velocity (and residual)
MAX_RESIDUAL = 2.0


def fit_motion(det: torch.Tensor, has: torch.Tensor, previous: torch.Tensor, offset_scale: float) -> torch.Tensor:
    """``det (B, T, 4)`` normalised ``(cx, cy, w, h)`` of the last ``T <= MOTION_SPAN`` frames (the last
    is the current frame), ``has (B, T)`` 1 where a detection was assigned, ``previous (B, 4)`` the last
    call's result (zeros at the start) -> ``(B, 4)``: velocity of the centre per frame (scaled by
    ``offset_scale``), RMS residual of the fit in box sizes, frames since the last detection / span."""
    steps = det.shape[1]
    w = has.to(det.dtype)
    t = torch.arange(steps, dtype=det.dtype, device=det.device)[None].expand_as(w)
    n = w.sum(1)
    safe_n = n.clamp(min=1)
    t_mean = (w * t).sum(1) / safe_n
    c_mean = (w[..., None] * det[..., :2]).sum(1) / safe_n[:, None]
    dt = (t - t_mean[:, None]) * w
    var = (dt * dt).sum(1).clamp(min=1e-6)
    slope = (dt[..., None] * (det[..., :2] - c_mean[:, None])).sum(1) / var[:, None]
    resid = (det[..., :2] - c_mean[:, None] - slope[:, None] * (t - t_mean[:, None])[..., None]) * w[..., None]
    rms = torch.sqrt((resid ** 2).sum((1, 2)) / (2 * (n - 2).clamp(min=1)))
    size = (w * torch.sqrt(det[..., 2].clamp(min=1e-6) * det[..., 3].clamp(min=1e-6))).sum(1) / safe_n
    residual = (rms / size.clamp(min=1e-3)).clamp(max=MAX_RESIDUAL)
    fitted = torch.cat([slope * offset_scale, residual[:, None]], 1)
    # refit only on a frame with a detection: in a gap the span empties frame by frame and a line
    # through its last two or three detections would be the noisiest estimate of all
    refit = (n >= MIN_DETECTIONS) & (w[:, -1] > 0)
    kept = torch.where(refit[:, None], fitted, previous[:, :3])
    # frames since the last detection within the span (the span's length when there is none)
    last = torch.where(w > 0, t, torch.full_like(t, -1.0)).max(1).values
    since = torch.where(last >= 0, steps - 1 - last, torch.full_like(last, float(steps)))
    return torch.cat([kept, (since / MOTION_SPAN)[:, None]], 1)
