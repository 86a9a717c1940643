"""Algorithm 1 (two-stage tracking) and the 1-stage variant, on numpy frames.

Shared by the product tracker (:mod:`.tracker`) and the iterative training's
roll-outs (:mod:`.train_stages`), so training sees exactly what inference does.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..base import box_from_mask
from ..ops import CropTransform, crop_square, warp_crop
from .data import crop_mask, map_of_mask, trunk_taps
from .global_model import BURN_IN, MAP_SIZE, render_anchor, roi_from_theta, theta_from_box
from .local_model import FINE_STRIDE, ROI_SIZE, STRIDE


def paste_roi(prob: np.ndarray, t: CropTransform, height: int, width: int) -> np.ndarray:
    """ROI probability map -> full-frame map (zero outside the ROI: §2 assumes the ROI holds the object)."""
    full = np.zeros((height, width), np.float32)
    x0, y0 = max(0, int(np.floor(t.x0))), max(0, int(np.floor(t.y0)))
    side = t.out_size / t.scale
    x1, y1 = min(width, int(np.ceil(t.x0 + side))), min(height, int(np.ceil(t.y0 + side)))
    if x1 <= x0 or y1 <= y0:
        return full
    # dst pixel (j, i) of the sub-rectangle is frame point (x0 + j + .5, y0 + i + .5) -> patch index
    m = np.array([[t.scale, 0, (x0 + 0.5 - t.x0) * t.scale - 0.5],
                  [0, t.scale, (y0 + 0.5 - t.y0) * t.scale - 0.5]], np.float64)
    full[y0:y1, x0:x1] = cv2.warpAffine(prob.astype(np.float32), m, (x1 - x0, y1 - y0),
                                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return full


def weighted_centroid(prob: np.ndarray, t: CropTransform) -> tuple[float, float] | None:
    """Eq. 5 on a ROI probability map, returned in frame pixels."""
    total = float(prob.sum())
    if total <= 1e-6:
        return None
    ys, xs = np.mgrid[0:prob.shape[0], 0:prob.shape[1]]
    cx, cy = float((prob * xs).sum() / total) + 0.5, float((prob * ys).sum() / total) + 0.5
    return tuple(t.points_to_frame(np.array([cx, cy])))


@dataclass
class StepOutput:
    roi: CropTransform
    roi_prob: np.ndarray          # ROI_SIZE x ROI_SIZE
    prob: np.ndarray              # full frame
    mask: np.ndarray              # full frame bool
    theta: np.ndarray | None      # the global model's raw theta_t (None in 1-stage mode)
    theta_used: np.ndarray | None
    feats: torch.Tensor           # ROI trunk features (for roll-outs)


class PixelwiseCore:
    """State of one track.  ``mode`` is ``"2stage"`` (Algorithm 1) or ``"1stage"`` (Eq. 5, fixed ROI size).

    Two guards against a closed-loop collapse, neither in the paper (measured in PROVENANCE.md):

    * ``min_roi`` - the 2-stage ROI side never drops below this fraction of the first ROI's side, so
      one under-segmented frame cannot shrink the ROI around a part of the object;
    * ``collapse`` - a mask whose area falls below this fraction of the last trusted mask's area
      (empty included) is still reported, but does not steer: the global model (or Eq. 5) is fed the
      last trusted map again, so the ROI stays where the object was.  The trusted area decays by
      ``COLLAPSE_DECAY`` per distrusted frame, so a genuinely shrinking object is accepted again.

    0 switches either guard off (the paper's Algorithm 1).

    Memory refresh (not in the paper): the local model is trained on windows of 1 + 8 ROIs, and
    beyond that its ConvLSTM memory drifts (with ROIs placed on the true box, IoU falls from ~0.6 in
    the first frames to ~0.2-0.4 by frame 30-50).  With ``refresh`` = K > 0, after a memory has
    produced K masks past its warm-up it is replaced by a fresh one: M-CNN's state from the first
    frame, advanced over the last ``replay`` ROIs (their stored features, no deconvolution), so every
    mask comes from a memory between ``replay`` + 1 and ``replay`` + K steps old, the ages it was
    trained at.  The first frame's mask and features stay the reference throughout.
    """

    COLLAPSE_DECAY = 0.9

    def __init__(self, net, trunk, mode: str = "2stage", beta: float = 0.8, threshold: float = 0.5,
                 device: str = "cpu", min_roi: float = 0.0, collapse: float = 0.0, refresh: int = 0,
                 replay: int = 0, guided: tuple[int, float] = (0, 0.0)) -> None:
        if mode not in ("2stage", "1stage"):
            raise ValueError(f"mode must be '2stage' or '1stage', got {mode!r}")
        if not (0.0 <= min_roi <= 1.0 and 0.0 <= collapse < 1.0):
            raise ValueError(f"min_roi must be in [0, 1] and collapse in [0, 1), got {min_roi}, {collapse}")
        if refresh < 0 or replay < 0:
            raise ValueError(f"refresh and replay must be >= 0, got {refresh}, {replay}")
        self.net, self.trunk, self.mode = net, trunk, mode
        self.beta, self.threshold, self.device = float(beta), float(threshold), device
        self.min_roi, self.collapse = float(min_roi), float(collapse)
        self.refresh, self.replay = int(refresh), int(replay)
        self.guided = (int(guided[0]), float(guided[1]))

    @torch.no_grad()
    def start(self, frame: np.ndarray, mask: np.ndarray) -> None:
        H, W = frame.shape[:2]
        self.size = (H, W)
        self.aspect = torch.tensor([W / H], dtype=torch.float32, device=self.device)
        self.pad = tuple(float(v) for v in frame.reshape(-1, 3).mean(0))
        box = box_from_mask(mask)
        self.theta_old = theta_from_box(box, W, H)
        centre, side = roi_from_theta(self.theta_old, W, H)
        t = crop_square(centre, side, ROI_SIZE)
        self.fixed_side = side
        feats, fine = self._features(frame, t)
        z0 = torch.from_numpy(crop_mask(mask, t)).float()[None, None].to(self.device)
        self.local_state = self.net.local.init_state(feats, z0, fine.get("fine"))
        self.fresh_state, self.memory_age = self.local_state, 0
        self.history: deque = deque(maxlen=self.replay)     # the last ROIs' features, for the replay
        # burn-in (§4): the global LSTM is warmed up on the first map as a static history,
        # as in training, so its first real prediction already has a history
        self.prev_map = self._map(mask)
        self.global_state = self.net.global_.zero_state(1, self.device)
        for _ in range(BURN_IN):
            _, self.global_state = self.net.global_.step(self.prev_map, self.aspect, self.global_state)
        self.prev_centre, self.prev_roi_prob, self.prev_roi = centre, None, t
        self.init_roi, self.init_feats = t, feats
        self.trusted_area = float(mask.sum())

    def _features(self, frame: np.ndarray, t: CropTransform) -> tuple[torch.Tensor, dict]:
        """Stride-16 ROI features, and ``{"fine": stride-8 features}`` when the local model is fine
        (as keyword arguments, so a model without them is called exactly as before)."""
        self.patch = warp_crop(frame, t, self.pad)
        taps = trunk_taps(self.trunk, [self.patch])
        fine = {"fine": taps[FINE_STRIDE].to(self.device)} if self.net.local.fine else {}
        return taps[STRIDE].to(self.device), fine

    def _guided(self, roi_prob: np.ndarray) -> np.ndarray:
        """Edge-aware smoothing of the ROI probability map guided by the ROI image (``guided`` =
        (radius in ROI pixels, eps); radius 0 = off): the map is upsampled from a coarse grid, the
        image knows where the edges are."""
        radius, eps = self.guided
        if not radius:
            return roi_prob
        out = cv2.ximgproc.guidedFilter(self.patch.astype(np.float32) / 255, roi_prob.astype(np.float32),
                                        int(radius), float(eps))
        return np.clip(out, 0.0, 1.0)

    def _refresh_memory(self) -> None:
        """Replace a memory that has produced ``refresh`` masks past its warm-up (see the class doc)."""
        if not self.refresh or self.memory_age < self.replay + self.refresh:
            return
        state = self.fresh_state
        for feats, fine in self.history:
            state = self.net.local.advance(feats, state, **fine)
        self.local_state, self.memory_age = state, len(self.history)

    def _map(self, mask: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(map_of_mask(mask, MAP_SIZE))[None, None].to(self.device)

    @torch.no_grad()
    def step(self, frame: np.ndarray) -> StepOutput:
        H, W = self.size
        theta = theta_used = None
        if self.mode == "2stage":
            th, self.global_state = self.net.global_.step(self.prev_map, self.aspect, self.global_state)
            theta = th[0].cpu().numpy()
            theta_used = self.beta * theta + (1 - self.beta) * self.theta_old      # Algorithm 1, line 5
            self.theta_old = theta_used
            centre, side = roi_from_theta(theta_used, W, H)
            side = max(side, self.min_roi * self.fixed_side)
        else:
            c = weighted_centroid(self.prev_roi_prob, self.prev_roi) if self.prev_roi_prob is not None else None
            centre, side = (c if c is not None else self.prev_centre), self.fixed_side
        t = crop_square(centre, side, ROI_SIZE)
        feats, fine = self._features(frame, t)
        self._refresh_memory()
        logits, self.local_state = self.net.local.step(feats, self.local_state, **fine)
        self.memory_age += 1
        self.history.append((feats, fine))
        roi_prob = self._guided(torch.sigmoid(logits)[0, 0].cpu().numpy())
        prob = paste_roi(roi_prob, t, H, W)
        mask = prob > self.threshold
        area = float(mask.sum())
        if not self.collapse or (area > 0 and area >= self.collapse * self.trusted_area):
            self.trusted_area = area
            self.prev_map = self._map(mask)
            self.prev_centre, self.prev_roi_prob, self.prev_roi = centre, roi_prob, t
        else:       # collapsed: report it, but steer with the last trusted map
            self.trusted_area *= self.COLLAPSE_DECAY
        return StepOutput(t, roi_prob, prob, mask, theta, theta_used, feats)

    def attention_map(self, theta: np.ndarray) -> np.ndarray:
        """The transformed anchor T(theta)(Z_A) on the global model's map (stretched over the frame)."""
        th = torch.as_tensor(theta, dtype=torch.float32)
        return render_anchor(th, self.aspect.cpu()[0], MAP_SIZE).numpy()
