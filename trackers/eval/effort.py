"""Annotation effort: how many boxes a person must draw, with a tracker or with interpolation.

Both figures count human boxes **beyond the first frame** (the first box is
given to every method for free) and are reported per 100 frames:
``100 * count / (frames - 1)``, pooled over sequences as
``100 * sum(count) / sum(frames - 1)``.  A frame where the target is absent
never costs anything: there is nothing to draw.  ``tau`` is the IoU the
annotator accepts; every IoU here is :func:`trackers.eval.metrics.iou`
clipped to the image.

**Tracker** (:class:`SimulatedAnnotator`): the tracker starts from the true
first box.  On every later frame where the target is present, if the
tracker's box is missing or has IoU < ``tau`` with the truth, the annotator
redraws it (one *correction*) and the tracker is re-initialised there with the
true box (``tracker.reinit(frame, box)``).  When the target comes back after
an absence and the tracker is off, that frame costs a correction like any other.

**Keyframe interpolation** (:func:`interpolation_keyframes`): the annotator
draws keyframes and every frame between two keyframes gets the linear
interpolation of their boxes (``x, y, w, h`` each linear in the frame index,
exactly :func:`trackers.baselines.interpolation.interpolate_box`); after the
last keyframe the box is held.  Keyframes are chosen greedily, farthest
reaching: from keyframe ``a`` (the first frame to begin with), if holding
``a``'s box is good enough (IoU >= ``tau``) on every present frame after ``a``
we stop; otherwise the next keyframe is the *farthest* present frame ``b > a``
such that every present frame strictly between ``a`` and ``b`` gets IoU >=
``tau`` from the interpolation of ``a`` and ``b``.  The next present frame
always qualifies, so this ends.  Keyframes sit on present frames only.

Consequences, worth knowing when reading the numbers: a target moving at
constant velocity costs exactly one keyframe beyond the first (the last frame);
a target that turns sharply once costs two (the turn and the last frame); a
static target costs none.  A perfect tracker costs no correction at all.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .metrics import iou

TAUS = (0.5, 0.7)


def per_100(count: int, frames: int, sequences: int = 1) -> float | None:
    """``100 * count / (frames - sequences)``: each sequence's first frame is free, so it is not counted."""
    return None if frames <= sequences else 100.0 * count / (frames - sequences)


class SimulatedAnnotator:
    """Drives one tracker the way an annotator fixing its mistakes would.

    Call :meth:`start` on the first frame and :meth:`step` on every later one;
    ``corrections`` and ``corrected_frames`` hold the cost so far.
    """

    def __init__(self, tracker, tau: float, bound: tuple[float, float] | None = None) -> None:
        self.tracker = tracker
        self.tau = float(tau)
        self.bound = bound
        self.corrections = 0
        self.corrected_frames: list[int] = []

    def start(self, frame: np.ndarray, box, mask: np.ndarray | None = None, index: int = 0) -> None:
        self.tracker.init(frame, box=tuple(box), mask=mask, info={"frame_index": index})

    def step(self, frame: np.ndarray, index: int, gt_box, present: bool,
             gt_mask: np.ndarray | None = None, result: dict[str, Any] | None = None,
             info: Mapping[str, Any] | None = None) -> bool:
        """Track frame ``index``; correct when needed.  Returns True when a correction was made.

        ``result`` lets the caller pass a ``track()`` result it already has
        (or an exception-free ``{'box': None}`` when the tracker crashed).
        ``info`` is what ``track``/``reinit`` get (default ``{"frame_index": index}``);
        the bench runner adds ``next_frame`` for look-ahead trackers.
        """
        info = dict(info) if info is not None else {"frame_index": index}
        if result is None:
            result = self.tracker.track(frame, info=info)
        if not present:
            return False
        box = result.get("box")
        pred = np.asarray([[np.nan] * 4 if box is None else box], np.float64)
        if iou(pred, np.asarray([gt_box], np.float64), self.bound)[0] >= self.tau:
            return False
        self.corrections += 1
        self.corrected_frames.append(index)
        self.tracker.reinit(frame, box=tuple(float(v) for v in gt_box), mask=gt_mask, info=info)
        return True


def interpolation_keyframes(gt_boxes: np.ndarray, present: np.ndarray, tau: float,
                            bound: tuple[float, float] | None = None, block: int = 64) -> list[int]:
    """Greedy farthest-reaching keyframes (see the module docstring); includes the first frame.

    Work is O(N^2) per keyframe, vectorised over blocks of candidate frames so
    memory stays at ``block * N`` boxes.
    """
    gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    present = np.asarray(present, bool)
    n = len(gt)
    first = int(np.argmax(present)) if present.any() else 0
    keys = [first]
    a = first
    while True:
        later = np.nonzero(present[a + 1:])[0] + a + 1
        if later.size == 0:
            break
        held = iou(np.repeat(gt[a:a + 1], later.size, 0), gt[later], bound)
        if np.all(held >= tau):
            break
        b = _farthest_reach(gt, present, a, later, tau, bound, block)
        keys.append(b)
        a = b
    assert all(0 <= k < n for k in keys)
    return keys


def _farthest_reach(gt, present, a, candidates, tau, bound, block) -> int:
    """Largest candidate ``b`` whose interpolation from ``a`` satisfies every present frame between."""
    best = int(candidates[0])  # nothing between a and the next present frame: always fine
    for start in range(0, len(candidates), block):
        bs = candidates[start:start + block]
        frames = np.arange(a + 1, int(bs[-1]))
        if frames.size == 0:
            continue
        t = (frames[None, :] - a) / (bs[:, None] - a)                  # (nb, nf)
        boxes = gt[a][None, None, :] + t[..., None] * (gt[bs][:, None, :] - gt[a][None, None, :])
        truth = np.broadcast_to(gt[frames][None], boxes.shape)
        scores = iou(boxes.reshape(-1, 4), truth.reshape(-1, 4), bound).reshape(t.shape)
        # frames at or beyond b, or where the target is absent, are not b's business
        ok = (scores >= tau) | ~present[frames][None, :] | (frames[None, :] >= bs[:, None])
        good = np.nonzero(ok.all(axis=1))[0]
        if good.size:
            best = max(best, int(bs[good[-1]]))
    return best
