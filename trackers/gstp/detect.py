"""Whole-frame detection of the template's object: RPN proposals scored and refined by the RoI head.

Shared by the tracker and by the training's validation so both measure the
same thing.  With several templates (the first one plus the latest
correction, as Siam R-CNN keeps), each template proposes and scores its own
candidates; they are merged by NMS keeping the higher score.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..ops import nms, xyxy_to_xywh
from .model import SiamRCNN


@dataclass
class Template:
    kernel: torch.Tensor   # (1, ch, k, k) object features
    wh: torch.Tensor       # (1, 2) box size in input pixels (anchor shape)


@dataclass
class Detections:
    boxes: torch.Tensor       # (P, 4) xyxy refined, input pixels
    scores: torch.Tensor      # (P,) RoI-head foreground probability
    objectness: torch.Tensor  # (H, W) best RPN foreground probability per cell


@torch.no_grad()
def make_template(net: SiamRCNN, feats: torch.Tensor, box_xywh: torch.Tensor) -> Template:
    xyxy = torch.cat([box_xywh[:2], box_xywh[:2] + box_xywh[2:]])[None].to(feats.dtype)
    return Template(net.template_kernel(feats, xyxy), box_xywh[None, 2:].clone())


@torch.no_grad()
def detect(net: SiamRCNN, templates: list[Template], feats: torch.Tensor, size: tuple[int, int],
           post_nms: int = 16, merge_iou: float = 0.5) -> Detections:
    """``feats`` ``(1, C, H, W)`` of the whole resized frame, ``size`` its ``(w, h)`` in pixels."""
    h, w = feats.shape[-2:]
    all_boxes, all_scores, objectness = [], [], []
    for t in templates:
        fused = net.fuse(feats, t.kernel)
        cls, reg = net.rpn(fused)
        anchors = net.anchors((h, w), t.wh)
        objectness.append(cls[0].softmax(-1)[:, 1].view(h, w, -1).amax(-1))
        props, _ = net.proposals(cls[0], reg[0], anchors[0], size, post_nms=post_nms)
        boxes, scores = net.refine(fused, props, size)
        all_boxes.append(boxes)
        all_scores.append(scores)
    boxes, scores = torch.cat(all_boxes), torch.cat(all_scores)
    if len(templates) > 1 and len(boxes):
        keep = nms(boxes, scores, merge_iou)
        boxes, scores = boxes[keep], scores[keep]
    else:
        order = scores.argsort(descending=True)
        boxes, scores = boxes[order], scores[order]
    return Detections(boxes, scores, torch.stack(objectness).amax(0))


def as_xywh(boxes_xyxy: torch.Tensor) -> torch.Tensor:
    return xyxy_to_xywh(boxes_xyxy)
