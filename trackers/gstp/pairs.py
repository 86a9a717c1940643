"""Template/search training pairs drawn from the feature cache, with augmentation.

Augmentation works on cached features, so it is geometric and sampling-based:
the template box is jittered (shift and scale), both feature maps are cut to a
``crop`` x ``crop``-cell window at a random position that keeps the target in
view (translation; a frame smaller than the window is zero-padded), the
template and search frames are up to ``max_gap`` frames apart in either order,
and a fraction ``negative`` of the pairs takes the search frame from another
sequence (target absent; the synthetic clips add absent frames where the
target has left the view, and look-alike distractors).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .features import STRIDE


@dataclass
class PairBatch:
    template: torch.Tensor     # (N, C, crop, crop)
    template_box: torch.Tensor  # (N, 4) xyxy in crop pixels (jittered)
    search: torch.Tensor       # (N, C, crop, crop)
    search_box: torch.Tensor   # (N, 4) xyxy in crop pixels; nan row = absent
    size: tuple[int, int]      # (w, h) of the crop in pixels


def _valid_rows(boxes: torch.Tensor, min_side: float = 4.0) -> np.ndarray:
    b = boxes.numpy()
    return np.nonzero(np.isfinite(b).all(1) & (b[:, 2] >= min_side) & (b[:, 3] >= min_side))[0]


def _window(feats: torch.Tensor, box: np.ndarray | None, crop: int, rng: np.random.Generator):
    """Cut a crop x crop window (zero padded) that keeps the box centre at least a cell from its edge."""
    c, h, w = feats.shape
    out = feats.new_zeros(c, crop, crop)

    def start(n: int, centre_cell: float | None) -> int:
        if centre_cell is None:
            return int(rng.integers(min(0, n - crop), max(0, n - crop) + 1))
        lo = max(min(0, n - crop), int(np.ceil(centre_cell - crop + 1)))
        hi = min(max(0, n - crop), int(np.floor(centre_cell - 1)))
        return int(rng.integers(lo, hi + 1)) if hi >= lo else int(np.clip(round(centre_cell - crop / 2), min(0, n - crop), max(0, n - crop)))

    cx = None if box is None else (box[0] + box[2] / 2) / STRIDE
    cy = None if box is None else (box[1] + box[3] / 2) / STRIDE
    x0, y0 = start(w, cx), start(h, cy)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + crop, w), min(y0 + crop, h)
    out[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = feats[:, sy0:sy1, sx0:sx1]
    return out, (x0 * STRIDE, y0 * STRIDE)


def _xyxy(box: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    x, y, w, h = box
    return np.array([x - offset[0], y - offset[1], x + w - offset[0], y + h - offset[1]], np.float32)


def jitter_box(box: np.ndarray, rng: np.random.Generator, shift: float = 0.1, scale: float = 0.1) -> np.ndarray:
    x, y, w, h = box
    cx = x + w / 2 + rng.uniform(-shift, shift) * w
    cy = y + h / 2 + rng.uniform(-shift, shift) * h
    w2, h2 = w * np.exp(rng.uniform(-scale, scale)), h * np.exp(rng.uniform(-scale, scale))
    return np.array([cx - w2 / 2, cy - h2 / 2, w2, h2], np.float32)


class PairSampler:
    def __init__(self, seqs: list[dict], crop: int = 14, max_gap: int = 100, negative: float = 0.15,
                 seed: int = 0) -> None:
        self.seqs = seqs
        self.crop = crop
        self.max_gap = max_gap
        self.negative = negative
        self.rng = np.random.default_rng(seed)
        # boxes of the frames whose features are cached (long sequences are thinned)
        self.fboxes = [s["boxes"][s["feat_index"]] for s in seqs]
        self.valid = [_valid_rows(b) for b in self.fboxes]
        usable = [i for i, v in enumerate(self.valid) if len(v) >= 2]
        weights = np.array([np.sqrt(len(self.valid[i])) for i in usable])
        self.usable, self.weights = usable, weights / weights.sum()

    def one(self):
        rng = self.rng
        si = int(rng.choice(self.usable, p=self.weights))
        seq = self.seqs[si]
        t = int(rng.choice(self.valid[si]))
        fboxes = self.fboxes[si]
        tbox = jitter_box(fboxes[t].numpy(), rng)
        if rng.random() < self.negative and len(self.seqs) > 1:
            other = self.seqs[int(rng.choice([i for i in range(len(self.seqs)) if i != si]))]
            s_feats, sbox = other["feats"][int(rng.integers(len(other["feats"])))], None
        else:
            n = len(seq["feats"])
            s = int(np.clip(t + rng.integers(-self.max_gap, self.max_gap + 1), 0, n - 1))
            b = fboxes[s].numpy()
            sbox = b if np.isfinite(b).all() and b[2] >= 1 and b[3] >= 1 else None
            s_feats = seq["feats"][s]
        tf, toff = _window(seq["feats"][t].float(), tbox, self.crop, rng)
        sf, soff = _window(s_feats.float(), sbox, self.crop, rng)
        sb = np.full(4, np.nan, np.float32) if sbox is None else _xyxy(sbox, soff)
        return tf, _xyxy(tbox, toff), sf, sb

    def batch(self, n: int) -> PairBatch:
        items = [self.one() for _ in range(n)]
        side = self.crop * STRIDE
        return PairBatch(torch.stack([i[0] for i in items]), torch.from_numpy(np.stack([i[1] for i in items])),
                         torch.stack([i[2] for i in items]), torch.from_numpy(np.stack([i[3] for i in items])),
                         (side, side))
