"""Offline training of FCOT's decoder, heads, initializers and online-optimiser scalars.

    python -m trackers.fcot.train --data /work/shared/data/dev --out resources/weights/fcot/fcot_lite0.pth

Steps: (1) cache frozen-trunk features of jittered search crops (every 2nd
frame of each training sequence, every 4th of the held-out ones) under
``--cache``; (2) train on episodes in the DiMP/FCOT manner: 2 training crops of
a sequence initialise and optimise the online models (5 steepest-descent
steps each, differentiable), which are then scored on a 3rd crop of the same
sequence (classification: DiMP hinge loss on Score Map-18, Score Map-72 and the
fused map; regression: GIoU loss near the centre); (3) report validation figures
on the held-out sequences' crops.  Everything is seeded.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from .data import build_cache
from .model import TRUNK_TAPS, FCOTNet, normalize_regression_features
from .optim import apply_filter, classifier_gauss_newton_cg, classifier_steps, regressor_cg, regressor_steps
from .targets import (SIGMA_COARSE, SIGMA_FINE, boxes_from_maps, regression_targets, score_labels)

# the regression branch after the decoder: what ``--train-only regression`` fine-tunes.  (The online step
# scales ``log_step`` are one tensor for all three models, so they stay too.)
REGRESSION_PARAMS = ("reg_lat8", "head_reg", "init_reg", "reg_base", "reg_bias", "log_reg_lambda")
HELD_OUT = ["vot2014-woman", "vot2014-jogging", "vot2014-skating", "vot2014-car", "vot2014-bicycle", "davis-libby"]
WINDOW, ONLINE_ITERS = 40, 5
# GN-CG in training (``--solver cg``): the solver tracking uses, so the heads learn features it can fit
CG_GN_STEPS, CG_STEPS = 2, 4


def load_caches(paths: list[str], train_frames: int) -> list[dict]:
    seqs = []
    for p in paths:
        d = torch.load(p, weights_only=True)
        if len(d["boxes"]) >= train_frames + 1:
            seqs.append(d)
    return seqs


def sample_episode(seq: dict, rng: np.random.Generator, train_frames: int) -> list[int]:
    """Indices ``[train..., test]`` of crops within WINDOW of each other."""
    n = len(seq["boxes"])
    t = int(rng.integers(n))
    lo, hi = max(0, t - WINDOW), min(n, t + WINDOW + 1)
    pool = [i for i in range(lo, hi) if i != t]
    train = rng.choice(pool, train_frames, replace=len(pool) < train_frames)
    return [int(i) for i in train] + [t]


def hinge_mse(s: torch.Tensor, y: torch.Tensor, threshold: float = 0.05) -> torch.Tensor:
    m = (y > threshold).to(s.dtype)
    return (m * s + (1 - m) * F.relu(s) - y).pow(2).mean()


def giou_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    lt, rb = torch.maximum(pred[..., :2], gt[..., :2]), torch.minimum(pred[..., 2:], gt[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_p = (pred[..., 2:] - pred[..., :2]).clamp(min=0).prod(-1)
    area_g = (gt[..., 2:] - gt[..., :2]).prod(-1)
    union = area_p + area_g - inter + 1e-6
    enc = (torch.maximum(pred[..., 2:], gt[..., 2:]) - torch.minimum(pred[..., :2], gt[..., :2])).prod(-1) + 1e-6
    iou = inter / union
    return (1 - iou + (enc - union) / enc).mean(), iou


def run_episodes(net: FCOTNet, batch: list[tuple[dict, list[int]]], solver: str = "steepest",
                 cls_weight: float = 1.0, normalize_regression: float = 0.0) -> dict[str, torch.Tensor]:
    """Losses and diagnostics of a batch of episodes (train crops -> online models -> test crop).

    Every episode has the same number of train crops (all but its last index).  ``normalize_regression``:
    the tracker's option of that name, applied per episode (scale from the episode's first crop)."""
    taps = {s: torch.cat([seq["feats"][s][idx] for seq, idx in batch]).float() for s in TRUNK_TAPS}
    boxes = torch.cat([seq["boxes"][idx] for seq, idx in batch]).float()
    feats = net.features(taps)
    k = len(batch[0][1])
    if normalize_regression:
        feats["xreg"] = torch.cat([normalize_regression_features(feats["xreg"][e * k:(e + 1) * k], None,
                                                                 normalize_regression)[0]
                                   for e in range(len(batch))])
    h18, h72 = feats["x18"].shape[-2:], feats["x72"].shape[-2:]
    lab18 = score_labels(boxes, h18, 16, SIGMA_COARSE)
    lab72 = score_labels(boxes, h72, 4, SIGMA_FINE)
    reg_t, reg_m = regression_targets(boxes, h72)
    lam18, lam72 = net.log_cls_lambda.exp()
    lam_reg = net.log_reg_lambda.exp()
    steps = net.log_step.exp()
    losses = {"cls18": 0.0, "cls72": 0.0, "fused": 0.0, "reg": 0.0}
    diag = {"iou": [], "peak_err": []}
    for e in range(len(batch)):
        tr, te = slice(e * k, e * k + k - 1), e * k + k - 1
        w = torch.full((k - 1,), 1.0 / (k - 1))
        f18, f72 = net.init_classifiers({n: v[tr] for n, v in feats.items()}, boxes[tr])
        freg = net.init_regressor({n: v[tr] for n, v in feats.items()}, boxes[tr])
        if solver == "cg":
            f18 = classifier_gauss_newton_cg(f18, feats["x18"][tr], lab18[tr], w, lam18, CG_GN_STEPS, CG_STEPS)
            f72 = classifier_gauss_newton_cg(f72, feats["x72"][tr], lab72[tr], w, lam72, CG_GN_STEPS, CG_STEPS)
            freg = regressor_cg(freg, net.reg_bias, feats["xreg"][tr], reg_t[tr], reg_m[tr], w, lam_reg,
                                CG_GN_STEPS * CG_STEPS)
        else:
            f18 = classifier_steps(f18, feats["x18"][tr], lab18[tr], w, lam18, steps[0], ONLINE_ITERS)
            f72 = classifier_steps(f72, feats["x72"][tr], lab72[tr], w, lam72, steps[1], ONLINE_ITERS)
            freg = regressor_steps(freg, net.reg_bias, feats["xreg"][tr], reg_t[tr], reg_m[tr], w, lam_reg,
                                   steps[2], ONLINE_ITERS)
        s18 = apply_filter(feats["x18"][te:te + 1], f18[None])
        s72 = apply_filter(feats["x72"][te:te + 1], f72[None])
        fused = net.fuse_maps(s18, s72)
        losses["cls18"] = losses["cls18"] + hinge_mse(s18[0, 0], lab18[te])
        losses["cls72"] = losses["cls72"] + hinge_mse(s72[0, 0], lab72[te])
        losses["fused"] = losses["fused"] + hinge_mse(fused[0, 0], lab72[te])
        reg = apply_filter(feats["xreg"][te:te + 1], freg) + net.reg_bias.view(1, -1, 1, 1)
        cells = reg_m[te, 0] > 0
        pred = boxes_from_maps(reg)[0][cells]
        gl, iou = giou_loss(pred, boxes[te].expand_as(pred))
        losses["reg"] = losses["reg"] + gl
        with torch.no_grad():
            peak = int(fused[0, 0].argmax())
            py, px = divmod(peak, fused.shape[-1])
            centre = (boxes[te, :2] + boxes[te, 2:]) / 2
            diag["peak_err"].append(float(torch.hypot(4 * px + 2 - centre[0], 4 * py + 2 - centre[1])))
            diag["iou"].append(float(iou.mean()))
    n = len(batch)
    out = {name: v / n for name, v in losses.items()}
    # the hinge losses are means over maps that are almost all background (~0.002-0.01) while the
    # GIoU loss is ~0.3: without a weight (DiMP uses 100 for its test-frame classification loss)
    # the heads learn regression and hardly any discrimination
    out["total"] = cls_weight * (out["cls18"] + out["cls72"] + out["fused"]) + 0.5 * out["reg"]
    out["iou"] = float(np.mean(diag["iou"]))
    out["peak_err"] = float(np.median(diag["peak_err"]))
    return out


@torch.no_grad()
def validate(net: FCOTNet, seqs: list[dict], episodes: int, seed: int, train_frames: int = 2,
             solver: str = "steepest", normalize_regression: float = 0.0) -> dict[str, float]:
    rng = np.random.default_rng(seed + 1000)
    rows = []
    for i in range(episodes):
        seq = seqs[i % len(seqs)]
        r = run_episodes(net, [(seq, sample_episode(seq, rng, train_frames))], solver,
                         normalize_regression=normalize_regression)
        rows.append({k: float(v) for k, v in r.items()})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} | {
        "peak_err_px_median": float(np.median([r["peak_err"] for r in rows])),
        "peak_within_8px": float(np.mean([r["peak_err"] <= 8 for r in rows]))}


def freeze_all_but(net: FCOTNet, part: str) -> None:
    """``part`` "all": everything trains; "regression": only ``REGRESSION_PARAMS`` do."""
    for name, p in net.named_parameters():
        p.requires_grad_(part == "all" or name.split(".")[0] in REGRESSION_PARAMS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trackers.fcot.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/shared/data/dev", help="GOT-10k-style folder with list.txt")
    ap.add_argument("--cache", default="/tmp/trackassist_cache/fcot", help="feature cache (outside the repo)")
    ap.add_argument("--out", default="resources/weights/fcot/fcot_lite0.pth")
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--batch", type=int, default=3, help="episodes per step")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--scalar-lr-mult", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-episodes", type=int, default=120)
    ap.add_argument("--solver", choices=("steepest", "cg"), default="cg",
                    help="online fit inside each episode: the paper's steepest descent, or GN-CG as in tracking")
    ap.add_argument("--train-frames", type=int, default=3, help="crops that fit the online models per episode")
    ap.add_argument("--init-weights", default=None, help="start from these weights (fine-tuning) instead of scratch")
    ap.add_argument("--cls-weight", type=float, default=100.0,
                    help="weight of the three classification losses against the regression loss (DiMP: 100)")
    ap.add_argument("--flip", action="store_true", help="mirror cached crops at random (per crop; see data.py)")
    ap.add_argument("--normalize-regression", type=float, default=0.0,
                    help="train with the tracker's normalize_regression (power of the cell norm divided out)")
    ap.add_argument("--train-only", choices=("all", "regression"), default="all",
                    help="regression: fine-tune only the regression branch (REGRESSION_PARAMS), so the "
                         "classifiers and the decoder they share stay as they are")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    names = [l.strip() for l in open(os.path.join(args.data, "list.txt")) if l.strip()]
    train_names = [n for n in names if n not in HELD_OUT]
    t0 = time.time()
    train = load_caches(build_cache(args.data, train_names, args.cache, args.seed, step=2, flip=args.flip),
                        args.train_frames)
    val = load_caches(build_cache(args.data, HELD_OUT, args.cache, args.seed, step=4, flip=args.flip),
                      args.train_frames)
    print(f"cache ready in {time.time() - t0:.0f}s: {sum(len(s['boxes']) for s in train)} train crops "
          f"({len(train)} seqs), {sum(len(s['boxes']) for s in val)} val crops", flush=True)
    net = FCOTNet()
    if args.init_weights:
        net.load_state_dict(torch.load(args.init_weights, map_location="cpu", weights_only=True), strict=True)
    before = validate(net, val, args.val_episodes, args.seed, args.train_frames, args.solver,
                      args.normalize_regression)
    print("val before training:", json.dumps({k: round(v, 4) for k, v in before.items()}), flush=True)
    # --scalar-lr-mult > 1 gives the online-optimiser scalars (lambda, step scales, fusion) a higher rate:
    # a few hundred steps at the network's rate leave them near where they started
    freeze_all_but(net, args.train_only)
    scalars = [p for p in (net.log_reg_lambda, net.log_cls_lambda, net.log_step, net.fuse) if p.requires_grad]
    rest = [p for p in net.parameters() if p.requires_grad and all(p is not q for q in scalars)]
    opt = torch.optim.Adam([{"params": rest}, {"params": scalars, "lr": args.lr * args.scalar_lr_mult}], lr=args.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(args.iters * 0.6), int(args.iters * 0.85)], 0.2)
    # sequences are sampled in proportion to sqrt(length): long ones matter more, but not linearly
    weights = np.sqrt([len(s["boxes"]) for s in train])
    weights /= weights.sum()
    t0 = time.time()
    net.train()
    for it in range(1, args.iters + 1):
        batch = []
        for _ in range(args.batch):
            seq = train[int(rng.choice(len(train), p=weights))]
            batch.append((seq, sample_episode(seq, rng, args.train_frames)))
        out = run_episodes(net, batch, args.solver, args.cls_weight, args.normalize_regression)
        opt.zero_grad()
        out["total"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], 10.0)
        opt.step()
        sched.step()
        if it % 50 == 0 or it == 1:
            print(f"it {it} {time.time() - t0:.0f}s loss {out['total'].item():.4f} cls18 {out['cls18'].item():.4f} "
                  f"cls72 {out['cls72'].item():.4f} fused {out['fused'].item():.4f} reg {out['reg'].item():.4f} "
                  f"iou {out['iou']:.3f} peak_err {out['peak_err']:.1f}px", flush=True)
    net.eval()
    after = validate(net, val, args.val_episodes, args.seed, args.train_frames, args.solver,
                     args.normalize_regression)
    print("val after training:", json.dumps({k: round(v, 4) for k, v in after.items()}), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(net.state_dict(), args.out)
    report = {"args": vars(args), "train_sequences": train_names, "held_out": HELD_OUT,
              "train_seconds": round(time.time() - t0), "val_before": before, "val_after": after}
    with open(os.path.splitext(args.out)[0] + ".train.json", "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"saved {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
