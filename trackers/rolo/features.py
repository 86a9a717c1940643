"""Frame -> backbone features, the same way for tracking and for the training cache.

The detector works on a stride-8 grid: the stride-8 tap (40 channels) with
the stride-16 tap (112 channels, more semantic) upsampled onto it.  At
stride 16 and ~352 px the held-out targets (cars, skaters: 1-1.5 cells
wide) were too small to localise.

Frames are resized so the longer side is ``long_side`` pixels (352 by
default) and each side a multiple of 16: the stride-16 grid then covers the
resized frame exactly, so a normalised box maps to feature cells by a plain
multiplication (the slight aspect change is harmless for features).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from .. import backbones

import torch.nn.functional as F

STRIDE = 8           # the grid the detector works on
TAPS = (8, 16)
CHANNELS = 40 + 112  # EfficientNet-Lite0 at strides 8 and 16


def input_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """``(w, h)`` of the resized frame: longer side ~``long_side``, both multiples of 16."""
    scale = long_side / max(width, height)
    w = max(64, int(round(width * scale / 16)) * 16)
    h = max(64, int(round(height * scale / 16)) * 16)
    return w, h


class FrameEncoder:
    """Wraps the shared EfficientNet-Lite0 trunk (ImageNet weights, stops at stride 16)."""

    def __init__(self, long_side: int = 352, device: str = "cpu") -> None:
        self.long_side = long_side
        self.device = torch.device(device)
        self.net = backbones.build("lite0", taps=TAPS, pretrained=True).to(self.device)

    @torch.no_grad()
    def taps(self, frame_rgb: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``HxWx3`` uint8 RGB -> stride-8 ``(1, 40, h/8, w/8)`` and stride-16 ``(1, 112, h/16, w/16)``."""
        w, h = input_size(frame_rgb.shape[1], frame_rgb.shape[0], self.long_side)
        small = cv2.resize(frame_rgb, (w, h), interpolation=cv2.INTER_AREA)
        out = self.net(backbones.normalize(small, device=self.device))
        return out[8], out[16]

    def __call__(self, frame_rgb: np.ndarray) -> torch.Tensor:
        """``HxWx3`` uint8 RGB -> fused ``(1, 152, h/8, w/8)`` detector input."""
        return fuse(*self.taps(frame_rgb))


def fuse(f8: torch.Tensor, f16: torch.Tensor) -> torch.Tensor:
    """Stride-8 features with the stride-16 ones upsampled onto their grid (channels concatenated)."""
    f8, f16 = f8.float(), f16.float()
    return torch.cat([f8, F.interpolate(f16, size=f8.shape[-2:], mode="bilinear", align_corners=False)], 1)
