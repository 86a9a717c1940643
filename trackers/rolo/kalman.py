"""The paper's "YOLO + Kalman filter" comparison (a SORT-style single-target tracker).

The same template detector as ROLO proposes candidates; a constant-velocity
Kalman filter on the box centre and size predicts where the target goes; the
candidate with the highest IoU with the prediction is associated when the IoU
reaches ``iou_min`` (SORT's gating; with one track the Hungarian assignment is
an argmax).  Without an associated detection the filter coasts on its
velocity.  It knows the location history but, unlike ROLO's LSTM, nothing of
the visual context -- which is the point of the comparison.
"""
from __future__ import annotations

import numpy as np
import torch

from ..base import BoxSet, Tracker, TrackerError, TrackResult
from .detector import candidates
from .features import FrameEncoder
from .geometry import iou_matrix
from .weights import default_path, load_detector


class ConstantVelocityKalman:
    """State ``(cx, cy, w, h, vcx, vcy, vw, vh)`` in pixels; noise scales with the box size."""

    def __init__(self, box, position_noise: float = 0.05, velocity_noise: float = 0.01,
                 measurement_noise: float = 0.05) -> None:
        x, y, w, h = (float(v) for v in box)
        self.x = np.array([x + w / 2, y + h / 2, w, h, 0, 0, 0, 0], np.float64)
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)
        self.H = np.eye(4, 8)
        self.q_pos, self.q_vel, self.r = position_noise, velocity_noise, measurement_noise
        size = self._size()
        self.P = np.diag(np.r_[(0.1 * size) ** 2 * np.ones(4), (0.2 * size) ** 2 * np.ones(4)])

    def _size(self) -> float:
        return float(np.sqrt(max(self.x[2], 1.0) * max(self.x[3], 1.0)))

    def predict(self) -> np.ndarray:
        size = self._size()
        Q = np.diag(np.r_[(self.q_pos * size) ** 2 * np.ones(4), (self.q_vel * size) ** 2 * np.ones(4)])
        self.x = self.F @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)
        self.P = self.F @ self.P @ self.F.T + Q
        return self.box()

    def update(self, box) -> np.ndarray:
        x, y, w, h = (float(v) for v in box)
        z = np.array([x + w / 2, y + h / 2, w, h])
        R = np.eye(4) * (self.r * self._size()) ** 2
        S = self.H @ self.P @ self.H.T + R
        K = self.P @ self.H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (z - self.H @ self.x)
        self.P = (np.eye(8) - K @ self.H) @ self.P
        return self.box()

    def box(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, w, h])


class DetectorKalmanTracker(Tracker):
    """``detector-kalman``: ROLO's detector + constant-velocity Kalman filter, IoU-gated."""

    def __init__(self, device: str = "cpu", weights: str | None = None, iou_min: float = 0.3,
                 top_k: int = 8, **params) -> None:
        super().__init__(device=device, **params)
        path = weights or default_path("coords")
        self.detector = load_detector(path)
        config = torch.load(path, map_location="cpu", weights_only=True)["config"]
        self.encoder = FrameEncoder(config["long_side"])
        self.iou_min, self.top_k = iou_min, top_k
        self._kernel = self._template_wh = self._kf = None
        self._misses = 0

    @torch.no_grad()
    def _init(self, frame, box, mask, info) -> None:
        H, W = frame.shape[:2]
        x, y, w, h = box
        nbox = torch.tensor([[(x + w / 2) / W, (y + h / 2) / H, w / W, h / H]], dtype=torch.float32)
        self._kernel = self.detector.template(self.encoder(frame), nbox)
        self._template_wh = nbox[:, 2:]
        self._kf = ConstantVelocityKalman(box)
        self._misses = 0

    @torch.no_grad()
    def track(self, frame, info=None) -> TrackResult:
        if self._kf is None:
            raise TrackerError("track() called before init()")
        H, W = frame.shape[:2]
        raw = self.detector(self.encoder(frame), self._kernel)
        nboxes, scores = candidates(raw, self._template_wh, top_k=self.top_k)
        scale = np.array([W, H, W, H], np.float64)
        boxes = nboxes.numpy().astype(np.float64) * scale
        boxes[:, :2] -= boxes[:, 2:] / 2
        predicted = self._kf.predict()
        score = 0.0
        if len(boxes):
            overlaps = iou_matrix(predicted[None], boxes)[0]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= self.iou_min:
                predicted = self._kf.update(boxes[best])
                score = float(scores[best])
                self._misses = 0
        if score == 0.0:
            self._misses += 1
            score = 0.5 * 0.85 ** self._misses
        box = _clip_box(predicted, W, H)
        return TrackResult(box, score, maps={"detections": BoxSet(boxes, scores.numpy(), "detector candidates")})


def _clip_box(box, width: int, height: int) -> tuple[float, float, float, float]:
    """Keep a coasting box on the frame (at least 1x1 px inside) so it stays a valid annotation."""
    x, y, w, h = (float(v) for v in box)
    w, h = min(max(w, 1.0), width), min(max(h, 1.0), height)
    x = min(max(x, -w + 1.0), width - 1.0)
    y = min(max(y, -h + 1.0), height - 1.0)
    x0, y0 = max(x, 0.0), max(y, 0.0)
    return (x0, y0, max(1.0, min(x + w, width) - x0), max(1.0, min(y + h, height) - y0))
