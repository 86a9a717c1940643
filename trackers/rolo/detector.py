"""ROLO's detection module (the paper's YOLO stage), rebuilt for class-agnostic tracking.

We have no YOLO weights and no class vocabulary that covers what annotators
track, so the single-pass detector is *class-agnostic*: "objectness +
similarity to the template".  Per frame:

1. the shared EfficientNet-Lite0 trunk (ImageNet weights, frozen) gives
   stride-16 features of the whole frame (longer side ~352 px);
2. a 1x1 neck reduces them to 64 channels; the template is the neck output
   RoIAligned (3x3) on the first-frame box;
3. the frame's neck map is depth-wise correlated with the template kernel
   (padding keeps the grid); beside these 64 learned channels the head sees
   two *parameter-free* similarity maps: the mean cosine similarity of each
   3x3 patch of the raw trunk features with the template's 3x3 RoI, and of
   each cell with the template's mean feature.  A small head predicts per
   cell a centre-ness logit, a sub-cell centre offset and the box size as a
   log ratio to the template's size -- YOLO's "one cell predicts one box",
   with the template standing in for the class;
4. cells that are local maxima of centre-ness are decoded, NMS'd and the
   top-K kept as candidate boxes with confidences.

Why the cosine maps: trained on ~20 real sequences, a head that sees only the
learned correlation memorises the training objects and stays silent on new
ones (measured: top-1 hit rate 0-25 % on the held-out sequences).  Cosine
similarity of frozen ImageNet features has no parameters to overfit, and
during training the learned channels are dropped at random (Dropout2d) so
the head must also work from similarity alone.

Why this design: depth-wise correlation with the template gives a detector
that fires on *this* object (YOLO fires on a class and would need the
§II-B assignment to pick among e.g. all people); the trunk is the project's
shared backbone so it costs no extra weights; and the head is tiny (~60 k
parameters) so it trains in minutes on cached features.

The frame's *visual feature vector* for the LSTM (the paper's 4096-d FC
output) is the globally average-pooled trunk features (112) concatenated
with the centre-ness map resampled to 12x12 (144): 256 numbers saying what
the frame looks like and where template-like things are.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import cxcywh_to_xyxy, dw_xcorr, nms, roi_align
from .features import CHANNELS

RESPONSE_GRID = 12
FRAME_VECTOR_DIM = CHANNELS + RESPONSE_GRID ** 2


class TemplateDetector(nn.Module):
    """Head over cached/live stride-16 features.  Boxes are normalised ``(cx, cy, w, h)``."""

    def __init__(self, in_channels: int = CHANNELS, channels: int = 64, kernel: int = 3) -> None:
        super().__init__()
        self.in_channels, self.channels, self.kernel = in_channels, channels, kernel
        self.neck = nn.Sequential(nn.Conv2d(in_channels, channels, 1), nn.ReLU())
        self.drop_learned = nn.Dropout2d(0.5)
        self.head = nn.Sequential(nn.Conv2d(channels + 2, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, 5, 1))
        nn.init.constant_(self.head[-1].bias, 0.0)
        nn.init.constant_(self.head[-1].bias[0:1], -3.0)  # start "nothing here" (rare positives)

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "channels": self.channels, "kernel": self.kernel}

    def template(self, feats: torch.Tensor, nboxes: torch.Tensor) -> torch.Tensor:
        """``(N, C, h, w)`` features and ``(N, 4)`` normalised boxes -> ``(N, 64 + C, k, k)`` kernels.

        The first 64 channels are the RoI of the learned neck, the rest the RoI
        of the raw (unit-normalised) trunk features for the cosine maps.
        """
        h, w = feats.shape[-2:]
        scale = torch.tensor([w, h, w, h], dtype=feats.dtype, device=feats.device)
        rois = cxcywh_to_xyxy(nboxes.to(feats.dtype)) * scale  # in cell units
        rois = torch.cat([torch.arange(len(rois), device=feats.device, dtype=feats.dtype)[:, None], rois], 1)
        both = torch.cat([self.neck(feats), F.normalize(feats, dim=1)], 1)
        return roi_align(both, rois, self.kernel, spatial_scale=1.0, sampling_ratio=2)

    def forward(self, feats: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        """Raw head output ``(N, 5, h, w)``: centre logit, dx, dy, log w-ratio, log h-ratio."""
        neck = self.neck(feats)
        pad = self.kernel // 2
        learned = dw_xcorr(F.pad(neck, (pad, pad, pad, pad)), kernels[:, : self.channels]) / (self.kernel ** 2)
        return self.head(torch.cat([self.drop_learned(learned), cosine_maps(feats, kernels[:, self.channels:])], 1))


def cosine_maps(feats: torch.Tensor, raw_kernels: torch.Tensor) -> torch.Tensor:
    """``(N, 2, h, w)``: mean cosine similarity of each k x k patch with the template RoI, and of
    each cell with the template's mean feature (both parameter-free)."""
    unit = F.normalize(feats, dim=1)
    k = raw_kernels.shape[-1]
    pad = k // 2
    patch = dw_xcorr(F.pad(unit, (pad, pad, pad, pad)), raw_kernels).sum(1, keepdim=True) / (k * k)
    mean = F.normalize(raw_kernels.mean((2, 3)), dim=1)
    centre = (unit * mean[:, :, None, None]).sum(1, keepdim=True)
    return torch.cat([patch, centre], 1)


def decode_boxes(raw: torch.Tensor, template_wh: torch.Tensor) -> torch.Tensor:
    """Per-cell normalised boxes ``(N, h, w, 4)`` from the raw head output."""
    n, _, h, w = raw.shape
    ys = (torch.arange(h, dtype=raw.dtype, device=raw.device)[:, None] + 0.5 + raw[:, 2]) / h
    xs = (torch.arange(w, dtype=raw.dtype, device=raw.device)[None, :] + 0.5 + raw[:, 1]) / w
    bw = template_wh[:, 0, None, None] * torch.exp(raw[:, 3].clamp(-3, 3))
    bh = template_wh[:, 1, None, None] * torch.exp(raw[:, 4].clamp(-3, 3))
    return torch.stack([xs, ys, bw, bh], -1)


def candidates(raw: torch.Tensor, template_wh: torch.Tensor, top_k: int = 8, min_score: float = 0.05,
               nms_iou: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-K detections of ONE frame: ``(K, 4)`` normalised boxes and ``(K,)`` scores."""
    score = torch.sigmoid(raw[0, 0])
    peaks = score == F.max_pool2d(score[None, None], 3, 1, 1)[0, 0]
    keep = peaks & (score >= min_score)
    boxes = decode_boxes(raw[:1], template_wh[:1])[0][keep]
    scores = score[keep]
    if len(scores) == 0:
        return boxes.reshape(0, 4), scores
    order = nms(cxcywh_to_xyxy(boxes), scores, nms_iou, max_keep=top_k)
    return boxes[order], scores[order]


def frame_vector(feats: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """The LSTM's visual input ``(N, 256)``: pooled trunk features + 12x12 centre-ness."""
    pooled = feats.float().mean((2, 3))
    response = F.adaptive_avg_pool2d(torch.sigmoid(raw[:, :1]), RESPONSE_GRID).flatten(1) \
        if min(raw.shape[-2:]) >= RESPONSE_GRID else \
        F.interpolate(torch.sigmoid(raw[:, :1]), size=(RESPONSE_GRID, RESPONSE_GRID), mode="bilinear",
                      align_corners=False).flatten(1)
    return torch.cat([pooled, response], 1)
