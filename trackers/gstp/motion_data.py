"""Training samples for the motion model: real trajectories and synthetic ones.

A sample is ``(input (3 + K, S, S), target (S, S))`` at the network's
resolution ``S`` (64): the current frame's thumbnail, the K past target
centres as Gaussians (oldest first), the Gaussian at the true centre (zeros
when the target is absent now).

* Real: the dev sequences' ground-truth centres and cached thumbnails, read
  with a random temporal stride 1..3 (faster motion), past centres jittered by
  up to a pixel (the tracker's own history is noisy) and, at random, a gap of
  missing past frames (occlusion).
* Synthetic: trajectories of the kinds a tracker meets - constant velocity,
  acceleration, stops, turns, occlusion gaps, a look-alike crossing the path -
  rendered as a textured background with the target blob (and the distractor)
  at their current positions.
"""
from __future__ import annotations

import cv2
import numpy as np

from .features import FrameGeometry
from .motion import gaussian_maps, motion_input


class RealTrajectories:
    def __init__(self, seqs: list[dict], history: int = 8, size: int = 64, seed: int = 0) -> None:
        self.history, self.size = history, size
        self.rng = np.random.default_rng(seed)
        self.items = []
        for s in seqs:
            w, h = s["size"]
            g = FrameGeometry.of(w, h)
            b = s["boxes"].numpy()
            centres = np.stack([(b[:, 0] + b[:, 2] / 2) * size / g.in_width,
                                (b[:, 1] + b[:, 3] / 2) * size / g.in_height], 1)
            self.items.append((centres, s["thumbs"].numpy()))
        lengths = np.array([len(c) for c, _ in self.items], np.float64)
        self.p = np.sqrt(lengths) / np.sqrt(lengths).sum()

    def sample(self, t: int | None = None, seq: int | None = None, stride: int | None = None,
               noisy: bool = True) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        k = self.history
        si = int(rng.choice(len(self.items), p=self.p)) if seq is None else seq
        centres, thumbs = self.items[si]
        stride = int(rng.integers(1, 4)) if stride is None else stride
        t = int(rng.integers(min(k * stride, len(centres) - 1), len(centres))) if t is None else t
        idx = t - stride * np.arange(k, 0, -1)
        past = np.where((idx >= 0)[:, None], centres[np.clip(idx, 0, None)], np.nan).astype(np.float32)
        if noisy:
            past = past + rng.normal(0, 0.5, past.shape).astype(np.float32)
            if rng.random() < 0.25:
                a = int(rng.integers(0, k))
                past[a:a + int(rng.integers(1, k))] = np.nan
        target = gaussian_maps(centres[t:t + 1], self.size)[0]
        return motion_input(thumbs[t], past), target


def _blob(image: np.ndarray, centre, radius: tuple[float, float], colour) -> None:
    cv2.ellipse(image, (int(round(centre[0] * 8)), int(round(centre[1] * 8))),
                (max(8, int(radius[0] * 8)), max(8, int(radius[1] * 8))), 0, 0, 360, colour, -1,
                lineType=cv2.LINE_AA, shift=3)


class SyntheticTrajectories:
    KINDS = ("constant", "accelerate", "stop", "turn", "gap", "distractor")

    def __init__(self, history: int = 8, size: int = 64, seed: int = 0) -> None:
        self.history, self.size = history, size
        self.rng = np.random.default_rng(seed)

    def _path(self, kind: str) -> np.ndarray:
        """``K + 1`` centres (the last is now)."""
        rng, n, s = self.rng, self.history + 1, self.size
        p = rng.uniform(0.15 * s, 0.85 * s, 2)
        v = rng.normal(0, 1.2, 2)
        a = rng.normal(0, 0.25, 2) if kind == "accelerate" else np.zeros(2)
        stop_at = int(rng.integers(2, n)) if kind == "stop" else n + 1
        turn_at = int(rng.integers(2, n)) if kind == "turn" else n + 1
        angle = rng.uniform(0.5, 2.0) * rng.choice([-1, 1])
        out = []
        for i in range(n):
            out.append(p.copy())
            if i + 1 >= stop_at:
                v = v * 0.2
            if i + 1 == turn_at:
                c, s_ = np.cos(angle), np.sin(angle)
                v = np.array([c * v[0] - s_ * v[1], s_ * v[0] + c * v[1]])
            v = v + a
            p = np.clip(p + v, 1, s - 1)
        return np.array(out, np.float32)

    def _background(self) -> np.ndarray:
        rng, s = self.rng, self.size
        small = rng.uniform(40, 200, (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3)).astype(np.float32)
        img = cv2.resize(small, (s, s), interpolation=cv2.INTER_CUBIC)
        for _ in range(int(rng.integers(0, 4))):   # static clutter
            _blob(img, rng.uniform(0, s, 2), rng.uniform(1.5, 6, 2), tuple(float(c) for c in rng.uniform(30, 230, 3)))
        return img

    def sample(self, kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        kind = kind or str(rng.choice(self.KINDS))
        path = self._path(kind)
        img = self._background()
        colour = rng.uniform(30, 230, 3)
        radius = rng.uniform(1.5, 5, 2)
        if kind == "distractor":
            # a look-alike whose path crosses the target's near the current frame
            d_now = path[-1] + rng.normal(0, 4, 2)
            _blob(img, d_now, radius, tuple(float(c) for c in colour + rng.normal(0, 10, 3)))
        _blob(img, path[-1], radius, tuple(float(c) for c in colour))
        img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        past = path[:-1] + rng.normal(0, 0.5, path[:-1].shape).astype(np.float32)
        if kind == "gap":
            a = int(rng.integers(0, self.history - 1))
            past[a:a + int(rng.integers(1, self.history - a))] = np.nan
        return motion_input(img, past), gaussian_maps(path[-1:], self.size)[0]
