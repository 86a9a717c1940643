"""SiamRCNN (GSTP paper §2.1) on frozen EfficientNet-Lite0 stride-16 features.

Template and search frame go through the same trunk (:mod:`.features`); the
heads here are the only trained part:

* **Feature fusion**: each side gets its own 1x1 "adjust" convolution (as in
  SiamRPN++, so the correlation works in a learned space although the trunk is
  frozen); the object features are the template box RoIAligned to
  ``kernel x kernel``; depth-wise cross-correlation with the (zero-padded)
  search features keeps the search grid; then two 1x1 convolutions (ReLU).
* **RPN head**: two sibling 1x1 convolutions, objectness ``2k`` and box deltas
  ``4k``.  The ``k`` anchors of a cell are scaled copies of the *template box*
  (``anchor_scales`` x ``anchor_ratios`` around its size and aspect): a tracked
  target keeps roughly its size, so these anchors need far fewer than a
  detector's fixed set.
* **RoI head**: RoIAlign 7x7 on the fusion features, a 1x1 and a strided 3x3
  convolution (our small stand-in for the paper's ResNet stage before
  pooling), global average pooling, sibling linear layers:
  foreground/background logits and box deltas.

Coordinates are pixels of the resized network input (``FrameGeometry``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import decode_deltas, dw_xcorr, nms, roi_align
from .features import CHANNELS, STRIDE

RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
ROI_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


class SiamRCNN(nn.Module):
    def __init__(self, in_channels: int = CHANNELS, channels: int = 64, kernel: int = 3,
                 anchor_scales: tuple[float, ...] = (0.6, 1.0, 1.6),
                 anchor_ratios: tuple[float, ...] = (0.6, 1.0, 1.6), roi_size: int = 7) -> None:
        super().__init__()
        self.kernel = kernel
        self.roi_size = roi_size
        self.register_buffer("anchor_shape", torch.tensor(
            [[s / r ** 0.5, s * r ** 0.5] for s in anchor_scales for r in anchor_ratios], dtype=torch.float32))
        k = len(anchor_scales) * len(anchor_ratios)
        self.num_anchors = k
        self.adjust_template = nn.Conv2d(in_channels, channels, 1)
        self.adjust_search = nn.Conv2d(in_channels, channels, 1)
        self.fusion = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True),
                                    nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True))
        self.rpn_cls = nn.Conv2d(channels, 2 * k, 1)
        self.rpn_reg = nn.Conv2d(channels, 4 * k, 1)
        half = channels // 2
        self.roi_conv = nn.Sequential(nn.Conv2d(channels, half, 1), nn.ReLU(inplace=True),
                                      nn.Conv2d(half, channels, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.roi_cls = nn.Linear(channels, 2)
        self.roi_reg = nn.Linear(channels, 4)
        for m in (self.rpn_cls, self.rpn_reg, self.roi_cls, self.roi_reg):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)

    # -- fusion ---------------------------------------------------------------
    def template_kernel(self, template_feats: torch.Tensor, boxes_xyxy: torch.Tensor) -> torch.Tensor:
        """``(N, C, h, w)`` template-frame features + ``(N, 4)`` boxes -> ``(N, ch, k, k)`` object features."""
        z = self.adjust_template(template_feats)
        idx = torch.arange(len(boxes_xyxy), dtype=boxes_xyxy.dtype, device=boxes_xyxy.device)[:, None]
        return roi_align(z, torch.cat([idx, boxes_xyxy], 1), self.kernel, 1.0 / STRIDE)

    def fuse(self, search_feats: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """Search features ``(N, C, H, W)`` correlated with object features -> fusion ``(N, ch, H, W)``."""
        x = self.adjust_search(search_feats)
        p = self.kernel // 2
        corr = dw_xcorr(F.pad(x, (p, p, p, p)), kernel) / float(self.kernel * self.kernel)
        return self.fusion(corr)

    # -- RPN --------------------------------------------------------------------
    def rpn(self, fused: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Objectness logits ``(N, A, 2)`` and deltas ``(N, A, 4)``, A = H*W*k in (cell row, cell col, anchor) order."""
        n, _, h, w = fused.shape
        k = self.num_anchors
        cls = self.rpn_cls(fused).view(n, k, 2, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 2)
        reg = self.rpn_reg(fused).view(n, k, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
        return cls, reg

    def anchors(self, grid: tuple[int, int], template_wh: torch.Tensor) -> torch.Tensor:
        """``(N, H*W*k, 4)`` xyxy anchors at cell centres, shaped after each template box ``(N, 2)``."""
        h, w = grid
        dev = template_wh.device
        cy = (torch.arange(h, dtype=torch.float32, device=dev) + 0.5) * STRIDE
        cx = (torch.arange(w, dtype=torch.float32, device=dev) + 0.5) * STRIDE
        cyy, cxx = torch.meshgrid(cy, cx, indexing="ij")
        centres = torch.stack((cxx, cyy), -1).reshape(1, h * w, 1, 2)
        side = template_wh.clamp(min=4.0)[:, None, None, :] * self.anchor_shape[None, None, :, :]  # (N,1,k,2)
        boxes = torch.cat((centres - side / 2, centres + side / 2), -1)
        return boxes.reshape(len(template_wh), -1, 4)

    @torch.no_grad()
    def proposals(self, cls: torch.Tensor, reg: torch.Tensor, anchors: torch.Tensor, size: tuple[int, int],
                  pre_nms: int = 150, post_nms: int = 16, iou: float = 0.7) -> tuple[torch.Tensor, torch.Tensor]:
        """Top proposals of one image: xyxy ``(P, 4)`` clipped to ``size`` (w, h), objectness ``(P,)``."""
        score = cls.softmax(-1)[:, 1]
        top = score.topk(min(pre_nms, len(score))).indices
        boxes = decode_deltas(reg[top], anchors[top], RPN_WEIGHTS)
        boxes = torch.stack((boxes[:, 0].clamp(0, size[0]), boxes[:, 1].clamp(0, size[1]),
                             boxes[:, 2].clamp(0, size[0]), boxes[:, 3].clamp(0, size[1])), 1)
        ok = ((boxes[:, 2] - boxes[:, 0]) >= 2) & ((boxes[:, 3] - boxes[:, 1]) >= 2)
        boxes, s = boxes[ok], score[top][ok]
        keep = nms(boxes, s, iou, max_keep=post_nms)
        return boxes[keep], s[keep]

    # -- RoI head ---------------------------------------------------------------
    def roi_head(self, fused: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``rois`` ``(K, 5)`` (batch index, xyxy) -> logits ``(K, 2)``, deltas ``(K, 4)``."""
        pooled = roi_align(fused, rois, self.roi_size, 1.0 / STRIDE, sampling_ratio=1)
        v = self.roi_conv(pooled).mean((2, 3))
        return self.roi_cls(v), self.roi_reg(v)

    @torch.no_grad()
    def refine(self, fused: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Score and refine proposals of one image: xyxy ``(P, 4)``, foreground probability ``(P,)``."""
        if len(boxes) == 0:
            return boxes, boxes.new_zeros(0)
        rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], 1)
        logits, deltas = self.roi_head(fused, rois)
        out = decode_deltas(deltas, boxes, ROI_WEIGHTS)
        out = torch.stack((out[:, 0].clamp(0, size[0]), out[:, 1].clamp(0, size[1]),
                           out[:, 2].clamp(0, size[0]), out[:, 3].clamp(0, size[1])), 1)
        return out, logits.softmax(-1)[:, 1]
