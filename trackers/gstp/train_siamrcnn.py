"""Stage 1 of ``python -m trackers.gstp.train``: the SiamRCNN heads on cached trunk features.

Adam (the paper uses SGD for 27k iterations on GOT-10k; with a frozen trunk
and minutes of CPU, Adam with a cosine schedule converges far sooner).
Validation runs whole-frame detection on the held-out sequences with the
first frame as template (every 2nd cached frame): top-1 IoU, success at IoU 0.5,
and the top score on frames of *other* sequences (target absent).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..ops import box_iou
from .detect import detect, make_template
from .features import STRIDE
from .losses import siamrcnn_loss
from .model import SiamRCNN
from .pairs import PairSampler


def _frame_size(feats: torch.Tensor) -> tuple[int, int]:
    return feats.shape[-1] * STRIDE, feats.shape[-2] * STRIDE


@torch.no_grad()
def validate(net: SiamRCNN, seqs: list[dict], step: int = 2) -> dict[str, float]:
    """``step`` counts cached feature frames (every frame of short sequences, thinned long ones)."""
    net.eval()
    ious, pos_scores, neg_scores = [], [], []
    for k, seq in enumerate(seqs):
        boxes = seq["boxes"][seq["feat_index"]]
        first = int(np.nonzero(np.isfinite(boxes.numpy()).all(1))[0][0])
        tmpl = make_template(net, seq["feats"][first:first + 1].float(), boxes[first])
        for i in range(first + 1, len(boxes), step):
            feats = seq["feats"][i:i + 1].float()
            det = detect(net, [tmpl], feats, _frame_size(feats))
            gt = boxes[i]
            if not torch.isfinite(gt).all():
                continue
            gt_xyxy = torch.cat([gt[:2], gt[:2] + gt[2:]])[None]
            ious.append(float(box_iou(det.boxes[:1], gt_xyxy)[0, 0]) if len(det.boxes) else 0.0)
            pos_scores.append(float(det.scores[0]) if len(det.scores) else 0.0)
        other = seqs[(k + 1) % len(seqs)]
        for i in range(0, len(other["feats"]), step * 2):
            feats = other["feats"][i:i + 1].float()
            det = detect(net, [tmpl], feats, _frame_size(feats))
            neg_scores.append(float(det.scores[0]) if len(det.scores) else 0.0)
    net.train()
    ious_a = np.array(ious)
    return {"top1_iou": float(ious_a.mean()), "success50": float((ious_a >= 0.5).mean()),
            "score_present": float(np.mean(pos_scores)), "score_absent": float(np.mean(neg_scores)),
            "frames": len(ious)}


def train_siamrcnn(train: list[dict], val: list[dict], steps: int, batch: int, lr: float, seed: int,
                   log=print, val_every: int = 500) -> tuple[SiamRCNN, dict]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = SiamRCNN()
    sampler = PairSampler(train, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * s / steps)))
    history = {}
    t0, running = time.time(), {}
    for step in range(1, steps + 1):
        loss, parts = siamrcnn_loss(net, sampler.batch(batch), gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        sched.step()
        for k, v in parts.items():
            running[k] = 0.98 * running.get(k, v) + 0.02 * v
        if step % 100 == 0:
            log(f"siamrcnn step {step}/{steps} {time.time() - t0:.0f}s " +
                " ".join(f"{k}={v:.3f}" for k, v in running.items()))
        if val and (step % val_every == 0 or step == steps):
            history[step] = validate(net, val)
            log(f"siamrcnn validation step {step}: " + " ".join(f"{k}={v:.3f}" for k, v in history[step].items()))
    return net.eval(), {"validation": history, "final_losses": running, "seconds": time.time() - t0}
