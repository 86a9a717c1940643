"""Frame -> stride-16 backbone features, the same way for tracking and for the training cache.

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

STRIDE = 16
CHANNELS = 112  # EfficientNet-Lite0 at stride 16


def input_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """``(w, h)`` of the resized frame: longer side ~``long_side``, both multiples of 16."""
    scale = long_side / max(width, height)
    w = max(STRIDE * 4, int(round(width * scale / STRIDE)) * STRIDE)
    h = max(STRIDE * 4, int(round(height * scale / STRIDE)) * STRIDE)
    return w, h


class FrameEncoder:
    """Wraps the shared EfficientNet-Lite0 trunk (ImageNet weights, stops at stride 16)."""

    def __init__(self, long_side: int = 352, device: str = "cpu") -> None:
        self.long_side = long_side
        self.device = torch.device(device)
        self.net = backbones.build("lite0", taps=(STRIDE,), pretrained=True).to(self.device)

    @torch.no_grad()
    def __call__(self, frame_rgb: np.ndarray) -> torch.Tensor:
        """``HxWx3`` uint8 RGB -> ``(1, 112, h/16, w/16)`` float features."""
        w, h = input_size(frame_rgb.shape[1], frame_rgb.shape[0], self.long_side)
        small = cv2.resize(frame_rgb, (w, h), interpolation=cv2.INTER_AREA)
        return self.net(backbones.normalize(small, device=self.device))[STRIDE]
