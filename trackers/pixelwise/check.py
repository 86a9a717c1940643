"""Diagnostics behind the figures in ``resources/weights/pixelwise/PROVENANCE.md``.

    python -m trackers.pixelwise.check windows --local $C/local3.pth       # ROI IoU, area ratio per split
    python -m trackers.pixelwise.check windows --matching                  # the untrained matching baseline
    python -m trackers.pixelwise.check guards --weights W.pth              # closed loop on TRAINING clips
    python -m trackers.pixelwise.check refresh --weights W.pth             # memory refresh, same clips
    python -m trackers.pixelwise.check closed --set min_roi=0.5,0.7 --mode 2stage   # any one parameter

``windows`` scores the local model on cached windows with ground-truth-placed ROIs (no
closed loop): held-out DAVIS, training DAVIS and the composites, so the gap between
them shows over-fitting and the area ratio shows under-segmentation.  ``guards``
runs the whole tracker (Algorithm 1 / Eq. 5) with each collapse-guard setting over
the DAVIS *training* sequences and synthetic clips only, so choosing the guards never
looks at the held-out sequences.
"""
from __future__ import annotations

import argparse
import glob
import os

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from .local_model import FEAT_SIZE, ROI_SIZE, LocalModel, match_maps, reference_cells
from .train import CACHE
from .weights import is_fine

REFRESH = [(0, 0), (8, 0), (4, 2), (6, 2), (4, 4), (6, 3), (8, 4), (2, 2), (3, 2), (4, 1), (4, 3), (3, 3), (2, 4)]
GUARDS = [("2stage", 0.0, 0.0), ("2stage", 0.5, 0.0), ("2stage", 0.0, 0.3), ("2stage", 0.5, 0.3),
          ("1stage", 0.0, 0.0), ("1stage", 0.0, 0.3)]


def _matching_logits(f0, m0, fs, *_):
    """Untrained baseline: a cell is the object when its best match is an object cell of the first ROI."""
    ref, fg = reference_cells(f0, LocalModel.mask_to_grid(m0, FEAT_SIZE, dilate=0))
    out = []
    for t in range(fs.shape[1]):
        m = match_maps(fs[:, t], ref, fg)
        out.append(F.interpolate(m[:, :1] - m[:, 1:2], size=ROI_SIZE, mode="bilinear", align_corners=False))
    return torch.stack(out, 1) * 50


@torch.no_grad()
def window_scores(predict, seqs: list[dict], length: int = 6, batches: int = 6, seed: int = 7,
                  fine: bool = False) -> dict:
    wins = [D.windows(s, length) for s in seqs]
    keep = [k for k, w in enumerate(wins) if w]
    seqs, wins = [seqs[k] for k in keep], [wins[k] for k in keep]
    rng = np.random.default_rng(seed)
    ious, areas = [], []
    for _ in range(batches):
        f0, m0, fs, ts, *finer = D.draw_local_batch(seqs, wins, 8, rng, replace=False, fine=fine)
        pred, gt = torch.sigmoid(predict(f0, m0, fs, False, *finer)) > 0.5, ts > 0.5
        for b in range(len(pred)):
            for t in range(pred.shape[1]):
                if gt[b, t].any():
                    ious.append(float((pred[b, t] & gt[b, t]).sum() / (pred[b, t] | gt[b, t]).sum()))
                    areas.append(float(pred[b, t].sum() / gt[b, t].sum()))
    return {"roi_iou": round(float(np.mean(ious)), 3), "area_ratio": round(float(np.median(areas)), 2)}


def cmd_windows(a) -> None:
    fine = False
    if a.matching:
        predict = _matching_logits
    else:
        state = torch.load(a.local, weights_only=True)
        fine = is_fine(state, "")
        model = LocalModel(fine=fine)
        model.load_state_dict(state)
        predict = model.eval()
    train = D.load_cache(sorted(glob.glob(os.path.join(a.cache, "train", "*.pt"))))
    splits = {"held-out": D.load_cache(sorted(glob.glob(os.path.join(a.cache, "val", "*.pt")))),
              "davis-train": [s for s in train if s["name"].startswith("davis")],
              "composites": [s for s in train if not s["name"].startswith("davis")]}
    for name, seqs in splits.items():
        print(name, window_scores(predict, seqs, a.length, fine=fine), flush=True)


def _clip_iou(tracker, frames, masks) -> float:
    tracker.init(frames[0], mask=masks[0])
    ious = []
    for frame, gt in zip(frames[1:], masks[1:]):
        r = tracker.track(frame)
        u = (r.mask | gt).sum()
        ious.append((r.mask & gt).sum() / u if u else 1.0)
    return float(np.mean(ious))


def _training_clips(a) -> tuple[list[str], list]:
    """(names, [(frames, masks)]) of the DAVIS training sequences and ``a.synthetic`` synthetic clips."""
    from ..data.synthetic import SyntheticClip
    from .clips import DiskClip
    from .splits import davis_train
    clips = [DiskClip(os.path.join(a.data, n)) for n in davis_train(a.data)]
    clips += [SyntheticClip(deform=0.15, num_frames=30, seed=k, occluder=bool(k % 2)) for k in range(a.synthetic)]
    loaded = [([c.frame(i) for i in range(len(c))], [c.mask(i) for i in range(len(c))]) for c in clips]
    names = [getattr(c, "name", f"synthetic-{k - len(clips) + a.synthetic}") for k, c in enumerate(clips)]
    return names, loaded


def _closed_loop(a, names, loaded, label: str, **params) -> None:
    import trackers
    t = trackers.create("pixelwise", device="cpu", weights=a.weights, **params)
    res = {n: round(_clip_iou(t, f, m), 3) for n, (f, m) in zip(names, loaded)}
    davis = [v for n, v in res.items() if n.startswith("davis")]
    synth = [v for n, v in res.items() if not n.startswith("davis")]
    print(f"{label}: DAVIS-train {np.mean(davis):.3f} synthetic {np.mean(synth):.3f} {res}", flush=True)


def cmd_guards(a) -> None:
    names, loaded = _training_clips(a)
    for mode, min_roi, collapse in GUARDS:
        _closed_loop(a, names, loaded, f"{mode} min_roi={min_roi} collapse={collapse}", mode=mode,
                     min_roi=min_roi, collapse=collapse)


def cmd_refresh(a) -> None:
    """Memory refresh settings (refresh K, replay R) with the shipped guards, both modes."""
    names, loaded = _training_clips(a)
    for k, r in REFRESH:
        for mode in ("2stage", "1stage"):
            _closed_loop(a, names, loaded, f"{mode} refresh={k} replay={r}", mode=mode, refresh=k, replay=r)


def _value(text: str):
    """A tracker parameter from the command line: int, float, or a tuple of them ("8:0.003")."""
    if ":" in text:
        return tuple(_value(t) for t in text.split(":"))
    return int(text) if text.lstrip("-").isdigit() else float(text)


def cmd_closed(a) -> None:
    """One tracker parameter swept over values (``--set name=v1,v2``), the rest at their defaults."""
    name, values = a.set.split("=", 1)
    names, loaded = _training_clips(a)
    for text in values.split(","):
        for mode in a.mode:
            _closed_loop(a, names, loaded, f"{mode} {name}={text}", mode=mode, **{name: _value(text)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trackers.pixelwise.check", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("windows")
    p.add_argument("--local", help="a local-model state dict (train local --out)")
    p.add_argument("--matching", action="store_true", help="score the untrained matching baseline instead")
    p.add_argument("--cache", default=CACHE)
    p.add_argument("--length", type=int, default=6)
    p.set_defaults(func=cmd_windows)
    closed_loop = {}  # the sweeps over the training clips share their arguments
    for name, func in (("guards", cmd_guards), ("refresh", cmd_refresh), ("closed", cmd_closed)):
        p = closed_loop[name] = sub.add_parser(name)
        p.add_argument("--weights", default=None, help="packed weights (default: the shipped file)")
        p.add_argument("--data", default="/work/shared/data/dev")
        p.add_argument("--synthetic", type=int, default=4)
        p.set_defaults(func=func)
    p = closed_loop["closed"]
    p.add_argument("--set", required=True, help="name=v1,v2,... (a tuple as 8:0.003)")
    p.add_argument("--mode", action="append", choices=["2stage", "1stage"], default=None)
    a = ap.parse_args(argv)
    if a.cmd == "windows" and not (a.local or a.matching):
        ap.error("windows needs --local or --matching")
    if a.cmd == "closed" and not a.mode:
        a.mode = ["2stage", "1stage"]
    torch.set_num_threads(1)
    a.func(a)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
