"""Training of the pixel-wise tracker, all on CPU, in stages (§5.1 iterative optimisation).

    C=/tmp/trackassist_cache/pixelwise
    python -m trackers.pixelwise.train cache --composites 80 --davis-repeats 2      # frozen trunk, once
    python -m trackers.pixelwise.train local  --stage 0 --out $C/local0.pth          # Eq. 2 on GT-placed ROIs
    python -m trackers.pixelwise.train global --stage 0 --out $C/global0.pth         # Eq. 4 on GT maps
    python -m trackers.pixelwise.train rollout --local $C/local0.pth --global $C/global0.pth   # Algorithm 1
    python -m trackers.pixelwise.train global --stage 1 --init $C/global0.pth --out $C/global1.pth  # predicted maps
    python -m trackers.pixelwise.train local  --stage 1 --init $C/local0.pth --out $C/local1.pth    # tracker ROIs
    python -m trackers.pixelwise.train pack --local $C/local1.pth --global $C/global1.pth \
        --out resources/weights/pixelwise/pixelwise_lite0.pth

``cache`` runs the frozen trunk once per ROI and stores features outside the
repository (``--cache``); every later stage trains only the small heads.
Everything is seeded (``--seed``); each stage stops after ``--minutes``.
Held-out sequences: :data:`trackers.pixelwise.splits.DAVIS_HELD_OUT`.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

import numpy as np
import torch

from . import data as D
from .clips import DiskClip, composite_clip
from .splits import DAVIS_HELD_OUT, box_sequences, davis_train

CACHE = "/tmp/trackassist_cache/pixelwise"


def _log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def cmd_cache(a) -> None:
    os.makedirs(os.path.join(a.cache, "train"), exist_ok=True)
    os.makedirs(os.path.join(a.cache, "val"), exist_ok=True)
    trunk = D.build_trunk()
    davis = [DiskClip(os.path.join(a.data, n)) for n in davis_train(a.data)]
    backgrounds = [os.path.join(a.data, n) for n in box_sequences(a.data)]
    jobs = []
    for rep in range(a.davis_repeats):
        jobs += [("train", f"{c.name}-r{rep}", lambda c=c: c, rep) for c in davis]
    jobs += [("val", n, lambda n=n: DiskClip(os.path.join(a.data, n)), 0) for n in DAVIS_HELD_OUT]
    jobs += [("train", f"composite-{k}", lambda k=k: composite_clip(a.seed * 100000 + k, backgrounds, davis), k)
             for k in range(a.composites)]
    total = 0
    for split, name, make, k in jobs:
        path = os.path.join(a.cache, split, f"{name}.pt")
        if os.path.exists(path):
            continue
        n = D.cache_clip(make(), trunk, np.random.default_rng([a.seed, k, len(name)]), path)
        total += n
        _log(f"cached {split}/{name}: {n} ROIs")
    _log(f"cache ready ({total} new ROIs)")


def cache_paths(cache: str, split: str) -> list[str]:
    return sorted(glob.glob(os.path.join(cache, split, "*.pt")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trackers.pixelwise.train", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", default="/work/shared/data/dev")
    common.add_argument("--cache", default=CACHE)
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("cache", parents=[common])
    p.add_argument("--composites", type=int, default=60)
    p.add_argument("--davis-repeats", type=int, default=2)
    from .train_stages import add_stage_commands
    add_stage_commands(sub, common)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.cmd == "cache":
        cmd_cache(a)
    else:
        a.func(a)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
