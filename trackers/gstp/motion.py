"""The GSTP motion model (paper §2.2): a small HRNet that predicts where the target is now.

Input: the current frame squeezed to ``size`` x ``size`` RGB plus ``K``
trajectory heatmaps (one per past frame, oldest first; a 2-D Gaussian with
sigma = 3 px at the network's resolution on the target centre, all zeros when
the target was absent or unknown) -> ``(3 + K, size, size)``.  Output: a
``size`` x ``size`` heatmap of the target position, trained with MSE against
the same Gaussian at the true position.

HRNet structure, narrow: a stride-2 stem, then parallel branches at 1/2, 1/4
and 1/8 of the input (widths 12, 24, 48) added one by one, with repeated
multi-resolution fusion (every branch receives every other branch: strided
3x3 convolutions downwards, 1x1 convolution + upsampling upwards).  The
heatmap is read from the highest-resolution branch (1x1 convolution),
bilinearly upsampled to ``size``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SIGMA = 3.0


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = _conv_bn(c, c)
        self.b = _conv_bn(c, c, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(self.a(x)))


class FuseLayer(nn.Module):
    """Exchange information across branches: output j = ReLU(sum_i transform_ij(x_i)).

    ``out_widths`` may have one entry more than ``in_widths``: the new,
    half-resolution branch is made from all existing ones.
    """

    def __init__(self, in_widths: tuple[int, ...], out_widths: tuple[int, ...]) -> None:
        super().__init__()
        self.paths = nn.ModuleList()
        for j, wj in enumerate(out_widths):
            row = nn.ModuleList()
            for i, wi in enumerate(in_widths):
                if i == j:
                    row.append(nn.Identity())
                elif i > j:   # lower resolution -> higher: 1x1 then upsample (in forward)
                    row.append(_conv_bn(wi, wj, 1, relu=False))
                else:         # higher resolution -> lower: (j - i) strided 3x3 convolutions
                    steps = [_conv_bn(wi, wi, 3, 2) for _ in range(j - i - 1)]
                    steps.append(_conv_bn(wi, wj, 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            self.paths.append(row)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for j, row in enumerate(self.paths):
            acc = None
            for i, path in enumerate(row):
                y = path(xs[i])
                if i > j:
                    y = F.interpolate(y, size=xs[j].shape[-2:], mode="bilinear", align_corners=False)
                acc = y if acc is None else acc + y
            out.append(F.relu(acc))
        return out


class Stage(nn.Module):
    """Blocks on every branch, then a fusion that may add one lower-resolution branch."""

    def __init__(self, widths: tuple[int, ...], blocks: int, new_width: int | None) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(w) for _ in range(blocks)]) for w in widths)
        self.fuse = FuseLayer(widths, widths + ((new_width,) if new_width else ()))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.fuse([b(x) for b, x in zip(self.branches, xs)])


class MotionHRNet(nn.Module):
    def __init__(self, history: int = 8, size: int = 64, widths: tuple[int, int, int] = (12, 24, 48)) -> None:
        super().__init__()
        self.history, self.size = history, size
        w0, w1, w2 = widths
        self.stem = nn.Sequential(_conv_bn(3 + history, w0, 3, 2), BasicBlock(w0))
        self.stage2 = Stage((w0,), 1, w1)              # -> 2 branches
        self.stage3 = Stage((w0, w1), 1, w2)           # -> 3 branches
        self.stage4 = Stage((w0, w1, w2), 1, None)     # repeated fusion
        self.stage5 = Stage((w0, w1, w2), 1, None)
        self.head = nn.Conv2d(w0, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3 + K, size, size)`` -> heatmap ``(N, size, size)``."""
        xs = [self.stem(x)]
        for stage in (self.stage2, self.stage3, self.stage4, self.stage5):
            xs = stage(xs)
        y = F.interpolate(self.head(xs[0]), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y[:, 0]


def gaussian_maps(points: np.ndarray, size: int, sigma: float = SIGMA) -> np.ndarray:
    """``(K, 2)`` centres in network pixels (nan row = none) -> ``(K, size, size)`` float32 Gaussians."""
    points = np.asarray(points, np.float32).reshape(-1, 2)
    grid = np.arange(size, dtype=np.float32) + 0.5
    out = np.zeros((len(points), size, size), np.float32)
    for k, (x, y) in enumerate(points):
        if np.isfinite(x) and np.isfinite(y):
            out[k] = np.exp(-((grid[None, :] - x) ** 2 + (grid[:, None] - y) ** 2) / (2 * sigma ** 2))
    return out


def motion_input(thumb: np.ndarray, history: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """``(size, size, 3)`` uint8 + ``(K, 2)`` past centres -> ``(3 + K, size, size)`` float32 input."""
    size = thumb.shape[0]
    rgb = (thumb.astype(np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return np.concatenate([rgb, gaussian_maps(history, size, sigma)], 0)
