"""SiamRCNN loss (paper §2.1): ``L = L_cls^rpn + L_cls^roi + lambda (L_reg^rpn + L_reg^roi)``.

Cross-entropy for both classifiers, smooth L1 for both regressions, with the
usual Faster R-CNN sampling: per image up to ``rpn_batch`` anchors (at most a
quarter positive; positive IoU >= 0.6 or the best anchor of the target if its
IoU > 0.3, negative IoU < 0.3) and ``roi_batch`` RoIs (current proposals plus
jittered copies of the true box; positive IoU >= 0.5).  A search frame
without the target contributes negatives only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ops import box_iou, encode_deltas
from .model import ROI_WEIGHTS, RPN_WEIGHTS, SiamRCNN
from .pairs import PairBatch


def _sample(labels: torch.Tensor, count: int, max_pos: int, gen: torch.Generator) -> torch.Tensor:
    """Indices of up to ``max_pos`` positives (label 1) and the rest negatives (label 0), at random."""
    pos = torch.nonzero(labels == 1).flatten()
    neg = torch.nonzero(labels == 0).flatten()
    pos = pos[torch.randperm(len(pos), generator=gen)[:max_pos]]
    neg = neg[torch.randperm(len(neg), generator=gen)[:count - len(pos)]]
    return torch.cat([pos, neg])


def _jittered(box: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    wh = (box[2:] - box[:2]).repeat(2)
    return box[None] + (torch.rand(n, 4, generator=gen) - 0.5) * 0.5 * wh[None]


def siamrcnn_loss(net: SiamRCNN, batch: PairBatch, gen: torch.Generator, lam: float = 1.0,
                  rpn_batch: int = 64, roi_batch: int = 16) -> tuple[torch.Tensor, dict[str, float]]:
    kernel = net.template_kernel(batch.template, batch.template_box)
    fused = net.fuse(batch.search, kernel)
    cls, reg = net.rpn(fused)
    tb = batch.template_box
    anchors = net.anchors(fused.shape[-2:], tb[:, 2:] - tb[:, :2])
    rpn_cls, rpn_reg, roi_cls, roi_reg = [], [], [], []
    rois, roi_labels, roi_targets = [], [], []
    for i in range(len(fused)):
        gt = batch.search_box[i]
        present = bool(torch.isfinite(gt).all())
        labels = torch.zeros(len(anchors[i]), dtype=torch.long)
        if present:
            iou = box_iou(anchors[i], gt[None])[:, 0]
            labels = torch.full_like(labels, -1)
            labels[iou < 0.3] = 0
            labels[iou >= 0.6] = 1
            best = int(iou.argmax())
            if iou[best] > 0.3:
                labels[best] = 1
        idx = _sample(labels, rpn_batch, rpn_batch // 4, gen)
        rpn_cls.append(F.cross_entropy(cls[i, idx], labels[idx], reduction="sum") / max(len(idx), 1))
        pos = idx[labels[idx] == 1]
        if len(pos):
            target = encode_deltas(gt[None].expand(len(pos), 4), anchors[i, pos], RPN_WEIGHTS)
            rpn_reg.append(F.smooth_l1_loss(reg[i, pos], target, beta=1 / 9, reduction="sum") / max(len(idx), 1))
        # RoIs: this image's current proposals (+ true-box jitters when the target is there)
        props, _ = net.proposals(cls[i].detach(), reg[i].detach(), anchors[i], batch.size, post_nms=24)
        cand = torch.cat([props, _jittered(gt, 8, gen)]) if present else props
        if len(cand) == 0:
            continue
        if present:
            iou = box_iou(cand, gt[None])[:, 0]
            lab = (iou >= 0.5).long()
            lab[(iou >= 0.3) & (iou < 0.5)] = -1  # ambiguous boxes teach nothing
        else:
            lab = torch.zeros(len(cand), dtype=torch.long)
        keep = _sample(lab, roi_batch, roi_batch // 4, gen)
        rois.append(torch.cat([torch.full((len(keep), 1), float(i)), cand[keep]], 1))
        roi_labels.append(lab[keep])
        roi_targets.append(encode_deltas(gt[None].expand(len(keep), 4), cand[keep], ROI_WEIGHTS)
                           if present else torch.zeros(len(keep), 4))
    loss_rpn_cls = torch.stack(rpn_cls).mean()
    loss_rpn_reg = torch.stack(rpn_reg).sum() / len(fused) if rpn_reg else fused.sum() * 0
    if rois:
        rois_t, lab_t, tgt_t = torch.cat(rois), torch.cat(roi_labels), torch.cat(roi_targets)
        logits, deltas = net.roi_head(fused, rois_t)
        loss_roi_cls = F.cross_entropy(logits, lab_t)
        pos = lab_t == 1
        loss_roi_reg = (F.smooth_l1_loss(deltas[pos], tgt_t[pos], beta=1.0, reduction="sum") / len(lab_t)
                        if pos.any() else logits.sum() * 0)
    else:
        loss_roi_cls = loss_roi_reg = fused.sum() * 0
    total = loss_rpn_cls + loss_roi_cls + lam * (loss_rpn_reg + loss_roi_reg)
    parts = {"rpn_cls": loss_rpn_cls, "rpn_reg": loss_rpn_reg, "roi_cls": loss_roi_cls, "roi_reg": loss_roi_reg}
    return total, {k: float(v.detach()) for k, v in parts.items()}
