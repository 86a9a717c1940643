"""SiamTFA network on EfficientNet-Lite0.

* **Trunk** (frozen, outside this module): Lite0 up to stride 16 (taps 8 and 16).
* **Last stage** (:class:`ShiftedLastStage`): Lite0 blocks 11-15 (stride 32), BN folded.
  The temporal shift (Eq. 1) is applied to the input of the residual branch of
  each residual block (12, 13, 14): ``y = x + F(shift(x))``.  Frames of one clip
  are the time axis.  Blocks 11 and 15 change shape and have no residual, so
  they are not shifted (as in TSM's residual shift).
* **FPN** (:class:`Pyramid`): levels at strides 8, 16, 32 and 64 (P64 by a
  stride-2 convolution on P32).  Stride 4 is left out: search crops are
  scale-normalised (the target is ~64 px in a 256 px crop), so stride-4
  levels with FPN's 16 px anchors would never match and cost the largest map.
* **Modulation + RPN** (:class:`SiamTFAHeads`): the template feature ``f_z`` is
  a 7x7 RoIAlign of the target on the template's P16; its global average
  ``f_avg`` depth-wise correlates (a 1x1 kernel per channel) with every level
  (Eq. 2); a head shared by the levels gives ``2k`` class and ``4k`` box
  logits per cell for ``k = 3`` anchors (aspect ratios 0.5, 1, 2; side 4x the
  level's stride).
* **Refine**: RoIAlign (7x7, P16) of each proposal times ``f_z`` (Eq. 3) ->
  two FC layers -> foreground/background and box deltas.  Adversarial dropout
  acts on that product ``X`` during training (:mod:`.adversarial`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import backbones
from ..ops import dw_xcorr, roi_align
from ..ops.temporal_shift import temporal_shift

LEVELS = (8, 16, 32, 64)
ANCHOR_RATIOS = (0.5, 1.0, 2.0)     # h / w
ANCHOR_SIDE = 4                      # anchor side = ANCHOR_SIDE * stride
FPN_CH = 64
ROI = 7
LAST_STAGE = range(11, 16)           # Lite0 blocks at stride 32
REFINE_HIDDEN = 128


class ShiftedLastStage(nn.Module):
    """Lite0 blocks 11-15 with the temporal shift in the residual branches."""

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        trunk = backbones.build("lite0", taps=(32,), pretrained=pretrained)
        self.blocks = nn.ModuleList(trunk._blocks[i] for i in LAST_STAGE)

    def forward(self, x: torch.Tensor, mode: str | None = None, frames: int = 1) -> torch.Tensor:
        """``x``: ``(N * frames, 112, h, w)`` clips of ``frames`` consecutive frames -> ``(N * frames, 320, h/2, w/2)``."""
        for block in self.blocks:
            if block.residual and mode is not None and frames > 1:
                n = x.shape[0] // frames
                s = temporal_shift(x.view(n, frames, *x.shape[1:]), mode).view_as(x)
                # the block adds its own input: block(s) = s + F(s); we want x + F(s)
                x = block(s) - s + x
            else:
                x = block(x)
        return x


class Pyramid(nn.Module):
    """Top-down FPN: ``{8: c8, 16: c16, 32: c32}`` -> ``{8, 16, 32, 64: (N, FPN_CH, ...)}``.

    ``c8`` may be missing (the template needs P16 only): then P8 is not made.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lateral = nn.ModuleDict({"8": nn.Conv2d(40, FPN_CH, 1), "16": nn.Conv2d(112, FPN_CH, 1),
                                      "32": nn.Conv2d(320, FPN_CH, 1)})
        self.smooth = nn.ModuleDict({k: nn.Conv2d(FPN_CH, FPN_CH, 3, padding=1) for k in ("8", "16", "32")})
        self.down = nn.Conv2d(FPN_CH, FPN_CH, 3, stride=2, padding=1)

    def forward(self, c: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        p32 = self.lateral["32"](c[32])
        p16 = self.lateral["16"](c[16]) + F.interpolate(p32, size=c[16].shape[-2:], mode="nearest")
        out = {32: self.smooth["32"](p32), 16: self.smooth["16"](p16)}
        if 8 in c:
            p8 = self.lateral["8"](c[8]) + F.interpolate(p16, size=c[8].shape[-2:], mode="nearest")
            out[8] = self.smooth["8"](p8)
        out[64] = self.down(F.relu(out[32]))
        return out


class SiamTFAHeads(nn.Module):
    """Everything trained: FPN, RPN head, refine head (the saved weights)."""

    def __init__(self) -> None:
        super().__init__()
        a = len(ANCHOR_RATIOS)
        self.fpn = Pyramid()
        self.rpn_conv = nn.Conv2d(FPN_CH, FPN_CH, 3, padding=1)
        self.rpn_cls = nn.Conv2d(FPN_CH, 2 * a, 1)
        self.rpn_reg = nn.Conv2d(FPN_CH, 4 * a, 1)
        self.fc1 = nn.Linear(FPN_CH * ROI * ROI, REFINE_HIDDEN)
        self.fc2 = nn.Linear(REFINE_HIDDEN, REFINE_HIDDEN)
        self.cls = nn.Linear(REFINE_HIDDEN, 2)
        self.reg = nn.Linear(REFINE_HIDDEN, 4)
        nn.init.normal_(self.rpn_reg.weight, std=0.01)
        nn.init.zeros_(self.rpn_reg.bias)
        nn.init.normal_(self.reg.weight, std=0.001)
        nn.init.zeros_(self.reg.bias)

    # -- template ---------------------------------------------------------------
    def template(self, c16: torch.Tensor, c32: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """``f_z`` ``(N, FPN_CH, 7, 7)`` of xyxy template-crop ``boxes`` ``(N, 4)``."""
        p = self.fpn({16: c16, 32: c32})
        rois = torch.cat([torch.arange(len(boxes), dtype=boxes.dtype)[:, None], boxes], 1)
        return roi_align(p[16], rois, ROI, 1 / 16)

    # -- stage 1 ----------------------------------------------------------------
    def rpn(self, pyramid: dict[int, torch.Tensor], f_z: torch.Tensor):
        """Per level: modulated feature (Eq. 2), class logits ``(N, 2A, h, w)``, deltas ``(N, 4A, h, w)``."""
        f_avg = f_z.mean(dim=(2, 3), keepdim=True)
        out = {}
        for level in LEVELS:
            mod = dw_xcorr(pyramid[level], f_avg)
            h = F.relu(self.rpn_conv(mod))
            out[level] = (mod, self.rpn_cls(h), self.rpn_reg(h))
        return out

    # -- stage 2 ----------------------------------------------------------------
    def fuse(self, p16: torch.Tensor, rois: torch.Tensor, f_z: torch.Tensor) -> torch.Tensor:
        """``X = RoIAlign(b, F_x) * f_z`` (Eq. 3); ``rois`` ``(K, 5)`` rows (batch, x0, y0, x1, y1)."""
        return roi_align(p16, rois, ROI, 1 / 16) * f_z[rois[:, 0].long()]

    def refine(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``h^cls``, ``h^reg`` of fused RoI features ``(K, C, 7, 7)``: logits ``(K, 2)``, deltas ``(K, 4)``."""
        h = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
        return self.cls(h), self.reg(h)
