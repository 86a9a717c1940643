"""GSTP tracker (Li et al., "Globally Spatial-Temporal Perception: a long-term tracking system").

Long-term: every frame is searched *whole*, so a target that left the view or
was lost is found again wherever it reappears.

Per frame: the frame, resized so its longer side is ``long_side`` (384) px,
goes through the frozen EfficientNet-Lite0 trunk (stride 16); SiamRCNN
correlates it with the template(s), the RPN proposes, the RoI head scores and
refines the top ``proposals`` candidates.  The motion model (a small HRNet on
the 64x64 squeezed frame plus the last ``history`` target positions as
Gaussian heatmaps) predicts where the target should be; each candidate's
score is rescored by the motion heatmap at its centre::

    m_i   = heat(centre_i) / max(heat)            (0..1; 1 when no past position is known)
    fused = roi_i * (1 - motion_weight + motion_weight * m_i)

The candidate with the highest fused score is the target if it is credible:
its RoI (appearance) score reaches ``absent_threshold`` (0.5), or it reaches
``confirmed_threshold`` (0.25) *and* the motion model puts it where the
target should be (``m_i >= 0.5``).  A far-away reappearance therefore needs
the stronger appearance evidence; a target that keeps moving as predicted is
kept through weak-looking frames.  Otherwise the target is reported absent
(box ``None``, score = 0.2 x the RoI score, i.e. < 0.2) and the trajectory
history records the gap; after ``history`` absent frames the motion model has
nothing to go on and only the appearance threshold counts.

Maps: ``rpn_objectness`` (ScoreMap over the whole frame: best anchor
foreground probability per stride-16 cell), ``proposals`` (BoxSet: candidates
with RoI scores), ``motion_heatmap`` (ScoreMap, whole frame; absent when
``motion=False``), ``fused`` (BoxSet: the same candidates with fused scores).

``reinit`` keeps the first template and adds the corrected one (Siam R-CNN
style: both propose, merged by NMS) and resets the trajectory history.

Parameters: ``weights`` (folder with ``siamrcnn.pth`` and ``motion.pth``;
default ``resources/weights/gstp``), ``motion`` (True), ``threads`` (1),
``long_side`` (384), ``absent_threshold`` (0.5), ``confirmed_threshold`` (0.25),
``motion_weight`` (0.5), ``candidates`` (16).
"""
from __future__ import annotations

import os
from collections import deque
from typing import Any, Mapping

import numpy as np
import torch

from ..base import Box, BoxSet, ScoreMap, Tracker, TrackerError, TrackResult
from .detect import Template, as_xywh, detect, make_template
from .features import DEFAULT_LONG_SIDE, MOTION_SIZE, FrameEncoder, FrameGeometry, motion_thumbnail
from .model import SiamRCNN
from .motion import MotionHRNet, motion_input

DEFAULT_WEIGHTS = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "weights", "gstp")


def load_weights(net: torch.nn.Module, path: str, what: str) -> torch.nn.Module:
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise TrackerError(f"GSTP {what} weights not found: {path} (train them with `python -m trackers.gstp.train`)")
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    except Exception as exc:  # a broken or foreign file: say which file
        raise TrackerError(f"GSTP {what} weights {path} do not load: {exc}") from exc
    return net.eval()


class GSTPTracker(Tracker):
    name = "gstp"

    def __init__(self, device: str = "cpu", weights: str | None = None, motion: bool = True, threads: int | None = 1,
                 long_side: int = DEFAULT_LONG_SIDE, absent_threshold: float = 0.5,
                 confirmed_threshold: float = 0.25, motion_weight: float = 0.5, candidates: int = 16,
                 **params: Any) -> None:
        super().__init__(device, **params)
        if threads:
            torch.set_num_threads(int(threads))
        folder = weights or DEFAULT_WEIGHTS
        self.net = load_weights(SiamRCNN(), os.path.join(folder, "siamrcnn.pth"), "SiamRCNN").to(device)
        self.motion = load_weights(MotionHRNet(), os.path.join(folder, "motion.pth"), "motion").to(device) \
            if motion else None
        self.encoder = FrameEncoder(long_side, device)
        self.absent_threshold = float(absent_threshold)
        self.confirmed_threshold = float(confirmed_threshold)
        self.motion_weight = float(motion_weight)
        self.candidates = int(candidates)
        self.templates: list[Template] = []
        self.history: deque = deque(maxlen=self.motion.history if self.motion else 8)

    # -- state -------------------------------------------------------------------
    def _template(self, frame: np.ndarray, box: Box) -> tuple[Template, FrameGeometry]:
        g = self.encoder.geometry(frame)
        feats = self.encoder(frame)
        return make_template(self.net, feats, torch.from_numpy(g.to_input(np.array(box)))), g

    def _motion_point(self, box: Box | None, g: FrameGeometry) -> tuple[float, float] | None:
        if box is None:
            return None
        x, y, w, h = box
        return ((x + w / 2) * MOTION_SIZE / g.width, (y + h / 2) * MOTION_SIZE / g.height)

    def _init(self, frame: np.ndarray, box: Box, mask, info: dict) -> None:
        template, g = self._template(frame, box)
        self.templates = [template]
        self.history.clear()
        self.history.append(self._motion_point(box, g))

    def reinit(self, frame: np.ndarray, box: Box | None = None, mask: np.ndarray | None = None,
               info: Mapping[str, Any] | None = None) -> None:
        if not self.initialized or not self.templates:
            return self.init(frame, box, mask, info)
        first = self.templates[0]
        self.init(frame, box, mask, info)
        self.templates = [first, self.templates[0]]

    # -- tracking ------------------------------------------------------------------
    @torch.no_grad()
    def _motion_heatmap(self, frame: np.ndarray) -> np.ndarray | None:
        known = [p for p in self.history if p is not None]
        if self.motion is None or not known:
            return None
        k = self.motion.history
        past = [None] * (k - len(self.history)) + list(self.history)
        pts = np.array([[np.nan, np.nan] if p is None else p for p in past], np.float32)
        x = torch.from_numpy(motion_input(motion_thumbnail(frame), pts))[None].to(self.device)
        return self.motion(x)[0].clamp(min=0).cpu().numpy()

    def track(self, frame: np.ndarray, info: Mapping[str, Any] | None = None) -> TrackResult:
        if not self.initialized:
            raise TrackerError("GSTP: track() before init()")
        g = self.encoder.geometry(frame)
        feats = self.encoder(frame)
        det = detect(self.net, self.templates, feats, (g.in_width, g.in_height), post_nms=self.candidates)
        boxes = g.to_frame(as_xywh(det.boxes).cpu().numpy()) if len(det.boxes) else np.zeros((0, 4), np.float32)
        roi = det.scores.cpu().numpy()
        heat = self._motion_heatmap(frame)
        m = np.ones(len(boxes), np.float32)
        informed = heat is not None and len(boxes) > 0 and heat.max() > 1e-3   # the motion model has an opinion
        if informed:
            cx = np.clip(((boxes[:, 0] + boxes[:, 2] / 2) * MOTION_SIZE / g.width).astype(int), 0, MOTION_SIZE - 1)
            cy = np.clip(((boxes[:, 1] + boxes[:, 3] / 2) * MOTION_SIZE / g.height).astype(int), 0, MOTION_SIZE - 1)
            m = heat[cy, cx] / heat.max()
        fused = roi * (1 - self.motion_weight + self.motion_weight * m) if informed else roi.copy()
        frame_region = (0.0, 0.0, float(g.width), float(g.height))
        maps: dict[str, ScoreMap | BoxSet] = {
            "rpn_objectness": ScoreMap(det.objectness.cpu().numpy(), frame_region, "RPN foreground probability"),
            "proposals": BoxSet(boxes, roi, "SiamRCNN candidates, RoI-head scores"),
            "fused": BoxSet(boxes, fused, "candidates rescored by the motion heatmap"),
        }
        if self.motion is not None:
            maps["motion_heatmap"] = ScoreMap(heat if heat is not None else np.zeros((MOTION_SIZE, MOTION_SIZE)),
                                              frame_region, "motion model: predicted target position")
        best = int(np.argmax(fused)) if len(fused) else -1
        credible = best >= 0 and (roi[best] >= self.absent_threshold or
                                  (informed and roi[best] >= self.confirmed_threshold and m[best] >= 0.5))
        if not credible:
            self.history.append(None)
            return TrackResult(None, 0.2 * (float(roi[best]) if best >= 0 else 0.0), maps=maps)
        box = tuple(float(v) for v in boxes[best])
        self.history.append(self._motion_point(box, g))
        return TrackResult(box, float(np.clip(fused[best], 0, 1)), maps=maps)
