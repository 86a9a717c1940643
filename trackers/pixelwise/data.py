"""Training data of §3.3 and its feature cache.

ROIs (steps 1-3 of §3.3): square, side = ``ROI_CONTEXT`` (2) x the longer side
of the object, clipped to [56, 672] px, centred on the object's mask at frame
``t - LAG`` (5; the global model lags behind), then jittered: scale x U(0.9, 1.1),
shift U(-10, 10) px; resized to ``ROI_SIZE``.  Every 4th frame also gets a
*centred* ROI (no lag, no jitter): those are where training windows start
(the first ROI of a track is centred on the given mask).

Step 4 (one ROI of each training window replaced by a ROI of another clip,
target all zero) is done when a batch is drawn (:func:`draw_local_batch`), so
every epoch sees different replacements.

The frozen trunk runs once per ROI here; the cache (``.pt`` per clip, outside
the repository) holds float16 stride-16 features (and stride-8 ones, ``feats_fine``), the ROI targets, and the
clip's full-frame masks at the global model's map size.
"""
from __future__ import annotations

import math
import os

import cv2
import numpy as np
import torch

from .. import backbones
from ..base import box_from_mask
from ..ops import crop_square, warp_crop
from .global_model import MAP_SIZE, ROI_CONTEXT, ROI_MAX, ROI_MIN
from .local_model import FINE_STRIDE, ROI_SIZE, STRIDE

LAG = 5
CENTRED_EVERY = 4


def roi_for_box(box, jitter_rng: np.random.Generator | None = None, scale_jitter: float = 0.1,
                shift_px: float = 10.0):
    """CropTransform of the §3.3 ROI around ``box`` (x, y, w, h)."""
    x, y, w, h = box
    side = float(np.clip(ROI_CONTEXT * max(w, h), ROI_MIN, ROI_MAX))
    cx, cy = x + w / 2, y + h / 2
    if jitter_rng is not None:
        side *= jitter_rng.uniform(1 - scale_jitter, 1 + scale_jitter)
        cx, cy = cx + jitter_rng.uniform(-shift_px, shift_px), cy + jitter_rng.uniform(-shift_px, shift_px)
    return crop_square((cx, cy), side, ROI_SIZE)


def crop_mask(mask: np.ndarray, t) -> np.ndarray:
    return warp_crop(mask.astype(np.uint8) * 255, t, (0.0,)) > 127


def map_of_mask(mask: np.ndarray, size: int = MAP_SIZE) -> np.ndarray:
    """Full-frame mask/probability -> the global model's ``size`` x ``size`` map (float32, 0..1)."""
    return cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


def trunk_taps(trunk, patches: list[np.ndarray], batch: int = 16) -> dict[int, torch.Tensor]:
    """ROI patches -> ``{stride: features}`` for every tap the trunk was built with."""
    out: dict[int, list] = {}
    with torch.no_grad():
        for k in range(0, len(patches), batch):
            x = backbones.normalize(np.stack(patches[k:k + batch]))
            for s, f in trunk(x).items():
                out.setdefault(s, []).append(f)
    return {s: torch.cat(v) for s, v in out.items()}


def trunk_features(trunk, patches: list[np.ndarray], batch: int = 16) -> torch.Tensor:
    return trunk_taps(trunk, patches, batch)[STRIDE]


def build_trunk():
    return backbones.build("lite0", taps=(FINE_STRIDE, STRIDE))


def clip_rois(clip, rng: np.random.Generator):
    """(patches, targets, frame index, centred flag) of one clip (§3.3 steps 1-3)."""
    boxes = [box_from_mask(clip.mask(i)) for i in range(len(clip))]
    patches, targets, index, centred = [], [], [], []
    for i in range(len(clip)):
        frame, mask = None, None
        ref = next((boxes[j] for j in range(max(0, i - LAG), i + 1) if boxes[j] is not None), boxes[i])
        if ref is None:       # object absent for a while: nothing to centre on
            continue
        frame, mask = clip.frame(i), clip.mask(i)
        pad = tuple(float(v) for v in frame.reshape(-1, 3).mean(0))
        t = roi_for_box(ref, rng)
        patches.append(warp_crop(frame, t, pad)); targets.append(crop_mask(mask, t))
        index.append(i); centred.append(False)
        if i % CENTRED_EVERY == 0 and boxes[i] is not None and mask.sum() >= 16:
            t = roi_for_box(boxes[i])
            patches.append(warp_crop(frame, t, pad)); targets.append(crop_mask(mask, t))
            index.append(i); centred.append(True)
    return patches, targets, index, centred


def cache_clip(clip, trunk, rng: np.random.Generator, out_path: str) -> int:
    patches, targets, index, centred = clip_rois(clip, rng)
    if not patches:
        return 0
    first = clip.frame(0)
    H, W = first.shape[:2]
    masks = [clip.mask(i) for i in range(len(clip))]
    boxes = [box_from_mask(m) for m in masks]
    taps = trunk_taps(trunk, patches)
    data = {"name": clip.name, "feats": taps[STRIDE].half(),
            "targets": torch.from_numpy(np.stack(targets)), "index": torch.tensor(index),
            "centred": torch.tensor(centred), "length": len(clip), "width": W, "height": H,
            "maps": torch.from_numpy(np.stack([map_of_mask(m) for m in masks])).half(),
            "boxes": torch.tensor([[math.nan] * 4 if b is None else list(b) for b in boxes], dtype=torch.float32)}
    if FINE_STRIDE in taps:     # finer tap for the stride-8 match maps (caches before it lack it)
        data["feats_fine"] = taps[FINE_STRIDE].half()
    torch.save(data, out_path + ".tmp")
    os.replace(out_path + ".tmp", out_path)
    return len(patches)


def load_cache(paths: list[str]) -> list[dict]:
    return [torch.load(p, weights_only=True) for p in paths]


# -- batches ----------------------------------------------------------------------------------
def windows(seq: dict, length: int) -> list[tuple[int, list[int]]]:
    """(centred start ROI row, [lagged ROI rows of the next ``length`` frames]) for every possible start."""
    index, centred = seq["index"].tolist(), seq["centred"].tolist()
    lagged = {i: r for r, (i, c) in enumerate(zip(index, centred)) if not c}
    out = []
    for r, (i, c) in enumerate(zip(index, centred)):
        if c:
            rows = [lagged.get(i + k) for k in range(1, length + 1)]
            if all(v is not None for v in rows):
                out.append((r, rows))
    return out


def draw_local_batch(seqs: list[dict], wins: list[list], batch: int, rng: np.random.Generator,
                     replace: bool = True, fine: bool = False):
    """feats0 (B,C,f,f), mask0 (B,1,S,S), feats (B,T,C,f,f), targets (B,T,1,S,S); with ``fine``
    also the stride-8 features fine0 (B,C8,2f,2f) and fine (B,T,C8,2f,2f) (same draws either way).

    With ``replace`` each window gets one ROI (not the first) swapped for a ROI of
    another clip with an all-zero target (§3.3 step 4)."""
    pool = [(s, w) for s, ws in enumerate(wins) for w in ws]
    f0, m0, fs, ts, g0, gs = [], [], [], [], [], []
    for _ in range(batch):
        s, (r0, rows) = pool[int(rng.integers(len(pool)))]
        seq = seqs[s]
        feats = seq["feats"][rows].float()
        targets = seq["targets"][rows].float()
        finer = seq["feats_fine"][rows].float() if fine else None
        if replace and len(seqs) > 1:
            o = int(rng.choice([k for k in range(len(seqs)) if k != s]))
            k = int(rng.integers(len(rows)))
            r = int(rng.integers(len(seqs[o]["feats"])))
            feats[k] = seqs[o]["feats"][r].float()
            if fine:
                finer[k] = seqs[o]["feats_fine"][r].float()
            targets[k] = 0
        f0.append(seq["feats"][r0].float()); m0.append(seq["targets"][r0].float()[None])
        fs.append(feats); ts.append(targets[:, None])
        if fine:
            g0.append(seq["feats_fine"][r0].float()); gs.append(finer)
    out = torch.stack(f0), torch.stack(m0), torch.stack(fs), torch.stack(ts)
    return out + (torch.stack(g0), torch.stack(gs)) if fine else out
