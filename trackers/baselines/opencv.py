"""OpenCV's classic trackers (CSRT, KCF, MIL) behind the common interface.

They are the baselines every deep tracker is compared with.  OpenCV reports
only success/failure, so the score is 1.0 or 0.0; on failure we keep the last
box (an annotator would rather see the last known place than nothing) and
report score 0 so the timeline marks the frame for review.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..base import Box, Tracker, TrackerError, TrackResult

_FACTORIES = {
    "csrt": cv2.TrackerCSRT.create,
    "kcf": cv2.TrackerKCF.create,
    "mil": cv2.TrackerMIL.create,
}


class OpenCVTracker(Tracker):
    def __init__(self, device: str = "cpu", kind: str = "csrt", **params) -> None:
        super().__init__(device=device, **params)
        if kind not in _FACTORIES:
            raise TrackerError(f"unknown OpenCV tracker kind {kind!r}")
        self.kind = kind
        self._tracker = None
        self._last_box: Box | None = None

    def _init(self, frame: np.ndarray, box: Box, mask, info) -> None:
        self._tracker = _FACTORIES[self.kind]()
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        x, y, w, h = box
        self._tracker.init(bgr, (int(round(x)), int(round(y)), max(1, int(round(w))), max(1, int(round(h)))))
        self._last_box = box

    def track(self, frame: np.ndarray, info=None) -> TrackResult:
        if self._tracker is None:
            raise TrackerError("track() called before init()")
        ok, rect = self._tracker.update(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if ok and rect[2] > 0 and rect[3] > 0:
            self._last_box = tuple(float(v) for v in rect)  # type: ignore[assignment]
            return TrackResult(self._last_box, 1.0)
        return TrackResult(self._last_box, 0.0)
