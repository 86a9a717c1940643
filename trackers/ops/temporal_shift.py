"""Temporal channel shift (TSM, Lin et al. 2019) along a time axis; pure data movement.

``temporal_shift(x, mode)`` with ``x`` of shape ``(T, C, H, W)`` or ``(N, T, C, H, W)``
(time = the first, resp. second, axis) and ``K = C // fold_div``:

* ``"bidirectional"`` (SiamTFA Eq. 1): ``out[t] = cat(x[t-1, :K], x[t+1, K:2K], x[t, 2K:])``
* ``"causal"`` (online use, no future frame): ``out[t] = cat(x[t-1, :K], x[t, K:])``

At the ends of the time axis the missing neighbour is the frame itself
(``x[-1] := x[0]``, ``x[T] := x[T-1]``), not zeros: a tracker's first frame has
no past, and repeating it (a still video) keeps the feature statistics the
following layers were trained on.
"""
from __future__ import annotations

import torch

MODES = ("bidirectional", "causal")


def temporal_shift(x: torch.Tensor, mode: str = "bidirectional", fold_div: int = 8) -> torch.Tensor:
    if mode not in MODES:
        raise ValueError(f"temporal shift mode must be one of {MODES}, got {mode!r}")
    if x.ndim not in (4, 5):
        raise ValueError(f"temporal_shift needs (T, C, H, W) or (N, T, C, H, W), got {tuple(x.shape)}")
    dim = x.ndim - 4             # the time axis
    k = x.shape[dim + 1] // fold_div
    if k == 0:
        return x
    past = torch.cat([x.narrow(dim, 0, 1), x.narrow(dim, 0, x.shape[dim] - 1)], dim)    # x[t-1]
    out = x.clone()
    out[..., :k, :, :] = past[..., :k, :, :]
    if mode == "bidirectional":
        future = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), x.narrow(dim, x.shape[dim] - 1, 1)], dim)  # x[t+1]
        out[..., k:2 * k, :, :] = future[..., k:2 * k, :, :]
    return out
