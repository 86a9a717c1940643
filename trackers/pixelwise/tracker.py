"""Pixel-wise tracker (Song, Li & Wang, "Pixel-wise object tracking"), CPU edition.

Registered twice: ``pixelwise`` (two-stage: global attention model chooses the
ROI, Algorithm 1) and ``pixelwise-1stage`` (the ROI follows the
probability-weighted centroid of the previous segmentation, Eq. 5, at the
fixed size of the first ROI).

``init(frame, box=None, mask=None)``: the mask initialises the ConvLSTM memory
through M-CNN.  Given only a box, the first mask is made by GrabCut inside the
box (:func:`trackers.baselines.grabcut.grabcut_box`); a box where GrabCut finds
nothing starts from the filled box.  ``reinit(frame, box, mask)`` restarts the
memory (and the global model's history) from the corrected mask, again with
GrabCut when only a box is given.

``track()`` returns the mask (full-frame bool, the probability map > 0.5), the
box around it (``None`` when the mask is empty: target reported absent), a
score (mean probability inside the mask) and maps:

* ``roi_probability`` - ScoreMap of the local model's sigmoid output over the ROI;
* ``global_attention`` - ScoreMap over the whole frame: the global model's
  transformed anchor T(theta_t)(Z_A) (2-stage only); the ROI actually cropped is
  twice that anchor, after the theta smoothing of Algorithm 1;
* ``roi`` - BoxSet with the ROI cropped this frame.

Parameters: ``weights`` (default ``resources/weights/pixelwise/pixelwise_lite0.pth``),
``mode`` ("2stage" / "1stage"), ``beta`` (theta smoothing of Algorithm 1, 0.8),
``threshold`` (0.5), ``threads`` (torch threads, 1: the GUI uses the other core), ``min_roi`` and
``collapse`` (the collapse guards of :class:`trackers.pixelwise.core.PixelwiseCore`; 0 = off),
``refresh`` and ``replay`` (its memory refresh: 4 and 1; 0 = off), ``guided`` (guided-filter
refinement, (radius, eps); off).  Weights holding a fine local model (stride-8 match maps) load too;
the trunk then also returns its stride-8 tap.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from .. import backbones
from ..base import Box, BoxSet, ScoreMap, Tracker, TrackerError, TrackResult, box_from_mask, check_frame
from .core import PixelwiseCore
from .local_model import FINE_STRIDE, STRIDE
from .weights import load_net

# collapse guards (PixelwiseCore); values chosen on training sequences, see PROVENANCE.md
MIN_ROI = 0.7
COLLAPSE = 0.0
# memory refresh (PixelwiseCore); 0 = off
REFRESH = 4
REPLAY = 1
# guided-filter refinement of the ROI probability map (radius in ROI pixels, eps); radius 0 = off.
# Off: (8, 0.003) helped the training clips (DAVIS-train 2-stage 0.603 -> 0.611) but not the held-out
# sequences (J 0.460 -> 0.442, and boxes worse), see PROVENANCE.md
GUIDED = (0, 0.0)


class PixelwiseTracker(Tracker):
    name = "pixelwise"
    produces_masks = True

    def __init__(self, device: str = "cpu", weights: str | None = None, mode: str = "2stage", beta: float = 0.8,
                 threshold: float = 0.5, threads: int | None = 1, min_roi: float = MIN_ROI,
                 collapse: float = COLLAPSE, refresh: int = REFRESH, replay: int = REPLAY,
                 guided: tuple = GUIDED, **params: Any) -> None:
        super().__init__(device=device, **params)
        if threads:
            torch.set_num_threads(int(threads))
        self.net = load_net(weights, device)
        taps = (FINE_STRIDE, STRIDE) if self.net.local.fine else (STRIDE,)
        self.trunk = backbones.build("lite0", taps=taps).to(device)
        try:
            self.core = PixelwiseCore(self.net, self.trunk, mode, beta, threshold, device, min_roi, collapse,
                                      refresh, replay, tuple(guided))
        except ValueError as exc:
            raise TrackerError(str(exc)) from exc

    def _init(self, frame: np.ndarray, box: Box, mask: np.ndarray | None, info: dict) -> None:
        if mask is not None:
            mask = np.asarray(mask, bool)
            if mask.shape != frame.shape[:2]:
                raise TrackerError(f"init mask is {mask.shape}, the frame is {frame.shape[:2]}")
        if mask is None or not mask.any():
            from ..baselines.grabcut import grabcut_box
            mask = grabcut_box(frame, box)
        self.core.start(frame, mask)

    def track(self, frame: np.ndarray, info: Mapping[str, Any] | None = None) -> TrackResult:
        if not self.initialized:
            raise TrackerError("track() called before init()")
        frame = check_frame(frame)
        if frame.shape[:2] != self.frame_shape:
            raise TrackerError(f"frame size changed from {self.frame_shape} to {frame.shape[:2]}")
        out = self.core.step(frame)
        box = box_from_mask(out.mask)
        score = float(out.prob[out.mask].mean()) if box is not None else 0.0
        maps: dict = {"roi_probability": ScoreMap(out.roi_prob, out.roi.region,
                                                  "local model: probability of the target over the ROI"),
                      "roi": BoxSet(np.array([out.roi.region]), np.array([1.0]), "ROI cropped this frame")}
        if out.theta is not None:
            H, W = frame.shape[:2]
            maps["global_attention"] = ScoreMap(self.core.attention_map(out.theta), (0, 0, W, H),
                                                "global model: transformed anchor T(theta)(Z_A); ROI = 2x anchor")
        return TrackResult(box, score, out.mask, maps)
