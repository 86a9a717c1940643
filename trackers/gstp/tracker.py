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

``roi_i`` is the candidate's appearance score.  By default (``appearance="trunk"``)
it is the cosine similarity between the candidate's and the templates'
features on the frozen ImageNet trunk (RoIAligned 5x5 on the stride-16 tap,
the best over the templates).  The paper's choice, the trained RoI head's
foreground probability (``appearance="head"``, registered as ``gstp-roihead``),
is fitted to the 17 training sequences: on unseen ones the RoI head ranked the
right proposal first far less often than the trunk similarity did (mean IoU of
the chosen candidate 0.33 vs 0.47 on 80 re-detections in vot2014-car, -jogging,
-skating, -woman; on 120 in six training sequences 0.73 vs 0.72).  The RPN
still proposes the candidates, and the RoI head still refines their boxes.

The candidate with the highest fused score is the target if it is credible:
its appearance score reaches ``absent_threshold`` (trunk 0.4, head 0.5), or it
reaches ``confirmed_threshold`` (trunk 0.3, head 0.25) *and* the motion model
puts it where the target should be (``m_i >= 0.5``).  (The trunk thresholds
were chosen on the six training sequences above: at 0.4 the rejected
re-detections were right about half the time.)  A far-away reappearance therefore needs
the stronger appearance evidence; a target that keeps moving as predicted is
kept through weak-looking frames.  Otherwise the target is reported absent
(box ``None``, score = 0.2 x the RoI score, i.e. < 0.2) and the trajectory
history records the gap; after ``history`` absent frames the motion model has
nothing to go on and only the appearance threshold counts.

Maps: ``rpn_objectness`` (ScoreMap over the whole frame: best anchor
foreground probability per stride-16 cell), ``proposals`` (BoxSet: candidates
with their appearance scores), ``motion_heatmap`` (ScoreMap, whole frame; absent when
``motion=False``), ``fused`` (BoxSet: the same candidates with fused scores).

``reinit`` keeps the first template and adds the corrected one (Siam R-CNN
style: both propose, merged by NMS) and resets the trajectory history.

Parameters: ``weights`` (folder with ``siamrcnn.pth`` and ``motion.pth``;
default ``resources/weights/gstp``), ``motion`` (True), ``threads`` (1),
``long_side`` (384; larger for small targets, see ``min_target_side`` (32) and ``max_long_side``
(1024) in :meth:`GSTPTracker.working_long_side`), ``size_lr`` (0.3: share of the chosen candidate's
size taken each frame, the rest from the last box; 1 = none of the last box), ``appearance``
("trunk" or "head"), ``absent_threshold`` and ``confirmed_threshold`` (defaults per appearance, above),
``motion_weight`` (0.5), ``candidates`` (16), ``sharpness`` (None; e.g. 0.05: the appearance scores
enter the motion rescoring as ``exp((a_i - max a) / sharpness)``, so motion only ranks near-equal looks).
"""
from __future__ import annotations

import os
from collections import deque
from typing import Any, Mapping

import numpy as np
import torch

from ..base import Box, BoxSet, ScoreMap, Tracker, TrackerError, TrackResult
from ..ops import roi_descriptors, xywh_to_xyxy
from .detect import Template, as_xywh, detect, make_template
from .features import DEFAULT_LONG_SIDE, MOTION_SIZE, STRIDE, FrameEncoder, FrameGeometry, motion_thumbnail
from .model import SiamRCNN
from .motion import MotionHRNet, motion_input

APPEARANCES = ("trunk", "head")
# (absent, confirmed) thresholds per appearance score; trunk values chosen on training sequences
THRESHOLDS = {"trunk": (0.4, 0.3), "head": (0.5, 0.25)}
DESCRIPTOR_SIZE = 5


def trunk_descriptors(feats: torch.Tensor, boxes_xywh_in: torch.Tensor) -> torch.Tensor:
    """Unit-length RoIAligned (5x5) trunk features of boxes given in input pixels (x, y, w, h): ``(N, C*25)``."""
    return roi_descriptors(feats, xywh_to_xyxy(boxes_xywh_in.reshape(-1, 4)), 1.0 / STRIDE, DESCRIPTOR_SIZE)


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
                 long_side: int = DEFAULT_LONG_SIDE, appearance: str = "trunk", absent_threshold: float | None = None,
                 confirmed_threshold: float | None = None, motion_weight: float = 0.5, candidates: int = 16,
                 min_target_side: float = 32.0, max_long_side: int = 1024, size_lr: float = 0.3,
                 sharpness: float | None = None, **params: Any) -> None:
        super().__init__(device, **params)
        if appearance not in APPEARANCES:
            raise TrackerError(f"GSTP appearance must be one of {APPEARANCES}, got {appearance!r}")
        self.appearance = appearance
        default_absent, default_confirmed = THRESHOLDS[appearance]
        if threads:
            torch.set_num_threads(int(threads))
        folder = weights or DEFAULT_WEIGHTS
        self.net = load_weights(SiamRCNN(), os.path.join(folder, "siamrcnn.pth"), "SiamRCNN").to(device)
        self.motion = load_weights(MotionHRNet(), os.path.join(folder, "motion.pth"), "motion").to(device) \
            if motion else None
        self.encoder = FrameEncoder(long_side, device)
        self.long_side, self.max_long_side = int(long_side), int(max_long_side)
        self.min_target_side = float(min_target_side)
        self.absent_threshold = float(default_absent if absent_threshold is None else absent_threshold)
        self.confirmed_threshold = float(default_confirmed if confirmed_threshold is None else confirmed_threshold)
        self.motion_weight = float(motion_weight)
        if sharpness is not None and not sharpness > 0:
            raise TrackerError(f"GSTP sharpness must be > 0 (or None), got {sharpness!r}")
        self.sharpness = None if sharpness is None else float(sharpness)
        self.candidates = int(candidates)
        self.templates: list[Template] = []
        self.descriptors: list[torch.Tensor] = []   # trunk descriptors of the templates, same order
        self._keep_resolution = False
        self.size_lr = float(size_lr)
        self.last_box: Box | None = None   # the last box reported (None after an absence)
        self.history: deque = deque(maxlen=self.motion.history if self.motion else 8)

    # -- state -------------------------------------------------------------------
    def _template(self, frame: np.ndarray, box: Box) -> tuple[Template, torch.Tensor, FrameGeometry]:
        g = self.encoder.geometry(frame)
        feats = self.encoder(frame)
        box_in = torch.from_numpy(g.to_input(np.array(box)))
        return make_template(self.net, feats, box_in), trunk_descriptors(feats, box_in), g

    def _motion_point(self, box: Box | None, g: FrameGeometry) -> tuple[float, float] | None:
        if box is None:
            return None
        x, y, w, h = box
        return ((x + w / 2) * MOTION_SIZE / g.width, (y + h / 2) * MOTION_SIZE / g.height)

    def working_long_side(self, frame: np.ndarray, box: Box) -> int:
        """The resized frame's longer side for this track: ``long_side``, or more for a small target.

        At the default 384 px a small target covers about one stride-16 cell and the RPN does not
        propose it (vot2014-car, 43x27 px in a 640x272 frame: a proposal with IoU >= 0.5 in 1 of 20
        frames at 384 px, 13 of 20 at 640 px).  So the frame is enlarged until the target's mean side
        reaches ``min_target_side`` input pixels (two cells), but never beyond the frame's own
        resolution (or ``long_side`` if that is larger) nor ``max_long_side``: the cost grows with the
        square of the side.
        """
        native = max(frame.shape[:2])
        side = float(np.sqrt(max(box[2], 0.0) * max(box[3], 0.0)))
        if side <= 0 or side * self.long_side / native >= self.min_target_side:
            return self.long_side
        wanted = self.min_target_side * native / side
        return int(max(self.long_side, min(wanted, native, self.max_long_side)))

    def _init(self, frame: np.ndarray, box: Box, mask, info: dict) -> None:
        if not self._keep_resolution:   # a correction keeps the scale the first template was taken at
            self.encoder.long_side = self.working_long_side(frame, box)
        template, descriptor, g = self._template(frame, box)
        self.templates, self.descriptors = [template], [descriptor]
        self.history.clear()
        self.last_box = tuple(float(v) for v in box)
        self.history.append(self._motion_point(box, g))

    def reinit(self, frame: np.ndarray, box: Box | None = None, mask: np.ndarray | None = None,
               info: Mapping[str, Any] | None = None) -> None:
        if not self.initialized or not self.templates:
            return self.init(frame, box, mask, info)
        first, first_descriptor = self.templates[0], self.descriptors[0]
        self._keep_resolution = True
        try:
            self.init(frame, box, mask, info)
        finally:
            self._keep_resolution = False
        self.templates = [first, self.templates[0]]
        self.descriptors = [first_descriptor, self.descriptors[0]]

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
        if self.appearance == "trunk" and len(boxes):
            candidates = trunk_descriptors(feats, as_xywh(det.boxes).to(feats.dtype))
            appearance_scores = (candidates @ torch.cat(self.descriptors).T).amax(1).clamp(0, 1).cpu().numpy()
        else:
            appearance_scores = det.scores.cpu().numpy()
        heat = self._motion_heatmap(frame)
        m = np.ones(len(boxes), np.float32)
        informed = heat is not None and len(boxes) > 0 and heat.max() > 1e-3   # the motion model has an opinion
        if informed:
            cx = np.clip(((boxes[:, 0] + boxes[:, 2] / 2) * MOTION_SIZE / g.width).astype(int), 0, MOTION_SIZE - 1)
            cy = np.clip(((boxes[:, 1] + boxes[:, 3] / 2) * MOTION_SIZE / g.height).astype(int), 0, MOTION_SIZE - 1)
            m = heat[cy, cx] / heat.max()
        # sharpness: the motion model only decides between candidates that look nearly alike (a candidate
        # sharpness below the best appearance weighs 1/e); otherwise it can back a look-alike it followed
        # (the reported score and the `fused` map stay appearance x motion; only the choice is sharpened)
        motion_factor = (1 - self.motion_weight + self.motion_weight * m) if informed else np.ones_like(m)
        fused = appearance_scores * motion_factor
        ranking = fused if self.sharpness is None or not len(fused) else \
            np.exp((appearance_scores - appearance_scores.max()) / self.sharpness) * motion_factor
        frame_region = (0.0, 0.0, float(g.width), float(g.height))
        maps: dict[str, ScoreMap | BoxSet] = {
            "rpn_objectness": ScoreMap(det.objectness.cpu().numpy(), frame_region, "RPN foreground probability"),
            "proposals": BoxSet(boxes, appearance_scores, "SiamRCNN candidates, " + (
                "similarity to the templates on the ImageNet trunk" if self.appearance == "trunk"
                else "RoI-head scores")),
            "fused": BoxSet(boxes, fused, "candidates rescored by the motion heatmap"),
        }
        if self.motion is not None:
            maps["motion_heatmap"] = ScoreMap(heat if heat is not None else np.zeros((MOTION_SIZE, MOTION_SIZE)),
                                              frame_region, "motion model: predicted target position")
        best = int(np.argmax(ranking)) if len(ranking) else -1
        credible = best >= 0 and (appearance_scores[best] >= self.absent_threshold or
                                  (informed and appearance_scores[best] >= self.confirmed_threshold and m[best] >= 0.5))
        if not credible:
            self.history.append(None)
            self.last_box = None
            return TrackResult(None, 0.2 * (float(appearance_scores[best]) if best >= 0 else 0.0), maps=maps)
        box = self._smoothed(boxes[best])
        self.history.append(self._motion_point(box, g))
        self.last_box = box
        return TrackResult(box, float(np.clip(fused[best], 0, 1)), maps=maps)

    def _smoothed(self, candidate: np.ndarray) -> Box:
        """The chosen candidate's centre, with its size blended into the last box's (geometric,
        ``size_lr`` of the candidate's).  The RoI head's refined sizes jump from frame to frame on
        targets it was not trained on (vot2014-woman, 29x103 px: heights 49 to 107 px within 100
        frames); after an absence the candidate's own size is taken."""
        x, y, w, h = (float(v) for v in candidate)
        if self.last_box is not None and self.size_lr < 1.0:
            lw, lh = self.last_box[2], self.last_box[3]
            cx, cy = x + w / 2, y + h / 2
            w = float(np.exp((1 - self.size_lr) * np.log(lw) + self.size_lr * np.log(max(w, 1e-3))))
            h = float(np.exp((1 - self.size_lr) * np.log(lh) + self.size_lr * np.log(max(h, 1e-3))))
            x, y = cx - w / 2, cy - h / 2
        return (x, y, w, h)
