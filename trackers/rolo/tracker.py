"""ROLO (Ning et al., "Spatially supervised recurrent convolutional neural networks
for visual object tracking") behind the TrackAssist tracker interface.

``rolo`` regresses the box coordinates with the LSTM (Eq. 4); ``rolo-heatmap``
predicts a 32x32 heatmap of the whole frame (Eq. 5) that is turned into the
box.  Both were trained here (``python -m trackers.rolo.train``; see
``resources/weights/rolo/PROVENANCE.md``).

Maps for the GUI:

``lstm_heatmap``  32x32 ScoreMap over the whole frame: the LSTM's heatmap, or
                  for the coordinate variant the regressed box painted;
``detections``    the detector's candidates (BoxSet), before assignment.

Score: coordinate variant -- IoU(LSTM box, assigned detection) x sqrt(detection
confidence), i.e. high when the LSTM and the detector agree; heatmap variant --
peak x share of the map's mass in the box's blob.  While the detector misses
(occlusion) the LSTM carries the box and the score fades by 0.85 per frame.
With ``gate`` > 0 (the weights store the value they were trained with) a
detection much weaker than the track's recent ones counts as a miss
(``trackers/rolo/gate.py``: a target half behind an occluder).
``reinit`` (a correction) takes a new template from the corrected frame and
clears the LSTM window and the assignment history.
"""
from __future__ import annotations

import numpy as np

from ..base import BoxSet, ScoreMap, Tracker, TrackerError, TrackResult
from .core import RoloCore
from .features import FrameEncoder
from .geometry import cxcywh_to_xywh, from_normalized, to_normalized
from .kalman import _clip_box
from .weights import default_path, load_weights


class RoloTracker(Tracker):
    def __init__(self, device: str = "cpu", variant: str = "coords", weights: str | None = None,
                 step: int | None = None, iou_min: float = 0.3, top_k: int = 8, gate: float | None = None,
                 **params) -> None:
        super().__init__(device=device, **params)
        # the LSTM and the detector head are tiny; run them (and the trunk) on the CPU unless asked
        detector, lstm, config = load_weights(weights or default_path(variant), device=device)
        if lstm.variant != variant:
            raise TrackerError(f"{weights}: holds the {lstm.variant!r} variant, not {variant!r}")
        self.encoder = FrameEncoder(config["long_side"], device=device)
        self.step = int(step or config["step"])
        # the confidence gate the LSTM was trained with (trackers/rolo/gate.py), unless overridden
        self.gate = float(config.get("gate", 0.0) if gate is None else gate)
        self.core = RoloCore(detector, lstm, step=self.step, iou_min=iou_min, top_k=top_k, gate=self.gate)
        self.variant = variant

    def _init(self, frame: np.ndarray, box, mask, info) -> None:
        H, W = frame.shape[:2]
        self.core.start(self.encoder(frame).cpu(), to_normalized(box, W, H))

    def track(self, frame: np.ndarray, info=None) -> TrackResult:
        if not self.initialized:
            raise TrackerError("track() called before init()")
        H, W = frame.shape[:2]
        result = self.core.update(self.encoder(frame).cpu())
        box = _clip_box(from_normalized(result.nbox, W, H), W, H)
        cands = cxcywh_to_xywh(result.candidates) * np.array([W, H, W, H])
        what = "LSTM heatmap" if self.variant == "heatmap" else "LSTM box (painted)"
        maps = {
            "lstm_heatmap": ScoreMap(result.heatmap, (0.0, 0.0, float(W), float(H)), what),
            "detections": BoxSet(cands, result.candidate_scores, "detector candidates (template similarity)"),
        }
        return TrackResult(box, result.score, maps=maps)
