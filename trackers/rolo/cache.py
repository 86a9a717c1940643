"""Per-frame backbone features cached once, so the detector head and the LSTM train in minutes.

One file per sequence, ``<cache>/<long_side>-s8/<name>.pt``::

    f8     (N, 40, h/8, w/8) float16     stride-8 EfficientNet-Lite0 features
    f16    (N, 112, h/16, w/16) float16  stride-16 features (:func:`features.fuse` combines them)
    boxes  (N, 4) float32           normalised (cx, cy, w, h); nan rows = target absent
    size   (width, height)          of the original frames
    amodal (N, 4) float32           wall clips only: the full box, also where the wall hides it

The cache lives outside the repository (default ``/tmp/trackassist_cache/rolo``).
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from ..data.synthetic import SyntheticClip
from ..eval.dataset import load_sequence, read_frame
from .features import FrameEncoder, fuse
from .geometry import to_normalized
from .wall_clips import training_wall_clip

DEFAULT_CACHE = "/tmp/trackassist_cache/rolo"


def cache_path(cache_dir: str, long_side: int, name: str) -> str:
    return os.path.join(cache_dir, f"{long_side}-s8", f"{name}.pt")


def _normalised_boxes(boxes, absent, width: int, height: int) -> np.ndarray:
    out = np.full((len(boxes), 4), np.nan, np.float32)
    for i, (box, gone) in enumerate(zip(boxes, absent)):
        if not gone and box is not None and np.all(np.isfinite(box)):
            out[i] = to_normalized(box, width, height)
    return out


def _encode_frames(encoder: FrameEncoder, frames) -> dict:
    f8, f16 = zip(*(encoder.taps(f) for f in frames))
    return {"f8": torch.cat(f8).to(torch.float16), "f16": torch.cat(f16).to(torch.float16)}


def fused(data: dict, index) -> torch.Tensor:
    """Detector input for cached frames ``index`` (a slice or index array)."""
    return fuse(data["f8"][index], data["f16"][index])


def cache_sequence(encoder: FrameEncoder, root: str, name: str, cache_dir: str, max_frames: int | None = None) -> str:
    path = cache_path(cache_dir, encoder.long_side, name)
    if os.path.exists(path):
        return path
    seq = load_sequence(root, name).truncated(max_frames)
    width, height = seq.size
    feats = _encode_frames(encoder, (read_frame(f) for f in seq.frame_files))
    _save(path, feats, _normalised_boxes(seq.boxes, seq.absent, width, height), (width, height))
    return path


def synthetic_clip(index: int, num_frames: int = 100) -> SyntheticClip:
    """Training clips with an occluding bar, a look-alike and (every other clip) an exit spell."""
    rng = np.random.default_rng(1000 + index)
    width, height = [(480, 270), (352, 288), (640, 360), (320, 240)][index % 4]
    tw = int(rng.integers(24, 80))
    exit_start = int(rng.integers(30, num_frames - 30))
    return SyntheticClip(width=width, height=height, num_frames=num_frames, seed=1000 + index,
                         target_size=(tw, int(tw * rng.uniform(0.5, 1.6))), speed=float(rng.uniform(1.5, 5.0)),
                         occluder=True, distractor=bool(index % 3 != 2), deform=float(rng.uniform(0, 0.15)),
                         exit_frames=(exit_start, exit_start + int(rng.integers(5, 15))) if index % 2 else None)


def cache_synthetic(encoder: FrameEncoder, index: int, cache_dir: str) -> str:
    return _cache_clip(encoder, f"synthetic-{index:02d}", synthetic_clip(index), cache_dir)


def cache_wall_clip(encoder: FrameEncoder, index: int, cache_dir: str) -> str:
    """A constant-velocity clip with a static wall; also stores the full (amodal) boxes behind the wall."""
    clip = training_wall_clip(index)
    width, height = clip.spec.width, clip.spec.height
    amodal = _normalised_boxes([clip.truth(i) for i in range(len(clip))], [False] * len(clip), width, height)
    return _cache_clip(encoder, f"synthetic-wall-{index:02d}", clip, cache_dir, {"amodal": torch.from_numpy(amodal)})


def _cache_clip(encoder: FrameEncoder, name: str, clip: SyntheticClip, cache_dir: str, extra: dict | None = None) -> str:
    path = cache_path(cache_dir, encoder.long_side, name)
    if os.path.exists(path):
        return path
    feats = _encode_frames(encoder, (clip.frame(i) for i in range(len(clip))))
    boxes = clip.boxes()
    absent = [b is None for b in boxes]
    _save(path, {**feats, **(extra or {})}, _normalised_boxes(boxes, absent, clip.spec.width, clip.spec.height),
          (clip.spec.width, clip.spec.height))
    return path


def _save(path: str, feats: dict, boxes: np.ndarray, size: tuple[int, int]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    torch.save({**feats, "boxes": torch.from_numpy(boxes), "size": tuple(size)}, tmp)
    os.replace(tmp, path)


def load(cache_dir: str, long_side: int, name: str) -> dict:
    return torch.load(cache_path(cache_dir, long_side, name), weights_only=True)


def build_cache(root: str, names: list[str], synthetic: int, cache_dir: str = DEFAULT_CACHE,
                long_side: int = 352, max_frames: int | None = None, wall_clips: int = 0) -> list[str]:
    """Cache the first ``max_frames`` frames of every named dev sequence, ``synthetic``
    synthetic clips and ``wall_clips`` constant-velocity clips behind a wall; returns the names."""
    encoder = FrameEncoder(long_side)
    done = []
    for name in names:
        t = time.perf_counter()
        cache_sequence(encoder, root, name, cache_dir, max_frames)
        print(f"cache {name}: {time.perf_counter() - t:.1f}s", flush=True)
        done.append(name)
    for index in range(synthetic):
        cache_synthetic(encoder, index, cache_dir)
        done.append(f"synthetic-{index:02d}")
    for index in range(wall_clips):
        cache_wall_clip(encoder, index, cache_dir)
        done.append(f"synthetic-wall-{index:02d}")
    return done


VAL_WALL_OFFSET = 100  # held-out wall clips use indices from here on (other seeds than training's)


def build_val_walls(count: int, cache_dir: str = DEFAULT_CACHE, long_side: int = 352) -> list[str]:
    """Cache ``count`` held-out wall clips; returns their names."""
    if count <= 0:
        return []
    encoder = FrameEncoder(long_side)
    names = []
    for index in range(VAL_WALL_OFFSET, VAL_WALL_OFFSET + count):
        cache_wall_clip(encoder, index, cache_dir)
        names.append(f"synthetic-wall-{index:02d}")
    return names
