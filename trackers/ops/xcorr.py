"""Cross-correlation of search features with target kernels (Siamese trackers)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def dw_xcorr(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depth-wise cross-correlation: ``(N, C, H, W) x (N, C, h, w) -> (N, C, H-h+1, W-w+1)``.

    Each channel of each search map is correlated (no flip, no padding) with the
    same channel of its own kernel, via one grouped convolution.
    """
    n, c, h, w = search.shape
    if kernel.shape[:2] != (n, c):
        raise ValueError(f"kernel {tuple(kernel.shape)} does not match search {tuple(search.shape)}")
    out = F.conv2d(search.reshape(1, n * c, h, w), kernel.reshape(n * c, 1, *kernel.shape[2:]), groups=n * c)
    return out.reshape(n, c, out.shape[-2], out.shape[-1])


def xcorr(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Plain (channel-summed) cross-correlation: ``(N, C, H, W) x (N, C, h, w) -> (N, 1, H', W')``."""
    return dw_xcorr(search, kernel).sum(1, keepdim=True)
