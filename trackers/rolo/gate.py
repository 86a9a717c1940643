"""Confidence gate: a detection much weaker than the track's recent ones is not used as one.

Why: as a target slides behind an occluder the detector keeps firing on its
visible part.  Those detections have the template's size but sit at the
visible part, so they lag the full box more every frame (measured on the
occlusion goal clip of :mod:`occlusion_check`: up to 13 px, 3 frames of motion,
and the velocity fitted through them drops from 4.1 to 3.2 px/frame), and the
track enters the gap already behind and too slow.  Their confidence drops
with the visible part (0.6 -> 0.3 -> 0.07 there), so a detection whose
confidence is below ``ratio`` times the best confidence accepted in the last
:data:`GATE_SPAN` frames counts as a miss: the LSTM carries the track from the
last full view instead.

The reference is a maximum over *frames*, not over accepted detections, so
after ``GATE_SPAN`` frames without an accepted detection it is empty and the
next detection is accepted whatever its confidence: a target whose look has
changed for good (and with it the confidence) is not gated out forever.

One class serves the tracker (:class:`core.RoloCore`, frame by frame) and the
training data (:func:`gate_sequence`), so the LSTM is trained on exactly the
gaps it meets when tracking.
"""
from __future__ import annotations

from collections import deque

import numpy as np

GATE_SPAN = 10


class ConfidenceGate:
    def __init__(self, ratio: float = 0.0, span: int = GATE_SPAN) -> None:
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"confidence gate ratio must lie in [0, 1), got {ratio}")
        self.ratio = ratio
        self._accepted: deque = deque(maxlen=span)  # per frame: accepted confidence, or None

    def reset(self) -> None:
        self._accepted.clear()

    def reference(self) -> float | None:
        kept = [c for c in self._accepted if c is not None]
        return max(kept) if kept else None

    def update(self, conf: float | None) -> bool:
        """One frame: ``conf`` of the assigned detection (``None``: none assigned) -> use it?"""
        ref = self.reference()
        accept = conf is not None and (ref is None or conf >= self.ratio * ref)
        self._accepted.append(conf if accept else None)
        return accept


def gate_sequence(det: np.ndarray, conf: np.ndarray, ratio: float) -> np.ndarray:
    """``det (N, 4)`` assigned detections (nan = none), ``conf (N,)`` -> ``det`` with the gated ones nan."""
    out = det.copy()
    if ratio <= 0:
        return out
    gate = ConfidenceGate(ratio)
    for t in range(len(det)):
        has = bool(np.isfinite(det[t]).all())
        if not gate.update(float(conf[t]) if has else None):
            out[t] = np.nan
    return out
