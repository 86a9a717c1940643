"""Assigning one of a frame's detections to the target (paper §II-B).

"We employ an assignment cost matrix that is computed as the IoU distance
between the current detection and the mean of its short-term history of
validated detections.  The detection of the first frame is determined by the
IoU distance between the detections and the ground truth.  A minimum IoU is
imposed to reject assignments where the overlap is less than IoU_min."

With a single target the cost matrix is one row: we take the candidate with
the smallest IoU distance ``1 - IoU(candidate, reference)`` and reject it when
``IoU < iou_min``.  The reference is the given box until the first detection
is validated, then the mean ``(x, y, w, h)`` of the last ``history``
validated detections.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from .geometry import iou_matrix


class DetectionAssigner:
    def __init__(self, iou_min: float = 0.3, history: int = 3) -> None:
        if not 0.0 <= iou_min < 1.0:
            raise ValueError(f"iou_min must lie in [0, 1), got {iou_min}")
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.iou_min = iou_min
        self._history: deque[np.ndarray] = deque(maxlen=history)
        self._first_box: np.ndarray | None = None

    def reset(self, box) -> None:
        """Start afresh from the given (ground-truth / corrected) box."""
        self._history.clear()
        self._first_box = np.asarray(box, np.float64).reshape(4)

    def reference(self) -> np.ndarray:
        """The box candidates are compared with: history mean, else the given box."""
        if self._history:
            return np.mean(np.stack(self._history), axis=0)
        if self._first_box is None:
            raise RuntimeError("DetectionAssigner.reset(box) must be called first")
        return self._first_box

    def match(self, boxes: np.ndarray, reference=None) -> tuple[int | None, float]:
        """Index of the best candidate (or ``None`` below ``iou_min``) and its IoU with the reference,
        without recording it: the caller may still refuse it (:mod:`gate`) before :meth:`validate`."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return None, 0.0
        ref = self.reference() if reference is None else np.asarray(reference, np.float64)
        overlaps = iou_matrix(ref[None], boxes)[0]
        best = int(np.argmax(overlaps))  # argmin of the IoU distance 1 - IoU
        if overlaps[best] < self.iou_min:
            return None, float(overlaps[best])
        return best, float(overlaps[best])

    def validate(self, box) -> None:
        """Record a used detection in the short-term history."""
        self._history.append(np.asarray(box, np.float64).reshape(4))

    def assign(self, boxes: np.ndarray, reference=None) -> tuple[int | None, float]:
        """Index of the assigned detection (or ``None``) and its IoU with the reference.

        ``reference`` overrides the history mean (e.g. to gate around the
        tracker's own prediction after a long occlusion); a validated
        detection is appended to the history either way.
        """
        best, overlap = self.match(boxes, reference)
        if best is not None:
            self.validate(np.asarray(boxes, np.float64).reshape(-1, 4)[best])
        return best, overlap
