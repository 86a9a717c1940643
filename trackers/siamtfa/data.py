"""Training data for SiamTFA: frozen-trunk features of search-crop *triplets* and template crops,
computed once and cached on disk outside the repository.

One sample = frames ``t-1, t, t+1`` of a sequence cut with the *same* square
region (jittered around the target at ``t``, ``SEARCH_CONTEXT`` x its size,
resized to ``SEARCH_SIZE``), so the temporal shift sees spatially aligned
neighbours, plus a template crop (``TEMPLATE_CONTEXT`` x the target, resized
to ``TEMPLATE_SIZE``) of another frame of the same sequence.  Stored per
sample (float16): stride-16 trunk features (the input of the last backbone
stage) of the three search crops and of the template, stride-8 features of
the centre search crop (the FPN's finest level), the target box in both crops.
At sequence ends the missing neighbour repeats the centre frame, as the
tracker does on its first frame.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch

from .. import backbones
from ..eval.dataset import load_sequence, read_frame
from ..ops import crop_square, warp_crop

SEARCH_SIZE = 256        # 32x32 (stride 8), 16x16 (16), 8x8 (32), 4x4 (64) maps
SEARCH_CONTEXT = 4.0     # search side = 4 * sqrt(target area): the target is ~64 px in the crop
TEMPLATE_SIZE = 128
TEMPLATE_CONTEXT = 2.0   # same pixel scale as the search crop
TRUNK_TAPS = (8, 16)
DEFAULT_CACHE = "/tmp/trackassist_cache/siamtfa"
TEMPLATE_GAP = 100       # template frame within this many frames of the search frame


def _valid(box) -> bool:
    return bool(np.all(np.isfinite(box)) and box[2] >= 4 and box[3] >= 4)


def _to_xyxy(t, box) -> np.ndarray:
    x, y, w, h = t.box_to_patch(box)
    return np.array([x, y, x + w, y + h], np.float32)


def _flip_xyxy(b: np.ndarray, size: int) -> np.ndarray:
    return np.array([size - b[2], b[1], size - b[0], b[3]], np.float32)


def sample_crops(frames: list[np.ndarray], box_t, box_z, rng: np.random.Generator, centre_jitter: float = 0.25,
                 scale_jitter: float = 0.15):
    """``frames`` = [t-1, t, t+1, template]; returns (3 search patches, template patch, box_x, box_z) (xyxy)."""
    x, y, w, h = box_t
    sz = math.sqrt(w * h)
    shift = np.clip(rng.normal(0, centre_jitter, 2), -0.8, 0.8) * sz
    side = SEARCH_CONTEXT * sz * math.exp(float(np.clip(rng.normal(0, scale_jitter), -0.35, 0.35)))
    t = crop_square((x + w / 2 + shift[0], y + h / 2 + shift[1]), side, SEARCH_SIZE)
    pad = tuple(float(v) for v in frames[1].reshape(-1, 3).mean(0))
    search = [warp_crop(f, t, pad) for f in frames[:3]]
    zx, zy, zw, zh = box_z
    tz = crop_square((zx + zw / 2, zy + zh / 2), TEMPLATE_CONTEXT * math.sqrt(zw * zh), TEMPLATE_SIZE)
    template = warp_crop(frames[3], tz)
    bx, bz = _to_xyxy(t, box_t), _to_xyxy(tz, box_z)
    if rng.random() < 0.5:   # flip the whole sample: shift alignment is kept
        search = [s[:, ::-1] for s in search]
        template = template[:, ::-1]
        bx, bz = _flip_xyxy(bx, SEARCH_SIZE), _flip_xyxy(bz, TEMPLATE_SIZE)
    return search, template, bx, bz


@torch.no_grad()
def cache_sequence(root: str, name: str, path: str, trunk, rng: np.random.Generator, max_samples: int) -> int:
    seq = load_sequence(root, name)
    boxes = np.where(seq.absent[:, None], np.nan, seq.boxes)
    valid = [i for i in range(len(boxes)) if _valid(boxes[i])]
    if len(valid) < 2:
        return 0
    step = max(1, len(valid) // max_samples)
    centres = valid[int(rng.integers(step))::step][:max_samples]
    cache: dict[int, np.ndarray] = {}

    def frame(i: int) -> np.ndarray:
        if i not in cache:
            cache[i] = read_frame(seq.frame_files[i])
        return cache[i]

    out = {"x16": [], "x8": [], "z16": [], "box_x": [], "box_z": [], "frame": []}
    for t in centres:
        prev, nxt = max(t - 1, 0), min(t + 1, len(boxes) - 1)
        near = [i for i in valid if abs(i - t) <= TEMPLATE_GAP and i != t] or [t]
        z = int(rng.choice(near))
        search, template, bx, bz = sample_crops([frame(prev), frame(t), frame(nxt), frame(z)],
                                                boxes[t], boxes[z], rng)
        fx = trunk(backbones.normalize(np.ascontiguousarray(np.stack(search))))
        trunk.set_taps((16,))
        fz = trunk(backbones.normalize(np.ascontiguousarray(template)))
        trunk.set_taps(TRUNK_TAPS)
        out["x16"].append(fx[16].half())
        out["x8"].append(fx[8][1:2].half())
        out["z16"].append(fz[16].half())
        out["box_x"].append(torch.from_numpy(bx))
        out["box_z"].append(torch.from_numpy(bz))
        out["frame"].append(t)
        for k in [k for k in cache if k < t - TEMPLATE_GAP]:
            del cache[k]
    data = {"x16": torch.stack(out["x16"]), "x8": torch.cat(out["x8"]), "z16": torch.cat(out["z16"]),
            "box_x": torch.stack(out["box_x"]), "box_z": torch.stack(out["box_z"]),
            "frame": torch.tensor(out["frame"]), "name": name}
    torch.save(data, path + ".tmp")
    os.replace(path + ".tmp", path)
    return len(centres)


def build_cache(root: str, names: list[str], cache_dir: str, seed: int, max_samples: int, log=print) -> list[str]:
    """Cache every named sequence (skipping ones already cached); returns the cache files."""
    os.makedirs(cache_dir, exist_ok=True)
    trunk = backbones.build("lite0", taps=TRUNK_TAPS)
    paths = []
    for k, name in enumerate(names):
        path = os.path.join(cache_dir, f"{name}_n{max_samples}_seed{seed}.pt")
        if not os.path.exists(path):
            n = cache_sequence(root, name, path, trunk, np.random.default_rng([seed, k]), max_samples)
            if n == 0:
                continue
            log(f"cached {name}: {n} samples")
        paths.append(path)
    return paths


def load(paths: list[str]) -> list[dict]:
    return [torch.load(p, weights_only=True) for p in paths]


def main(argv: list[str] | None = None) -> int:
    import argparse
    from .train import HELD_OUT, split_names
    ap = argparse.ArgumentParser(prog="python -m trackers.siamtfa.data", description="fill the SiamTFA feature cache")
    ap.add_argument("--data", default="/work/shared/data/dev")
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=70, help="samples per training sequence")
    ap.add_argument("--val-samples", type=int, default=30, help="samples per held-out sequence")
    ap.add_argument("--part", choices=("train", "val", "all"), default="all")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    train, val = split_names(a.data)
    log = lambda m: print(m, flush=True)  # noqa: E731
    if a.part in ("val", "all"):
        build_cache(a.data, val, a.cache, a.seed + 1, a.val_samples, log)
    if a.part in ("train", "all"):
        build_cache(a.data, train, a.cache, a.seed, a.samples, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
