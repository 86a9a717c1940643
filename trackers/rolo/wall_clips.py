"""Synthetic clips of a target moving at constant velocity behind a static wall.

The stock :class:`~trackers.data.synthetic.SyntheticClip` moves its target on
a Lissajous path and sweeps a 40-px bar across the frame, so the target is
fully hidden for only a frame or two.  ROLO must carry a track through a
longer occlusion (paper §IV-A: the detector fails for 8-14 frames and the
LSTM keeps the track), so the LSTM is also trained on clips where a wall of
any width hides a target that keeps moving: here the target's path is a
straight line at constant velocity and the occluder stands still.

``truth(i)`` is the full (amodal) target box, also where the wall hides it;
``box(i)`` is, as in the base class, the visible part (``None`` when less
than 10 % is visible).
"""
from __future__ import annotations

import numpy as np

from ..data.synthetic import SyntheticClip, _texture


class LinearWallClip(SyntheticClip):
    def __init__(self, start: tuple[float, float], velocity: tuple[float, float], wall_x: int, wall_width: int,
                 **spec) -> None:
        super().__init__(occluder=True, **spec)
        if wall_width < 1:
            raise ValueError(f"wall_width must be >= 1, got {wall_width}")
        self.start, self.velocity = start, velocity
        self.wall_x, self.wall_width = int(wall_x), int(wall_width)
        self._wall_tex = _texture(np.random.default_rng(self.spec.seed + 7), self.spec.height, self.wall_width,
                                  (60, 60, 160), 50)

    def _target_center(self, i: int) -> tuple[float, float]:
        return self.start[0] + self.velocity[0] * i, self.start[1] + self.velocity[1] * i

    def _occluder_x(self, i: int) -> float:
        return float(self.wall_x)

    def _occluder_mask(self, i: int) -> np.ndarray:
        mask = np.zeros((self.spec.height, self.spec.width), bool)
        mask[:, max(0, self.wall_x): max(0, self.wall_x + self.wall_width)] = True
        return mask

    def frame(self, i: int) -> np.ndarray:
        frame = super().frame(i)
        # the base class textures a 40-px bar; repaint the (wider) wall with its own texture
        x0, x1 = max(0, self.wall_x), min(self.spec.width, self.wall_x + self.wall_width)
        if x1 > x0:
            frame[:, x0:x1] = self._wall_tex[:, x0 - self.wall_x: x1 - self.wall_x]
        return frame

    def truth(self, i: int) -> tuple[float, float, float, float] | None:
        """Full target box ``(x, y, w, h)``, also behind the wall; ``None`` once it has left the frame."""
        ys, xs = np.nonzero(self.target_mask(i))
        if len(xs) == 0:
            return None
        return float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)

    def hidden_frames(self) -> list[int]:
        return [i for i in range(len(self)) if self.box(i) is None]


def training_wall_clip(index: int, num_frames: int = 80) -> LinearWallClip:
    """Training clip ``index``: random size, speed (up to 6 px/frame), direction, wall width and look-alike.

    The target crosses the wall around the middle of the clip and stays in the
    frame; the hidden spell lasts about (wall width - target width) / speed
    frames, i.e. 3 to 20.
    """
    rng = np.random.default_rng(5000 + index)
    width, height = [(480, 270), (352, 288), (640, 360), (320, 240)][index % 4]
    tw = int(rng.integers(20, 64))
    th = int(tw * rng.uniform(0.6, 1.5))
    centre_x = width / 2 + rng.uniform(-0.1, 0.1) * width
    cross = num_frames / 2 + rng.uniform(-5, 5)  # the frame where the target is behind the wall's middle
    # fast enough to matter, slow enough to stay in the frame from the first frame to the last
    room = min(centre_x, width - centre_x) - tw
    speed = float(rng.uniform(1.5, 6.0))
    speed = min(speed, room / (max(cross, num_frames - cross) + 1))
    vx = (1.0 if index % 2 == 0 else -1.0) * speed
    vy = float(rng.uniform(-0.15, 0.15)) * speed
    hidden = int(rng.integers(3, 20))
    wall_width = int(tw + hidden * speed)
    wall_x = int(round(centre_x - wall_width / 2))
    start = (centre_x - vx * cross, float(rng.uniform(0.35, 0.65)) * height - vy * cross)
    return LinearWallClip(start, (vx, vy), wall_x, wall_width, width=width, height=height,
                          num_frames=num_frames, seed=5000 + index, target_size=(tw, th), scale_amplitude=0.0,
                          distractor=bool(index % 3 == 1), deform=float(rng.uniform(0, 0.1)))
