"""Per-frame trunk features cached once, so GSTP's heads train in minutes.

One file per sequence, ``<cache>/<long_side>/<name>.pt``::

    feats   (M, 112, h, w) float16   stride-16 EfficientNet-Lite0 features of the resized frames
    feat_index (M,) int64            which frames those are (every frame of short sequences; long
                                     ones are thinned to about ``max_feature_frames``: the trunk is
                                     the slow part and neighbouring frames add little to pairs)
    boxes   (N, 4) float32           xywh in resized-input pixels, every frame; nan rows = target absent
    thumbs  (N, 64, 64, 3) uint8     the motion model's squeezed frames
    size    (width, height)          of the original frames

The cache lives outside the repository (default ``/tmp/trackassist_cache/gstp``).
``python -m trackers.gstp.cache --data DIR`` fills it (training does too).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from ..data.synthetic import SyntheticClip
from ..eval.dataset import load_sequence, read_frame, sequence_names
from .features import FrameEncoder, FrameGeometry, motion_thumbnail

DEFAULT_CACHE = "/tmp/trackassist_cache/gstp"


def cache_path(cache_dir: str, long_side: int, name: str) -> str:
    return os.path.join(cache_dir, str(long_side), f"{name}.pt")


MAX_FEATURE_FRAMES = 250


def _encode(encoder: FrameEncoder, frames, boxes, width: int, height: int,
            max_feature_frames: int = MAX_FEATURE_FRAMES) -> dict:
    g = FrameGeometry.of(width, height, encoder.long_side)
    step = max(1, -(-len(boxes) // max_feature_frames))
    feats, thumbs, index = [], [], []
    for i, f in enumerate(frames):
        if i % step == 0:
            feats.append(encoder(f).to(torch.float16))
            index.append(i)
        thumbs.append(motion_thumbnail(f))
    rows = np.full((len(boxes), 4), np.nan, np.float32)
    for i, b in enumerate(boxes):
        if b is not None and np.all(np.isfinite(b)) and b[2] >= 1 and b[3] >= 1:
            rows[i] = g.to_input(np.asarray(b, np.float32))
    return {"feats": torch.cat(feats), "feat_index": torch.tensor(index), "boxes": torch.from_numpy(rows),
            "thumbs": torch.from_numpy(np.stack(thumbs)), "size": (width, height)}


def _save(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    torch.save(data, tmp)
    os.replace(tmp, path)


def cache_sequence(encoder: FrameEncoder, root: str, name: str, cache_dir: str = DEFAULT_CACHE) -> str:
    path = cache_path(cache_dir, encoder.long_side, name)
    if not os.path.exists(path):
        seq = load_sequence(root, name)
        width, height = seq.size
        boxes = [None if gone else b for b, gone in zip(seq.boxes, seq.absent)]
        _save(path, _encode(encoder, (read_frame(f) for f in seq.frame_files), boxes, width, height))
    return path


def cache_trajectory(root: str, name: str, cache_dir: str = DEFAULT_CACHE, long_side: int = 384) -> str:
    """Boxes and motion thumbnails only (no trunk features): all the motion model trains on; fast."""
    path = os.path.join(cache_dir, "motion", f"{name}.pt")
    if not os.path.exists(path):
        seq = load_sequence(root, name)
        width, height = seq.size
        g = FrameGeometry.of(width, height, long_side)
        rows = np.full((len(seq), 4), np.nan, np.float32)
        for i, (b, gone) in enumerate(zip(seq.boxes, seq.absent)):
            if not gone and np.all(np.isfinite(b)):
                rows[i] = g.to_input(b)
        thumbs = np.stack([motion_thumbnail(read_frame(f)) for f in seq.frame_files])
        _save(path, {"boxes": torch.from_numpy(rows), "thumbs": torch.from_numpy(thumbs), "size": (width, height)})
    return path


def synthetic_clip(index: int, num_frames: int = 100) -> SyntheticClip:
    """Training clips: look-alike distractors, occluding bars, exits from the view, varied sizes."""
    rng = np.random.default_rng(5000 + index)
    width, height = [(480, 270), (352, 288), (640, 360), (320, 240)][index % 4]
    tw = int(rng.integers(20, 90))
    th = int(tw * rng.uniform(0.5, 1.5))
    start = int(rng.integers(20, num_frames - 40))
    return SyntheticClip(width=width, height=height, num_frames=num_frames, seed=5000 + index,
                         target_size=(tw, th), speed=float(rng.uniform(1.5, 6.0)),
                         deform=float(rng.uniform(0, 0.2)), occluder=bool(index % 3 == 0),
                         distractor=bool(index % 2 == 0),
                         exit_frames=(start, start + int(rng.integers(10, 30))) if index % 3 != 1 else None)


def cache_synthetic(encoder: FrameEncoder, index: int, cache_dir: str = DEFAULT_CACHE) -> str:
    path = cache_path(cache_dir, encoder.long_side, f"synthetic-{index:03d}")
    if not os.path.exists(path):
        clip = synthetic_clip(index)
        s = clip.spec
        _save(path, _encode(encoder, (clip.frame(i) for i in range(len(clip))), clip.boxes(), s.width, s.height))
    return path


def build(encoder: FrameEncoder, root: str, names: list[str], synthetic: int, cache_dir: str,
          log=print) -> dict[str, str]:
    out = {}
    for name in names:
        t = time.time()
        out[name] = cache_sequence(encoder, root, name, cache_dir)
        log(f"cache {name}: {time.time() - t:.1f}s")
    for i in range(synthetic):
        out[f"synthetic-{i:03d}"] = cache_synthetic(encoder, i, cache_dir)
    log(f"cache: {len(out)} sequences ready in {cache_dir}")
    return out


def load(path: str) -> dict:
    data = torch.load(path, weights_only=True)
    if "feats" in data:
        data.setdefault("feat_index", torch.arange(len(data["feats"])))
    return data


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="fill the GSTP feature cache")
    p.add_argument("--data", required=True)
    p.add_argument("--cache", default=DEFAULT_CACHE)
    p.add_argument("--long-side", type=int, default=384)
    p.add_argument("--synthetic", type=int, default=12)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    build(FrameEncoder(a.long_side), a.data, sequence_names(a.data), a.synthetic, a.cache, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
