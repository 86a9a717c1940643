"""The training stages of :mod:`trackers.pixelwise.train` after ``cache`` (§5.1).

* ``local``   - Eq. 2 on windows of cached ROI features (step 4 replacement at batch time);
                ``--stage 1`` adds the ROIs chosen by the tracker in a roll-out.
* ``global``  - Eq. 4 on sequences of full-frame maps: DAVIS/composite masks and box tracks
                of the box-only sequences (an ellipse in each box); stage 0 feeds ground-truth maps
                degraded at random (dilation shrinking over training, as the paper does, plus
                erosion, dropped frames and spurious blobs), stage 1 feeds the local model's
                predicted maps from a roll-out.
* ``rollout`` - Algorithm 1 with the current models over the training clips: predicted maps
                for ``global --stage 1`` and tracker-chosen ROIs for ``local --stage 1``.
* ``pack``    - local + global weights -> one strict-loading state dict.
"""
from __future__ import annotations

import glob
import json
import math
import os
import time

import cv2
import numpy as np
import torch

from . import data as D
from .clips import DiskClip, composite_clip
from .global_model import BURN_IN, MAP_SIZE, GlobalModel, global_loss, theta_from_box
from .local_model import LocalModel, coarse_loss, local_loss
from .splits import box_sequences, davis_train


def _log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def _paths(cache: str, split: str) -> list[str]:
    return sorted(glob.glob(os.path.join(cache, split, "*.pt")))


def _save(state: dict, out: str, report: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save(state, out)
    with open(os.path.splitext(out)[0] + ".json", "w") as fh:
        json.dump(report, fh, indent=1)
    _log(f"saved {out}")


# -- local ------------------------------------------------------------------------------------------
@torch.no_grad()
def validate_local(model: LocalModel, seqs: list[dict], length: int, seed: int, count: int = 48) -> dict:
    """Mean ROI IoU (prob > 0.5) over frames of held-out windows; ``area_ratio``: median predicted /
    true foreground area (< 1: under-segmentation); ``fp_inserted``: fraction of an inserted foreign
    ROI predicted as foreground (step 4's point: should stay near 0)."""
    model.eval()
    wins = [D.windows(s, length) for s in seqs]
    rng = np.random.default_rng(seed + 7)
    ious, fps, areas = [], [], []
    for _ in range(count // 8):
        f0, m0, fs, ts, *fine = D.draw_local_batch(seqs, wins, 8, rng, replace=True, fine=model.fine)
        pred = torch.sigmoid(model(f0, m0, fs, False, *fine)) > 0.5
        gt = ts > 0.5
        for b in range(len(pred)):
            for t in range(pred.shape[1]):
                if gt[b, t].any():
                    ious.append(float((pred[b, t] & gt[b, t]).sum() / (pred[b, t] | gt[b, t]).sum()))
                    areas.append(float(pred[b, t].sum() / gt[b, t].sum()))
                else:
                    fps.append(float(pred[b, t].float().mean()))
    model.train()
    return {"roi_iou": float(np.mean(ious)), "area_ratio": float(np.median(areas)), "fp_inserted": float(np.mean(fps)) if fps else math.nan}


def load_widened(model: torch.nn.Module, state: dict) -> list[str]:
    """Load ``state`` into ``model``; a tensor that grew (e.g. F-CNN's input channels when the match
    maps were added) gets the old values in its leading slice and zeros elsewhere.  Returns those names."""
    own = model.state_dict()
    widened = []
    for k, v in state.items():
        if k in own and own[k].shape != v.shape and own[k].dim() == v.dim():
            w = torch.zeros_like(own[k])
            w[tuple(slice(0, n) for n in v.shape)] = v
            state[k] = w
            widened.append(k)
    model.load_state_dict(state)
    return widened


def local_lr(base: float, progress: float, final: float = 0.05) -> float:
    """Cosine decay from ``base`` to ``final * base`` over the run (``progress`` 0..1)."""
    return base * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def cmd_local(a) -> None:
    rng = np.random.default_rng(a.seed)
    paths = _paths(a.cache, "train") + (_paths(a.cache, "rollout") if a.stage >= 1 else [])
    seqs = [s for s in D.load_cache(paths) if D.windows(s, a.length)]
    val = D.load_cache(_paths(a.cache, "val"))
    wins = [D.windows(s, a.length) for s in seqs]
    _log(f"local stage {a.stage}: {len(seqs)} clips, {sum(map(len, wins))} windows, "
         f"{sum(len(s['feats']) for s in seqs)} ROIs")
    model = LocalModel(fine=a.fine)
    if a.init:
        widened = load_widened(model, torch.load(a.init, weights_only=True))
        _log(f"init from {a.init}" + (f" (widened: {widened})" if widened else ""))
    before = validate_local(model, val, a.length, a.seed, a.val_count)
    _log(f"val before: {before}")
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    t0, it, hist, history = time.time(), 0, [], []
    best = {"roi_iou": -1.0}
    best_state, best_it = None, 0
    while it < a.iters and time.time() - t0 < a.minutes * 60:
        it += 1
        progress = max(it / a.iters, (time.time() - t0) / (a.minutes * 60))
        for g in opt.param_groups:
            g["lr"] = local_lr(a.lr, progress)
        f0, m0, fs, ts, *fine = D.draw_local_batch(seqs, wins, a.batch, rng, replace=not a.no_replace,
                                                   fine=a.fine)
        logits, coarse = model(f0, m0, fs, True, *fine)
        loss, parts = local_loss(logits, ts)
        loss = loss + a.coarse_weight * coarse_loss(coarse, ts)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(parts["ce"])
        if it % 50 == 0:
            _log(f"it {it} {time.time() - t0:.0f}s lr {opt.param_groups[0]['lr']:.2e} "
                 f"ce/frame {np.mean(hist[-50:]):.0f} tv {parts['tv']:.0f}")
        if it % a.val_every == 0:
            v = validate_local(model, val, a.length, a.seed, a.val_count)
            history.append({"iteration": it, "ce_train": float(np.mean(hist[-a.val_every:])), **v})
            _log(f"val: {v}")
            if v["roi_iou"] > best["roi_iou"]:     # keep the best checkpoint (held-out ROI IoU)
                best, best_it = v, it
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
    after = validate_local(model, val, a.length, a.seed, a.val_count)
    _log(f"val after {it} iterations: {after}")
    if best_state is not None and best["roi_iou"] > after["roi_iou"] and not a.keep_last:
        model.load_state_dict(best_state)
        _log(f"keeping the best checkpoint, iteration {best_it}: {best}")
    else:
        best, best_it = after, it
    _save(model.state_dict(), a.out, {"stage": a.stage, "args": {k: v for k, v in vars(a).items() if k != "func"},
                                       "iterations": it, "seconds": round(time.time() - t0),
                                       "val_before": before, "val_after": after, "kept_iteration": best_it,
                                       "val_kept": best, "val_history": history,
                                       "clips": [s["name"] for s in seqs]})


# -- global -----------------------------------------------------------------------------------------
def _ellipse_map(box, W: int, H: int) -> np.ndarray:
    m = np.zeros((MAP_SIZE, MAP_SIZE), np.float32)
    if box is None or not np.all(np.isfinite(box)):
        return m
    x, y, w, h = box
    sx, sy = MAP_SIZE / W, MAP_SIZE / H
    cv2.ellipse(m, (int(round((x + w / 2) * sx * 16)), int(round((y + h / 2) * sy * 16))),
                (max(1, int(w / 2 * sx * 16)), max(1, int(h / 2 * sy * 16))), 0, 0, 360, 1.0, -1,
                lineType=cv2.LINE_AA, shift=4)
    return m


def box_track_sequences(data: str) -> list[dict]:
    from ..eval.dataset import load_dataset
    names = box_sequences(data)
    out = []
    for seq in load_dataset(data, only=names):
        img = cv2.imread(seq.frame_files[0])
        H, W = img.shape[:2]
        boxes = np.asarray(seq.boxes, np.float64)
        boxes[np.asarray(seq.absent, bool)] = np.nan
        maps = np.stack([_ellipse_map(b, W, H) for b in boxes])
        out.append({"name": seq.name, "maps": torch.from_numpy(maps), "boxes": torch.from_numpy(boxes).float(),
                    "width": W, "height": H})
    return out


def _degrade(m: np.ndarray, rng: np.random.Generator, max_kernel: int) -> np.ndarray:
    """A ground-truth map made to look like a local model's prediction."""
    r = rng.random()
    if r < 0.08:
        return np.zeros_like(m)
    k = int(rng.integers(0, max_kernel + 1))
    if k:
        ker = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
        m = cv2.dilate(m, ker) if rng.random() < 0.7 else cv2.erode(m, ker)
    if rng.random() < 0.1:
        c = rng.integers(0, MAP_SIZE, 2)
        m = m.copy()
        cv2.circle(m, (int(c[0]), int(c[1])), int(rng.integers(2, 10)), 1.0, -1)
    return m


def draw_global_batch(seqs: list[dict], batch: int, length: int, rng: np.random.Generator, max_kernel: int,
                      predicted: bool):
    maps, targets, tthetas, valid, aspect = [], [], [], [], []
    for _ in range(batch):
        s = seqs[int(rng.integers(len(seqs)))]
        n = len(s["maps"])
        L = min(length, n)
        st = int(rng.integers(0, n - L + 1))
        boxes = s["boxes"][st:st + L].numpy()
        if not np.isfinite(boxes[0]).all():
            st_ok = np.flatnonzero(np.isfinite(s["boxes"].numpy()).all(1))
            st = int(st_ok[int(rng.integers(len(st_ok)))]) if len(st_ok) else st
            st = min(st, n - L)
            boxes = s["boxes"][st:st + L].numpy()
        gt = s["maps"][st:st + L].float().numpy()
        src = s["pred_maps"][st:st + L].float().numpy() if predicted else gt
        inputs = [gt[0]] + [src[k] if predicted else _degrade(src[k], rng, max_kernel)
                                             for k in range(1, L - 1)]
        tg = [gt[0]] * BURN_IN + list(gt[1:L])
        W, H = s["width"], s["height"]
        th = [theta_from_box(b, W, H) if np.isfinite(b).all() else np.zeros(3, np.float32) for b in boxes]
        th = [th[0]] * BURN_IN + th[1:L]
        ok = [True] * BURN_IN + [bool(np.isfinite(b).all()) for b in boxes[1:L]]
        pad = length - L          # short sequences are padded with invalid steps
        inputs += [inputs[-1]] * pad; tg += [tg[-1]] * pad; th += [th[-1]] * pad; ok += [False] * pad
        maps.append(np.stack(inputs)); targets.append(np.stack(tg)); tthetas.append(np.stack(th)); valid.append(ok)
        aspect.append(W / H)
    return (torch.from_numpy(np.stack(maps))[:, :, None], torch.from_numpy(np.stack(targets)),
            torch.from_numpy(np.stack(tthetas)), torch.tensor(valid), torch.tensor(aspect, dtype=torch.float32))


def theta_error(thetas: torch.Tensor, tt: torch.Tensor, valid: torch.Tensor, W, H) -> dict:
    """Centre error as a fraction of the object size, and |log side ratio|, on counted steps."""
    v = valid.clone()
    v[:, :BURN_IN] = False
    side = torch.exp(tt[..., 2])
    dx = (thetas[..., 0] - tt[..., 0]) * W[:, None] / 2
    dy = (thetas[..., 1] - tt[..., 1]) * H[:, None] / 2
    size = side * 0.25 * torch.minimum(W, H)[:, None]
    centre = torch.hypot(dx, dy) / size
    return {"centre_err_rel": float(centre[v].median()), "scale_err": float((thetas[..., 2] - tt[..., 2]).abs()[v].median())}


def _at_map_size(seqs: list[dict]) -> list[dict]:
    """Caches store maps at the map size of their day; resample to the current ``MAP_SIZE``."""
    out = []
    for s in seqs:
        s = dict(s)
        for key in ("maps", "pred_maps"):
            if key in s and s[key].shape[-1] != MAP_SIZE:
                s[key] = torch.nn.functional.adaptive_avg_pool2d(s[key].float()[:, None], MAP_SIZE)[:, 0]
        out.append(s)
    return out


def cmd_global(a) -> None:
    rng = np.random.default_rng(a.seed)
    predicted = a.stage >= 1
    if predicted:
        seqs = [s for s in D.load_cache(_paths(a.cache, "rollout")) if "pred_maps" in s]
    else:
        seqs = _at_map_size(D.load_cache(_paths(a.cache, "train"))) + box_track_sequences(a.data)
    val = _at_map_size(D.load_cache(_paths(a.cache, "val")))
    _log(f"global stage {a.stage}: {len(seqs)} sequences, {sum(len(s['maps']) for s in seqs)} maps")
    model = GlobalModel()
    if a.init:
        model.load_state_dict(torch.load(a.init, weights_only=True))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    vrng = np.random.default_rng(a.seed + 5)
    vb = draw_global_batch(val, 24, a.length, vrng, 2, False)

    def evaluate() -> dict:
        model.eval()
        with torch.no_grad():
            th = model(vb[0], vb[4], BURN_IN)
            loss, parts = global_loss(th, vb[1], vb[2], vb[4], vb[3])
            W = vb[4] * 100.0
            err = theta_error(th, vb[2], vb[3], W, torch.full_like(W, 100.0))
        model.train()
        return {"loss": float(loss), **parts, **err}

    before = evaluate()
    _log(f"val before: {before}")
    t0, it = time.time(), 0
    while it < a.iters and time.time() - t0 < a.minutes * 60:
        it += 1
        frac = it / a.iters
        max_kernel = 0 if predicted else max(0, int(round(3 * (1 - frac))))   # dilation shrinks over training
        for g in opt.param_groups:
            g["lr"] = a.lr * (0.2 if frac > 0.75 else 1.0)
        maps, tg, tt, valid, aspect = draw_global_batch(seqs, a.batch, a.length, rng, max_kernel, predicted)
        thetas = model(maps, aspect, BURN_IN)
        loss, parts = global_loss(thetas, tg, tt, aspect, valid)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if it % 50 == 0:
            _log(f"it {it} {time.time() - t0:.0f}s loss {float(loss):.4f} {parts}")
        if it % 300 == 0:
            _log(f"val: {evaluate()}")
    after = evaluate()
    _log(f"val after {it} iterations: {after}")
    _save(model.state_dict(), a.out, {"stage": a.stage, "args": {k: v for k, v in vars(a).items() if k != "func"},
                                       "iterations": it, "seconds": round(time.time() - t0),
                                       "val_before": before, "val_after": after})


# -- roll-out (Algorithm 1 on the training clips) ------------------------------------------------------
def cmd_rollout(a) -> None:
    from .core import PixelwiseCore
    from .weights import PixelwiseNet, is_fine
    local = torch.load(a.local, weights_only=True)
    net = PixelwiseNet(fine=is_fine(local, ""))
    net.local.load_state_dict(local)
    net.global_.load_state_dict(torch.load(a.global_, weights_only=True))
    net.eval()
    trunk = D.build_trunk()
    core = PixelwiseCore(net, trunk, "2stage")
    out_dir = os.path.join(a.cache, "rollout")
    os.makedirs(out_dir, exist_ok=True)
    davis = [DiskClip(os.path.join(a.data, n)) for n in davis_train(a.data)]
    backgrounds = [os.path.join(a.data, n) for n in box_sequences(a.data)]
    jobs = [(f"{c.name}-s{s}", (lambda c=c: c), s) for c in davis for s in (0, len(c) // 2)]
    jobs += [(f"composite-{k}", (lambda k=k: composite_clip(a.seed * 100000 + k, backgrounds, davis)), 0)
             for k in range(a.composites)]
    t0 = time.time()
    for name, make, start in jobs:
        path = os.path.join(out_dir, f"{name}.pt")
        if os.path.exists(path):
            continue
        clip = make()
        masks = [clip.mask(i) for i in range(start, len(clip))]
        if masks[0].sum() < 16:
            continue
        frame0 = clip.frame(start)
        H, W = frame0.shape[:2]
        core.start(frame0, masks[0])
        t = core.init_roi
        feats = [core.init_feats[0]]
        targets, pred = [D.crop_mask(masks[0], t)], [D.map_of_mask(masks[0])]
        ious = []
        for k in range(1, len(masks)):
            o = core.step(clip.frame(start + k))
            feats.append(o.feats[0])
            targets.append(D.crop_mask(masks[k], o.roi))
            pred.append(D.map_of_mask(o.mask))
            u = (o.mask | masks[k]).sum()
            ious.append(float((o.mask & masks[k]).sum() / u) if u else 1.0)
        n = len(masks)
        boxes = [D.box_from_mask(m) for m in masks]
        torch.save({"name": name, "feats": torch.stack(feats).half(), "targets": torch.from_numpy(np.stack(targets)),
                    "index": torch.arange(n), "centred": torch.tensor([True] + [False] * (n - 1)), "length": n,
                    "width": W, "height": H,
                    "maps": torch.from_numpy(np.stack([D.map_of_mask(m) for m in masks])).half(),
                    "pred_maps": torch.from_numpy(np.stack(pred)).half(),
                    "boxes": torch.tensor([[math.nan] * 4 if b is None else list(b) for b in boxes])}, path)
        _log(f"rollout {name}: {n} frames, mean IoU {np.mean(ious):.3f} ({time.time() - t0:.0f}s)")


def cmd_pack(a) -> None:
    from .weights import PixelwiseNet, is_fine
    local = torch.load(a.local, weights_only=True)
    net = PixelwiseNet(fine=is_fine(local, ""))
    net.local.load_state_dict(local)
    net.global_.load_state_dict(torch.load(a.global_, weights_only=True))
    # float16 halves the file (the model runs in float32; load_state_dict casts)
    state = {k: v.detach().clone().half() if v.is_floating_point() else v.detach().clone()
             for k, v in net.state_dict().items()}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save(state, a.out)
    _log(f"packed {a.out} ({os.path.getsize(a.out) / 1e6:.2f} MB)")


def add_stage_commands(sub, common) -> None:
    p = sub.add_parser("local", parents=[common])
    p.add_argument("--stage", type=int, default=0)
    p.add_argument("--init", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--iters", type=int, default=3000)
    p.add_argument("--minutes", type=float, default=28)
    p.add_argument("--batch", type=int, default=6)
    p.add_argument("--length", type=int, default=8, help="frames after the initial ROI per window")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--no-replace", action="store_true", help="skip §3.3 step 4 (ablation)")
    p.add_argument("--fine", action="store_true", help="add the stride-8 match maps (needs a cache with them)")
    p.add_argument("--coarse-weight", type=float, default=0.5, help="deep supervision on the ConvLSTM output")
    p.add_argument("--val-every", type=int, default=150, help="held-out validation interval; the best is kept")
    p.add_argument("--keep-last", action="store_true",
                   help="keep the last iteration, not the best held-out validation (no choice on held-out data)")
    p.add_argument("--val-count", type=int, default=96, help="held-out windows per validation")
    p.set_defaults(func=cmd_local)
    p = sub.add_parser("global", parents=[common])
    p.add_argument("--stage", type=int, default=0)
    p.add_argument("--init", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--iters", type=int, default=800)
    p.add_argument("--minutes", type=float, default=15)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.set_defaults(func=cmd_global)
    p = sub.add_parser("rollout", parents=[common])
    p.add_argument("--local", required=True)
    p.add_argument("--global", dest="global_", required=True)
    p.add_argument("--composites", type=int, default=80)
    p.set_defaults(func=cmd_rollout)
    p = sub.add_parser("pack", parents=[common])
    p.add_argument("--local", required=True)
    p.add_argument("--global", dest="global_", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_pack)
