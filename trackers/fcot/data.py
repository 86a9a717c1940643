"""Training data for FCOT: jittered search crops of GOT-10k-style sequences, run
once through the frozen trunk and cached on disk (outside the repository).

Each cached sequence is one ``.pt`` file holding float16 trunk features at
strides 4, 8 and 16 for one crop per used frame, and the target box in crop
pixels (xyxy).  Building the cache is the only place the trunk runs during
training, which is what makes CPU training feasible.
"""
from __future__ import annotations

import glob
import math
import os

import cv2
import numpy as np
import torch

from .. import backbones
from ..ops import crop_square, warp_crop
from .model import TRUNK_TAPS

SEARCH_SIZE = 288        # crop side in pixels: 18x18 (stride 16) and 72x72 (stride 4) maps
SEARCH_CONTEXT = 4.0     # crop side = SEARCH_CONTEXT * sqrt(target area)


def read_sequence(folder: str) -> tuple[list[str], np.ndarray]:
    """Frame files and ``(N, 4)`` xywh boxes (nan rows where the target is absent)."""
    frames = sorted(glob.glob(os.path.join(folder, "*.jpg")) + glob.glob(os.path.join(folder, "*.png")))
    gt_path = os.path.join(folder, "groundtruth.txt")
    rows = []
    with open(gt_path) as fh:
        for line in fh:
            if line.strip():
                vals = [float(v) for v in line.replace("\t", ",").replace(" ", ",").split(",") if v]
                rows.append(vals[:4] if len(vals) >= 4 else [math.nan] * 4)
    boxes = np.array(rows, np.float64).reshape(-1, 4)
    absent_path = os.path.join(folder, "absence.label")
    if os.path.exists(absent_path):
        flags = np.loadtxt(absent_path).reshape(-1)[:len(boxes)]
        boxes[np.flatnonzero(flags > 0)] = np.nan
    n = min(len(frames), len(boxes))
    return frames[:n], boxes[:n]


def jittered_crop(frame: np.ndarray, box, rng: np.random.Generator, centre_jitter: float, scale_jitter: float):
    """Crop around ``box`` with the centre moved by ``N(0, centre_jitter * sqrt(wh))`` (capped
    at one target size) and the side scaled by ``exp(N(0, scale_jitter))``.
    Returns ``(patch, box_in_patch_xyxy)``."""
    x, y, w, h = box
    sz = math.sqrt(w * h)
    shift = np.clip(rng.normal(0, centre_jitter, 2), -1, 1) * sz
    side = SEARCH_CONTEXT * sz * math.exp(float(np.clip(rng.normal(0, scale_jitter), -0.4, 0.4)))
    t = crop_square((x + w / 2 + shift[0], y + h / 2 + shift[1]), side, SEARCH_SIZE)
    patch = warp_crop(frame, t)
    bx, by, bw, bh = t.box_to_patch(box)
    return patch, np.array([bx, by, bx + bw, by + bh], np.float32)


@torch.no_grad()
def build_sequence_cache(folder: str, out_path: str, trunk, rng: np.random.Generator, step: int = 1,
                         centre_jitter: float = 0.25, scale_jitter: float = 0.12, flip: bool = True,
                         batch: int = 16) -> int:
    frames, boxes = read_sequence(folder)
    keep = [i for i in range(0, len(frames), step)
            if np.isfinite(boxes[i]).all() and boxes[i, 2] >= 4 and boxes[i, 3] >= 4]
    feats = {s: [] for s in TRUNK_TAPS}
    crop_boxes, pending = [], []

    def flush():
        x = backbones.normalize(np.stack(pending))
        out = trunk(x)
        for s in TRUNK_TAPS:
            feats[s].append(out[s].half())
        pending.clear()

    for i in keep:
        frame = cv2.imread(frames[i], cv2.IMREAD_COLOR)[:, :, ::-1]
        patch, pbox = jittered_crop(frame, boxes[i], rng, centre_jitter, scale_jitter)
        if flip and rng.random() < 0.5:
            patch = patch[:, ::-1]
            pbox = np.array([SEARCH_SIZE - pbox[2], pbox[1], SEARCH_SIZE - pbox[0], pbox[3]], np.float32)
        pending.append(np.ascontiguousarray(patch))
        crop_boxes.append(pbox)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    if not crop_boxes:
        return 0
    torch.save({"feats": {s: torch.cat(feats[s]) for s in TRUNK_TAPS},
                "boxes": torch.from_numpy(np.stack(crop_boxes)),
                "frames": torch.tensor(keep), "name": os.path.basename(folder.rstrip("/"))}, out_path)
    return len(crop_boxes)


def build_cache(data_root: str, names: list[str], cache_dir: str, seed: int, step: int = 1,
                flip: bool = False) -> list[str]:
    """Cache every named sequence (skipping ones already cached); returns the cache files.

    ``flip`` mirrors crops at random, per crop.  Off by default: an episode fits the online
    models on some crops of a sequence and scores another, and a mirror image of an
    asymmetric target between the two teaches the heads to ignore what tells look-alikes apart
    (the first shipped weights were trained with it on).
    """
    os.makedirs(cache_dir, exist_ok=True)
    trunk = backbones.build("lite0", taps=TRUNK_TAPS)
    paths = []
    for k, name in enumerate(names):
        path = os.path.join(cache_dir, f"{name}_s{step}_seed{seed}{'_flip' if flip else ''}.pt")
        if not os.path.exists(path):
            rng = np.random.default_rng([seed, k])
            n = build_sequence_cache(os.path.join(data_root, name), path + ".tmp", trunk, rng, step=step, flip=flip)
            if n == 0:
                continue
            os.replace(path + ".tmp", path)
            print(f"cached {name}: {n} crops", flush=True)
        paths.append(path)
    return paths
