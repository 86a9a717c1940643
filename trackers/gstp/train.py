"""Train GSTP's learned parts on the dev data: ``python -m trackers.gstp.train STAGE ...``.

``siamrcnn``: the SiamRCNN heads on template/search pairs of cached frozen-trunk
features (``/tmp/trackassist_cache/gstp``, filled on first use).
``motion``: the motion HRNet on real plus (``--synthetic`` fraction) synthetic
trajectories; ``--synthetic 0`` trains the real-only comparison.

Held-out sequences (``--val``, default: the VOT ones with occlusion) are never
sampled for training; the validation figures are printed and written beside
the weights as ``<name>.json``.  Example::

    python -m trackers.gstp.train siamrcnn --data /work/shared/data/dev --steps 1500 --seed 0
    python -m trackers.gstp.train motion --data /work/shared/data/dev --steps 500 --synthetic 0.5 --seed 0
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

from ..eval.dataset import sequence_names
from . import cache
from .features import FrameEncoder

DEFAULT_VAL = ["vot2014-car", "vot2014-jogging", "vot2014-skating", "vot2014-woman"]
DEFAULT_OUT = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "weights", "gstp")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=["siamrcnn", "motion"])
    p.add_argument("--data", required=True, help="GOT-10k style dataset folder (the dev data)")
    p.add_argument("--val", default=",".join(DEFAULT_VAL), help="held-out sequences (comma separated)")
    p.add_argument("--cache", default=cache.DEFAULT_CACHE)
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--name", default=None, help="weights file name (default: <stage>.pth)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--synthetic-clips", type=int, default=12, help="SiamRCNN: synthetic clips added to training")
    p.add_argument("--synthetic", type=float, default=0.5, help="motion: fraction of synthetic samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    def log(msg: str) -> None:
        print(msg, flush=True)

    val_names = [v for v in a.val.split(",") if v]
    names = sequence_names(a.data)
    train_names = [n for n in names if n not in val_names]
    if a.stage == "siamrcnn":
        paths = cache.build(FrameEncoder(), a.data, names, a.synthetic_clips, a.cache, log=log)
    else:   # the motion model needs no trunk features: boxes and 64x64 thumbnails only
        paths = {n: cache.cache_trajectory(a.data, n, a.cache) for n in names}
    train = [cache.load(paths[n]) for n in paths if n not in val_names]
    val = [cache.load(paths[n]) for n in val_names]
    log(f"train: {', '.join(n for n in paths if n not in val_names)}")
    log(f"validation: {', '.join(val_names)}")
    if a.stage == "siamrcnn":
        from .train_siamrcnn import train_siamrcnn
        net, report = train_siamrcnn(train, val, a.steps, a.batch, a.lr, a.seed, log=log)
    else:
        from .train_motion import train_motion
        net, report = train_motion(train, val, a.steps, a.batch, a.synthetic, a.seed, lr=a.lr, log=log)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, a.name or f"{a.stage}.pth")
    torch.save(net.state_dict(), path)
    report.update({"command": "python -m trackers.gstp.train " + " ".join(argv if argv is not None else sys.argv[1:]),
                   "seed": a.seed, "train": train_names, "validation_sequences": val_names})
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump(report, f, indent=1, default=float)
    log(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
