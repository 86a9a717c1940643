"""Training clips with masks: DAVIS-style sequences on disk and synthetic composites.

A *clip* has ``len(clip)``, ``frame(i)`` (RGB uint8) and ``mask(i)`` (bool), and
a ``name``.  :func:`composite_clip` is a pure function of its seed, so the
iterative training stages can regenerate the very clips the cache was built from.

Composites (§ "synthetic composites" of issue 9): a real frame of a box-only
sequence is the background (panned slowly to imitate camera motion); the
target is either a cut-out DAVIS object (its real consecutive masks, so it
deforms naturally) moved along a new random path and rescaled, or the textured
deforming blob of :class:`trackers.data.synthetic.SyntheticClip`; half the clips
get an occluder (a patch of another real frame sweeping over the target, which
removes the covered pixels from the mask) and some a second, distracting
cut-out.
"""
from __future__ import annotations

import glob
import os

import cv2
import numpy as np

from ..data.synthetic import SyntheticClip


def read_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return np.ascontiguousarray(img[:, :, ::-1])


class DiskClip:
    """A GOT-10k-style sequence folder with ``masks/`` (DAVIS in the dev set)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.name = os.path.basename(folder.rstrip("/"))
        self.frames = sorted(glob.glob(os.path.join(folder, "*.jpg")))
        self.masks = [os.path.join(folder, "masks", os.path.basename(f)[:-4] + ".png") for f in self.frames]

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, i: int) -> np.ndarray:
        return read_rgb(self.frames[i])

    def mask(self, i: int) -> np.ndarray:
        m = cv2.imread(self.masks[i], cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise FileNotFoundError(f"cannot read mask {self.masks[i]}")
        return m > 127


class ArrayClip:
    def __init__(self, name: str, frames: list[np.ndarray], masks: list[np.ndarray]) -> None:
        self.name, self._frames, self._masks = name, frames, masks

    def __len__(self) -> int:
        return len(self._frames)

    def frame(self, i: int) -> np.ndarray:
        return self._frames[i]

    def mask(self, i: int) -> np.ndarray:
        return self._masks[i]


def sequence_frames(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*.jpg")))


def _cutouts(clip: DiskClip, start: int, count: int, step: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tight (rgb, mask) crops of the object in ``count`` frames from ``start``."""
    out = []
    for k in range(count):
        i = min(start + k * step, len(clip) - 1)
        m = clip.mask(i)
        ys, xs = np.nonzero(m)
        if len(xs) == 0:
            out.append(out[-1] if out else (np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), bool)))
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        out.append((clip.frame(i)[y0:y1, x0:x1], m[y0:y1, x0:x1]))
    return out


def _path(rng: np.random.Generator, n: int, w: int, h: int, speed: float) -> np.ndarray:
    """Smooth random positions (n, 2) inside the frame, bouncing off the borders."""
    p = np.array([rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h])
    ang = rng.uniform(0, 2 * np.pi)
    v = speed * np.array([np.cos(ang), np.sin(ang)])
    out = []
    for _ in range(n):
        out.append(p.copy())
        v = v + rng.normal(0, speed * 0.15, 2)
        v *= speed / max(np.linalg.norm(v), 1e-6)
        p = p + v
        for d, lim in ((0, w), (1, h)):
            if not 0.1 * lim < p[d] < 0.9 * lim:
                v[d] = -v[d]
                p[d] = np.clip(p[d], 0.1 * lim, 0.9 * lim)
    return np.array(out)


def _paste(frame: np.ndarray, mask_out: np.ndarray | None, rgb: np.ndarray, m: np.ndarray, centre, scale: float):
    h, w = m.shape
    nw, nh = max(2, int(w * scale)), max(2, int(h * scale))
    rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    m = cv2.resize(m.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
    H, W = frame.shape[:2]
    x0, y0 = int(centre[0] - nw / 2), int(centre[1] - nh / 2)
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(W, x0 + nw), min(H, y0 + nh)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    sub = m[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    frame[fy0:fy1, fx0:fx1][sub] = rgb[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0][sub]
    if mask_out is not None:
        mask_out[fy0:fy1, fx0:fx1] |= sub


def _panned_backgrounds(bg: np.ndarray, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    H, W = bg.shape[:2]
    zoom = 1.15
    big = cv2.resize(bg, (int(W * zoom), int(H * zoom)))
    mx, my = big.shape[1] - W, big.shape[0] - H
    a, b = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
    out = []
    for k in range(n):
        f = k / max(1, n - 1)
        x, y = int((a[0] + (b[0] - a[0]) * f) * mx), int((a[1] + (b[1] - a[1]) * f) * my)
        out.append(big[y:y + H, x:x + W].copy())
    return out


def composite_clip(seed: int, background_seqs: list[str], object_clips: list[DiskClip], length: int = 24):
    """One synthetic composite clip (deterministic in ``seed``)."""
    rng = np.random.default_rng([seed, 9])
    bg_frames = sequence_frames(background_seqs[int(rng.integers(len(background_seqs)))])
    bg = read_rgb(bg_frames[int(rng.integers(len(bg_frames)))])
    H, W = bg.shape[:2]
    frames = _panned_backgrounds(bg, length, rng)
    masks = [np.zeros((H, W), bool) for _ in range(length)]
    if object_clips and rng.random() < 0.6:
        src = object_clips[int(rng.integers(len(object_clips)))]
        step = int(rng.integers(1, 3))
        start = int(rng.integers(0, max(1, len(src) - length * step)))
        cuts = _cutouts(src, start, length, step)
        longest = max(max(c[1].shape) for c in cuts)
        scale0 = rng.uniform(40, 0.6 * min(H, W)) / max(longest, 1)
        path = _path(rng, length, W, H, rng.uniform(1, 8))
        growth = rng.uniform(-0.01, 0.01)
        for k, (rgb, m) in enumerate(cuts):
            _paste(frames[k], masks[k], rgb, m, path[k], scale0 * (1 + growth) ** k)
    else:
        tw = int(rng.integers(24, max(25, min(W, H) // 3)))
        sc = SyntheticClip(width=W, height=H, num_frames=length, seed=int(seed), deform=float(rng.uniform(0, 0.3)),
                           target_size=(tw, int(tw * rng.uniform(0.6, 1.4))), speed=float(rng.uniform(1.5, 7)),
                           noise=0.0, distractor=bool(rng.random() < 0.3))
        for k in range(length):
            rendered = sc.frame(k)
            m = sc.target_mask(k)
            frames[k][m] = rendered[m]
            masks[k] |= m
            if sc.spec.distractor:   # the look-alike is everything else SyntheticClip painted
                other = np.any(rendered != sc._background, axis=2) & ~m
                frames[k][other] = rendered[other]
    if object_clips and rng.random() < 0.3:     # a distracting second object passing by, pasted under the target
        src = object_clips[int(rng.integers(len(object_clips)))]
        cuts = _cutouts(src, int(rng.integers(0, max(1, len(src) - length))), length, 1)
        longest = max(max(c[1].shape) for c in cuts)
        scale = rng.uniform(30, 0.4 * min(H, W)) / max(longest, 1)
        path = _path(rng, length, W, H, rng.uniform(1, 6))
        for k, (rgb, m) in enumerate(cuts):
            keep = frames[k].copy()
            _paste(frames[k], None, rgb, m, path[k], scale)
            frames[k][masks[k]] = keep[masks[k]]
    if rng.random() < 0.5:                       # occluder sweeping across
        occ_src = read_rgb(bg_frames[int(rng.integers(len(bg_frames)))])
        ow, oh = int(rng.uniform(0.08, 0.25) * W), int(rng.uniform(0.3, 1.0) * H)
        patch = cv2.resize(occ_src, (ow, oh))
        y = int(rng.uniform(0, H - oh))
        x_start, x_end = (-ow, W) if rng.random() < 0.5 else (W, -ow)
        for k in range(length):
            x = int(x_start + (x_end - x_start) * k / max(1, length - 1))
            x0, x1 = max(0, x), min(W, x + ow)
            if x1 > x0:
                frames[k][y:y + oh, x0:x1] = patch[:, x0 - x:x1 - x]
                masks[k][y:y + oh, x0:x1] = False
    return ArrayClip(f"composite-{seed}", frames, masks)
