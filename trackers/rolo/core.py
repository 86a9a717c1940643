"""ROLO's per-frame loop on backbone features (no frames, no pixels).

Shared by the tracker (which encodes frames first) and the training script's
closed-loop validation (which feeds cached features), so the figures in
``PROVENANCE.md`` come from exactly the code that tracks in the app.

Per frame: detect (template detector, top-K candidates) -> assign one
candidate to the target (§II-B) -> append (frame vector, location) to the
window of the last ``step`` frames -> run the LSTM over the window from a
zero state -> its last output is the target (coords or heatmap -> box).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from .assignment import DetectionAssigner
from .detector import TemplateDetector, candidates, frame_vector
from .gate import ConfidenceGate
from .geometry import cxcywh_to_xywh, heatmap_to_box, iou
from .lstm import OFFSET_SCALE, RoloLSTM, location_input, paint_heatmaps
from .motion import MOTION_DIM, MOTION_SPAN, fit_motion


@dataclass
class StepResult:
    nbox: np.ndarray            # (cx, cy, w, h) normalised
    score: float
    heatmap: np.ndarray         # (S, S), painted box for the coordinate variant
    candidates: np.ndarray      # (K, 4) normalised
    candidate_scores: np.ndarray
    assigned: int | None        # index into candidates, None = no detection used


class RoloCore:
    def __init__(self, detector: TemplateDetector, lstm: RoloLSTM, step: int = 6, iou_min: float = 0.3,
                 history: int = 3, top_k: int = 8, gate: float = 0.0) -> None:
        if step < 1:
            raise ValueError(f"step size must be >= 1, got {step}")
        self.detector, self.lstm = detector.eval(), lstm.eval()
        self.step, self.top_k, self.history = step, top_k, history
        self.assigner = DetectionAssigner(iou_min=iou_min, history=history)
        # gate > 0: a detection much weaker than the recent ones (a target half behind an occluder) is a miss
        self.gate = ConfidenceGate(gate)
        self._window: deque = deque(maxlen=step)
        self._kernel: torch.Tensor | None = None
        self._template_wh: torch.Tensor | None = None
        self._prev: np.ndarray | None = None
        self._since_detection = 0
        # coast carry: the last MOTION_SPAN frames' assigned detections and the fitted motion
        self._detections: deque = deque(maxlen=MOTION_SPAN)
        self._motion = torch.zeros(1, MOTION_DIM)

    @torch.no_grad()
    def start(self, feats: torch.Tensor, nbox) -> None:
        """(Re)start from a known box: new template, empty window and history."""
        box = torch.as_tensor(np.asarray(nbox, np.float32))[None]
        self._kernel = self.detector.template(feats.float(), box)
        self._template_wh = box[:, 2:]
        self._prev = np.asarray(nbox, np.float32)
        self.assigner.reset(cxcywh_to_xywh(self._prev))
        self.gate.reset()
        self._window.clear()
        self._since_detection = 0
        # the corrected box is the newest "detection" the velocity is fitted on
        self._detections.clear()
        self._detections.append((box[0], 1.0))
        self._motion = torch.zeros(1, MOTION_DIM)

    @torch.no_grad()
    def update(self, feats: torch.Tensor) -> StepResult:
        if self._kernel is None:
            raise RuntimeError("RoloCore.start() must be called first")
        feats = feats.float()
        raw = self.detector(feats, self._kernel)
        cands, scores = candidates(raw, self._template_wh, top_k=self.top_k)
        # after a gap longer than the history, the LSTM's own prediction is the better reference
        reference = cxcywh_to_xywh(self._prev) if self._since_detection > self.history else None
        boxes = cxcywh_to_xywh(cands.numpy())
        assigned, _ = self.assigner.match(boxes, reference=reference)
        if not self.gate.update(None if assigned is None else float(scores[assigned])):
            assigned = None
        if assigned is not None:
            self.assigner.validate(boxes[assigned])
        has_det = assigned is not None
        det = cands[assigned] if has_det else torch.zeros(4)
        conf = float(scores[assigned]) if has_det else 0.0
        prev = torch.as_tensor(self._prev)
        motion = None
        if self.lstm.carry == "coast":
            self._detections.append((det, float(has_det)))
            dets, flags = (torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in part])[None]
                           for part in zip(*self._detections))
            self._motion = fit_motion(dets, flags, self._motion, OFFSET_SCALE)
            motion = self._motion[0]
        loc = location_input(self.lstm.variant, det, torch.tensor(float(has_det)), torch.tensor(conf), prev,
                             self.lstm.heatmap_size, motion=motion)
        self._window.append((frame_vector(feats, raw)[0], loc, prev))
        f, l, p = (torch.stack(parts)[None] for parts in zip(*self._window))
        out = self.lstm(f, l, p)[0, -1]
        size = self.lstm.heatmap_size
        if self.lstm.variant == "heatmap":
            heat = out.reshape(size, size).numpy()
            nbox, score = heatmap_to_box(heat)
            if nbox[2] <= 0 or nbox[3] <= 0:  # an empty map: keep the last place
                nbox = self._prev.copy()
        else:
            nbox = out.numpy().astype(np.float32)
            heat = paint_heatmaps(out, size).reshape(size, size).numpy()
            score = self._agreement(nbox, det.numpy(), conf) if has_det else 0.0
        if not has_det:
            # the LSTM is carrying the track: confidence fades with every missed frame
            score = float(score) if self.lstm.variant == "heatmap" else 0.5
            score *= 0.85 ** (self._since_detection + 1)
        self._since_detection = 0 if has_det else self._since_detection + 1
        self._prev = np.asarray(nbox, np.float32)
        return StepResult(self._prev.copy(), float(np.clip(score, 0, 1)), heat, cands.numpy(), scores.numpy(),
                          assigned)

    @staticmethod
    def _agreement(nbox: np.ndarray, det: np.ndarray, conf: float) -> float:
        """LSTM and detector agree (IoU) and the detector is sure (confidence)."""
        return iou(cxcywh_to_xywh(nbox), cxcywh_to_xywh(det)) * np.sqrt(conf)
