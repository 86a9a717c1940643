"""Whole-frame inputs of GSTP, computed the same way for tracking and for the training cache.

* SiamRCNN: the frame resized so its longer side is ``long_side`` pixels (384
  by default; both sides rounded to multiples of 16, at least 64) through the
  frozen EfficientNet-Lite0 trunk, stride-16 tap (112 channels).  A 640x360
  frame becomes 384x224, a 24x14 feature grid.  Boxes are carried in the
  resized frame's pixels; :class:`FrameGeometry` converts.
* Motion model: the frame squeezed to ``motion_size`` x ``motion_size`` (64)
  RGB, aspect ratio not kept (the trajectory heatmaps use the same squeeze).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .. import backbones

STRIDE = 16
CHANNELS = 112  # EfficientNet-Lite0 at stride 16
DEFAULT_LONG_SIDE = 384
MOTION_SIZE = 64


@dataclass(frozen=True)
class FrameGeometry:
    """Original frame size and the resized network input size; box conversion between them."""

    width: int
    height: int
    in_width: int
    in_height: int

    @classmethod
    def of(cls, width: int, height: int, long_side: int = DEFAULT_LONG_SIDE) -> "FrameGeometry":
        scale = long_side / max(width, height)
        w = max(STRIDE * 4, int(round(width * scale / STRIDE)) * STRIDE)
        h = max(STRIDE * 4, int(round(height * scale / STRIDE)) * STRIDE)
        return cls(int(width), int(height), w, h)

    @property
    def sx(self) -> float:
        return self.in_width / self.width

    @property
    def sy(self) -> float:
        return self.in_height / self.height

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """``(..., 4)`` xywh frame boxes -> resized-input boxes."""
        return np.asarray(boxes, np.float32) * np.array([self.sx, self.sy, self.sx, self.sy], np.float32)

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        return np.asarray(boxes, np.float32) / np.array([self.sx, self.sy, self.sx, self.sy], np.float32)

    @property
    def grid(self) -> tuple[int, int]:
        """``(h, w)`` of the stride-16 feature grid."""
        return self.in_height // STRIDE, self.in_width // STRIDE


def motion_thumbnail(frame_rgb: np.ndarray, size: int = MOTION_SIZE) -> np.ndarray:
    """``size x size x 3`` uint8: the whole frame squeezed for the motion model."""
    return cv2.resize(frame_rgb, (size, size), interpolation=cv2.INTER_AREA)


class FrameEncoder:
    """The shared EfficientNet-Lite0 trunk (ImageNet weights, BN folded, stops at stride 16)."""

    def __init__(self, long_side: int = DEFAULT_LONG_SIDE, device: str = "cpu") -> None:
        self.long_side = int(long_side)
        self.device = torch.device(device)
        self.net = backbones.build("lite0", taps=(STRIDE,), pretrained=True).to(self.device)

    def geometry(self, frame_rgb: np.ndarray) -> FrameGeometry:
        return FrameGeometry.of(frame_rgb.shape[1], frame_rgb.shape[0], self.long_side)

    @torch.no_grad()
    def __call__(self, frame_rgb: np.ndarray) -> torch.Tensor:
        """``HxWx3`` uint8 RGB -> ``(1, 112, h/16, w/16)`` float features of the resized frame."""
        g = self.geometry(frame_rgb)
        small = cv2.resize(frame_rgb, (g.in_width, g.in_height), interpolation=cv2.INTER_AREA)
        return self.net(backbones.normalize(small, device=self.device))[STRIDE]
