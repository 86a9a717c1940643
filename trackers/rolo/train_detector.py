"""Training the detection head on cached features (stage 1 of ``python -m trackers.rolo.train``).

Samples are (template frame, search frame) pairs of one sequence, up to
``max_gap`` frames apart; every step draws one sequence (so all maps share a
size and batch) and ``batch`` pairs from it.  Targets: a Gaussian centre-ness
around the true centre (sigma grows with the box), and at the cells near it
the sub-cell offset and the log size ratio to the template box.  Frames
without the target have an all-zero centre-ness target.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from ..ops import gaussian_label
from .cache import fused
from .detector import TemplateDetector, candidates
from .geometry import cxcywh_to_xywh, iou_matrix


def _targets(boxes: torch.Tensor, template_wh: torch.Tensor, h: int, w: int):
    """Centre-ness ``(N,h,w)``, regression targets ``(N,4,h,w)`` and their mask ``(N,h,w)``."""
    present = torch.isfinite(boxes).all(1)
    safe = torch.where(present[:, None], boxes, torch.full_like(boxes, 0.5))
    cx, cy = safe[:, 0] * w, safe[:, 1] * h  # in cells
    size_cells = torch.sqrt((safe[:, 2] * w) * (safe[:, 3] * h))
    sigma = (0.2 * size_cells).clamp(0.6, 2.0)
    label = gaussian_label((h, w), torch.stack([cx, cy], 1), sigma, stride=1.0, offset=0.5)
    label = label * present[:, None, None]
    xs = torch.arange(w, dtype=boxes.dtype)[None, None, :] + 0.5
    ys = torch.arange(h, dtype=boxes.dtype)[None, :, None] + 0.5
    reg = torch.stack([
        (cx[:, None, None] - xs).expand(-1, h, w),
        (cy[:, None, None] - ys).expand(-1, h, w),
        torch.log(safe[:, 2] / template_wh[:, 0])[:, None, None].expand(-1, h, w),
        torch.log(safe[:, 3] / template_wh[:, 1])[:, None, None].expand(-1, h, w),
    ], 1)
    reg_mask = (label > 0.5) & present[:, None, None]
    return label, reg, reg_mask


def detector_loss(raw: torch.Tensor, boxes: torch.Tensor, template_wh: torch.Tensor) -> torch.Tensor:
    label, reg, reg_mask = _targets(boxes, template_wh, *raw.shape[-2:])
    # positives are a handful of cells among hundreds: weight them up
    weight = 1.0 + 10.0 * label
    cls = F.binary_cross_entropy_with_logits(raw[:, 0], label, weight=weight, reduction="sum") / weight.sum()
    if reg_mask.any():
        m = reg_mask[:, None].expand_as(reg)
        reg_loss = F.smooth_l1_loss(raw[:, 1:][m], reg[m], beta=0.2)
    else:
        reg_loss = raw.sum() * 0.0
    return cls + reg_loss


def _sample_batch(data: dict, rng: np.random.Generator, batch: int, max_gap: int, flip: bool):
    boxes = data["boxes"]
    n = len(boxes)
    valid = np.nonzero(np.isfinite(boxes.numpy()).all(1))[0]
    t_idx = rng.choice(valid, batch)
    s_idx = np.clip(t_idx + rng.integers(-max_gap, max_gap + 1, batch), 0, n - 1)
    t_boxes = boxes[t_idx].clone()
    # user-drawn boxes are not exact: jitter the template box a little
    t_boxes[:, :2] += torch.from_numpy(rng.normal(0, 0.05, (batch, 2))).float() * t_boxes[:, 2:]
    t_boxes[:, 2:] *= torch.from_numpy(np.exp(rng.normal(0, 0.05, (batch, 2)))).float()
    s_boxes = boxes[s_idx].clone()
    tf, sf = fused(data, t_idx), fused(data, s_idx)
    if flip and rng.random() < 0.5:
        tf, sf = tf.flip(-1), sf.flip(-1)
        t_boxes[:, 0], s_boxes[:, 0] = 1 - t_boxes[:, 0], 1 - s_boxes[:, 0]
    return tf, t_boxes, sf, s_boxes


def train_detector(train_data: dict[str, dict], steps: int, seed: int, batch: int = 16, max_gap: int = 100,
                   lr: float = 2e-3, log=print) -> TemplateDetector:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TemplateDetector()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    names = sorted(train_data)
    # draw sequences in proportion to sqrt(length): long sequences matter, but do not swamp
    weights = np.array([math.sqrt(len(train_data[k]["boxes"])) for k in names])
    weights /= weights.sum()
    start, running = time.perf_counter(), 0.0
    for step in range(steps):
        data = train_data[names[rng.choice(len(names), p=weights)]]
        tf, t_boxes, sf, s_boxes = _sample_batch(data, rng, batch, max_gap, flip=True)
        kernels = model.template(tf, t_boxes)
        raw = model(sf, kernels)
        loss = detector_loss(raw, s_boxes, t_boxes[:, 2:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if step % 200 == 0 or step == steps - 1:
            log(f"detector step {step}/{steps} loss {running:.4f} ({time.perf_counter() - start:.0f}s)")
    return model.eval()


@torch.no_grad()
def run_detector(model: TemplateDetector, data: dict, template_index: int = 0, top_k: int = 8):
    """Candidates for every frame, template from ``template_index``: lists of (K,4) boxes, (K,) scores,
    and the (N, 256) frame vectors (see :func:`detector.frame_vector`)."""
    from .detector import frame_vector

    boxes = data["boxes"]
    t_box = boxes[template_index:template_index + 1]
    kernel = model.template(fused(data, slice(template_index, template_index + 1)), t_box)
    all_boxes, all_scores, vectors = [], [], []
    for start in range(0, len(boxes), 32):
        f = fused(data, slice(start, start + 32))
        raw = model(f, kernel.expand(len(f), -1, -1, -1))
        vectors.append(frame_vector(f, raw))
        for i in range(len(f)):
            b, s = candidates(raw[i:i + 1], t_box[:, 2:], top_k=top_k)
            all_boxes.append(b.numpy())
            all_scores.append(s.numpy())
    return all_boxes, all_scores, torch.cat(vectors)


def detection_quality(all_boxes, all_scores, gt: np.ndarray) -> dict:
    """Top-1 hit rate and recall@K (IoU >= 0.5) over frames where the target is present."""
    top1 = recall = frames = 0
    for b, g in zip(all_boxes, gt):
        if not np.all(np.isfinite(g)):
            continue
        frames += 1
        if len(b) == 0:
            continue
        ious = iou_matrix(cxcywh_to_xywh(g[None]), cxcywh_to_xywh(b))[0]
        top1 += ious[0] >= 0.5
        recall += ious.max() >= 0.5
    return {"frames": frames, "top1": top1 / max(frames, 1), "recall": recall / max(frames, 1)}
