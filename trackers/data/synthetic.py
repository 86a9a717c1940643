"""Synthetic video with known ground truth: tests, the sample clip, training data.

A textured background, one *target* (a textured blob with a known box and
mask) moving on a smooth path, optionally an occluding bar that passes over
it, a *distractor* that looks like the target, and an optional spell where the
target leaves the frame.  Every frame is a pure function of its index, so a
clip is random-access and never needs to be held in memory.

Run ``python -m trackers.data.synthetic OUT.mp4`` to write a clip with its
``groundtruth.txt`` (this is how ``resources/samples/`` was made).
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from ..eval.dataset import add_to_list


@dataclass(frozen=True)
class SyntheticSpec:
    width: int = 320
    height: int = 240
    num_frames: int = 60
    seed: int = 0
    target_size: tuple[int, int] = (48, 36)  # w, h at scale 1
    speed: float = 2.5                      # pixels per frame along the path
    scale_amplitude: float = 0.15           # size oscillates by this fraction
    deform: float = 0.0                     # non-rigid wobble of the outline (0..0.4)
    occluder: bool = False                  # a bar that sweeps over the path
    distractor: bool = False                # a look-alike object
    exit_frames: tuple[int, int] | None = None  # [start, end): target off-frame
    noise: float = 4.0                      # sensor noise std, in grey levels


def _texture(rng: np.random.Generator, h: int, w: int, base: tuple[int, int, int], contrast: float) -> np.ndarray:
    """Smooth random texture: blurred multi-octave noise around a base colour."""
    tex = np.zeros((h, w), np.float32)
    for octave, weight in ((4, 1.0), (12, 0.5), (32, 0.25)):
        small = rng.standard_normal((max(2, h // octave), max(2, w // octave))).astype(np.float32)
        tex += weight * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    tex /= np.abs(tex).max() + 1e-6
    out = np.empty((h, w, 3), np.float32)
    tint = rng.uniform(0.6, 1.0, 3)
    for c in range(3):
        out[..., c] = base[c] + contrast * tint[c] * tex
    return np.clip(out, 0, 255).astype(np.uint8)


def _scatter_clutter(rng: np.random.Generator, image: np.ndarray, count: int) -> None:
    """Static textured rectangles and discs: background structure to track against."""
    h, w = image.shape[:2]
    for _ in range(count):
        base = tuple(int(v) for v in rng.integers(40, 200, 3))
        bw, bh = int(rng.integers(w // 20, w // 5)), int(rng.integers(h // 20, h // 5))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        patch = _texture(rng, bh, bw, base, 50)
        if rng.random() < 0.5:
            image[y:y + bh, x:x + bw] = patch
        else:
            m = np.zeros((bh, bw), np.uint8)
            cv2.ellipse(m, (bw // 2, bh // 2), (bw // 2, bh // 2), 0, 0, 360, 1, -1)
            region = image[y:y + bh, x:x + bw]
            region[m.astype(bool)] = patch[m.astype(bool)]


class SyntheticClip:
    """Random-access synthetic clip: ``frame(i)``, ``box(i)``, ``mask(i)``."""

    def __init__(self, spec: SyntheticSpec | None = None, **overrides) -> None:
        spec = spec or SyntheticSpec()
        if overrides:
            spec = SyntheticSpec(**{**spec.__dict__, **overrides})
        self.spec = spec
        rng = np.random.default_rng(spec.seed)
        self._background = _texture(rng, spec.height, spec.width, (110, 120, 100), 70)
        _scatter_clutter(rng, self._background, count=max(4, spec.width * spec.height // 12000))
        tw, th = spec.target_size
        self._target_tex = _texture(rng, th * 2, tw * 2, (200, 80, 60), 90)
        # The distractor shares the target's colours but not its exact texture.
        self._distractor_tex = _texture(rng, th * 2, tw * 2, (190, 90, 70), 90)
        self._occluder_tex = _texture(rng, spec.height, 40, (60, 60, 160), 50)
        self._phase = rng.uniform(0, 2 * math.pi, 4)

    def __len__(self) -> int:
        return self.spec.num_frames

    # -- geometry ---------------------------------------------------------
    def _path(self, i: int, phase: np.ndarray) -> tuple[float, float]:
        """A smooth closed-ish path (Lissajous) inside the frame margins."""
        s = self.spec
        tw, th = s.target_size
        mx, my = tw * 0.8, th * 0.8
        ax, ay = (s.width - 2 * mx) / 2, (s.height - 2 * my) / 2
        # angular speed chosen so the path speed is about spec.speed px/frame
        omega = s.speed / max(1.0, 0.7 * (ax + ay))
        cx = s.width / 2 + ax * math.sin(omega * i + phase[0])
        cy = s.height / 2 + ay * math.sin(1.3 * omega * i + phase[1])
        return cx, cy

    def _target_center(self, i: int) -> tuple[float, float]:
        cx, cy = self._path(i, self._phase[:2])
        ex = self.spec.exit_frames
        if ex and ex[0] <= i < ex[1]:
            cx = -10.0 * self.spec.target_size[0]  # far outside the frame
        return cx, cy

    def _scale(self, i: int) -> float:
        return 1.0 + self.spec.scale_amplitude * math.sin(0.05 * i + self._phase[2])

    def _occluder_x(self, i: int) -> float | None:
        if not self.spec.occluder:
            return None
        # sweeps across the frame once per clip, left to right
        return -40 + (self.spec.width + 80) * (i / max(1, len(self) - 1))

    def _distractor_center(self, i: int) -> tuple[float, float] | None:
        if not self.spec.distractor:
            return None
        return self._path(i, self._phase[:2][::-1] + math.pi)

    def _blob_mask(self, i: int, cx: float, cy: float, scale: float) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """Full-frame mask of an ellipse-like blob (optionally wobbling)."""
        s = self.spec
        w, h = s.target_size[0] * scale, s.target_size[1] * scale
        angles = np.linspace(0, 2 * math.pi, 64, endpoint=False)
        wobble = 1.0 + s.deform * np.sin(3 * angles + 0.2 * i) * np.cos(2 * angles - 0.13 * i)
        xs = cx + 0.5 * w * np.cos(angles) * wobble
        ys = cy + 0.5 * h * np.sin(angles) * wobble
        pts = np.stack([xs, ys], 1)
        mask = np.zeros((s.height, s.width), np.uint8)
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
        return mask.astype(bool), (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))

    # -- rendering ---------------------------------------------------------
    def _paste(self, frame: np.ndarray, tex: np.ndarray, mask: np.ndarray, cx: float, cy: float) -> None:
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return
        th, tw = tex.shape[:2]
        # texture coordinates move with the object so the pattern is rigid
        u = np.clip((xs - cx + tw / 2).astype(int), 0, tw - 1)
        v = np.clip((ys - cy + th / 2).astype(int), 0, th - 1)
        frame[ys, xs] = tex[v, u]

    def target_mask(self, i: int) -> np.ndarray:
        """Full (unoccluded) target mask inside the frame."""
        cx, cy = self._target_center(i)
        mask, _ = self._blob_mask(i, cx, cy, self._scale(i))
        return mask

    def _occluder_mask(self, i: int) -> np.ndarray | None:
        ox = self._occluder_x(i)
        if ox is None:
            return None
        m = np.zeros((self.spec.height, self.spec.width), bool)
        x0, x1 = int(max(0, ox)), int(min(self.spec.width, ox + 40))
        if x1 > x0:
            m[:, x0:x1] = True
        return m

    def mask(self, i: int) -> np.ndarray:
        """Visible target mask (occluder removed)."""
        m = self.target_mask(i)
        occ = self._occluder_mask(i)
        return m & ~occ if occ is not None else m

    def box(self, i: int) -> tuple[float, float, float, float] | None:
        """Tight box of the visible target; ``None`` when absent (<10% visible)."""
        full = self.target_mask(i)
        vis = self.mask(i)
        if full.sum() == 0 or vis.sum() < 0.1 * full.sum():
            return None
        ys, xs = np.nonzero(vis)
        return (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1))

    def cover(self, i: int) -> int:
        """GOT-10k cover label 0..8: visible fraction of the target in eighths."""
        full = self.target_mask(i).sum()
        if full == 0:
            return 0
        return int(round(8 * self.mask(i).sum() / full))

    def frame(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} outside clip of {len(self)} frames")
        s = self.spec
        frame = self._background.copy()
        d = self._distractor_center(i)
        if d is not None:
            dm, _ = self._blob_mask(i, d[0], d[1], 1.0)
            self._paste(frame, self._distractor_tex, dm, d[0], d[1])
        cx, cy = self._target_center(i)
        self._paste(frame, self._target_tex, self.target_mask(i), cx, cy)
        occ = self._occluder_mask(i)
        if occ is not None:
            ox = int(max(0, self._occluder_x(i) or 0))
            cols = np.nonzero(occ[0])[0]
            if len(cols):
                frame[:, cols] = self._occluder_tex[:, np.clip(cols - int(self._occluder_x(i)), 0, 39)]
        if s.noise > 0:
            rng = np.random.default_rng((s.seed + 1) * 100003 + i)
            frame = np.clip(frame + rng.normal(0, s.noise, frame.shape), 0, 255).astype(np.uint8)
        return frame

    # -- writers ------------------------------------------------------------
    def boxes(self) -> list[tuple[float, float, float, float] | None]:
        return [self.box(i) for i in range(len(self))]

    def write_video(self, path: str, fps: float = 25.0, fourcc: str = "mp4v") -> str:
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (self.spec.width, self.spec.height))
        if not writer.isOpened():
            raise RuntimeError(f"cannot open a video writer for {path}")
        try:
            for i in range(len(self)):
                writer.write(cv2.cvtColor(self.frame(i), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        return path

    def write_groundtruth(self, path: str) -> None:
        with open(path, "w") as f:
            for b in self.boxes():
                f.write("nan,nan,nan,nan\n" if b is None else "%.3f,%.3f,%.3f,%.3f\n" % b)

    def write_got10k(self, root: str, name: str, masks: bool = False, quality: int = 92) -> str:
        """Write a GOT-10k sequence folder (frames, groundtruth, absence, cover)."""
        seq = os.path.join(root, name)
        os.makedirs(seq, exist_ok=True)
        if masks:
            os.makedirs(os.path.join(seq, "masks"), exist_ok=True)
        for i in range(len(self)):
            cv2.imwrite(os.path.join(seq, f"{i + 1:08d}.jpg"), cv2.cvtColor(self.frame(i), cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, quality])
            if masks:
                cv2.imwrite(os.path.join(seq, "masks", f"{i + 1:08d}.png"), self.mask(i).astype(np.uint8) * 255)
        self.write_groundtruth(os.path.join(seq, "groundtruth.txt"))
        with open(os.path.join(seq, "absence.label"), "w") as f:
            f.writelines("1\n" if b is None else "0\n" for b in self.boxes())
        with open(os.path.join(seq, "cover.label"), "w") as f:
            f.writelines(f"{self.cover(i)}\n" for i in range(len(self)))
        add_to_list(root, name)
        return seq


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="output video path (.mp4/.avi)")
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--size", default="640x360")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    w, h = (int(v) for v in a.size.split("x"))
    clip = SyntheticClip(width=w, height=h, num_frames=a.frames, seed=a.seed, target_size=(70, 52),
                         speed=3.0, occluder=True, distractor=True, deform=0.08)
    clip.write_video(a.out)
    clip.write_groundtruth(os.path.splitext(a.out)[0] + ".groundtruth.txt")
    print(f"wrote {a.out} ({len(clip)} frames, {w}x{h}) and its groundtruth")


if __name__ == "__main__":
    main()
