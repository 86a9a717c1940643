"""Gaussian label maps: training targets for score maps."""
from __future__ import annotations

import torch


def gaussian_label(size: tuple[int, int], center: torch.Tensor, sigma: float | torch.Tensor,
                   stride: float = 1.0, offset: float = 0.0) -> torch.Tensor:
    """``exp(-d^2 / (2 sigma^2))`` on an ``(H, W)`` grid of cell centres.

    Cell ``(i, j)`` sits at image point ``(offset + j * stride, offset + i * stride)``;
    ``center`` is ``(2,)`` or ``(N, 2)`` image-space ``(x, y)``, ``sigma`` in image
    units.  Returns ``(H, W)`` or ``(N, H, W)``.
    """
    h, w = size
    center = torch.as_tensor(center, dtype=torch.float32)
    squeeze = center.ndim == 1
    center = center.reshape(-1, 2)
    ys = offset + stride * torch.arange(h, dtype=torch.float32, device=center.device)
    xs = offset + stride * torch.arange(w, dtype=torch.float32, device=center.device)
    sigma = torch.as_tensor(sigma, dtype=torch.float32, device=center.device).reshape(-1, 1, 1)
    dy = (ys[None, :, None] - center[:, 1, None, None]) ** 2
    dx = (xs[None, None, :] - center[:, 0, None, None]) ** 2
    out = torch.exp(-(dx + dy) / (2 * sigma ** 2))
    return out[0] if squeeze else out
