"""ROLO's tracking module: an LSTM over (frame feature vector, detection location).

Paper §III-B/C: at every time step the LSTM gets the frame's visual feature
vector ``X_t`` concatenated with the detection ``B_t``; it runs over the last
``step`` frames (the *step size*, 6 by default, Fig. 6) and its last output is
the tracked location.  Two variants:

``coords``   output ``(cx, cy, w, h)`` in ``[0, 1]`` of the frame, MSE (Eq. 4).
``heatmap``  input and output a 32x32 heatmap of the whole frame (1024-vector,
             the box painted as 1s), MSE (Eq. 5).

Two changes from the paper, both so the LSTM can carry a track through an
occlusion longer than its window and learn from a few thousand frames:

* the location input also carries the tracker's *previous output* (when the
  detector misses, the heatmap input is the previous output painted, and a
  ``has_detection`` flag says so) -- otherwise after ``step`` frames without a
  detection the window would hold no location at all;
* outputs are residual: coordinates are ``anchor + delta`` where the anchor
  is the detection when there is one and the previous output otherwise; the
  heatmap's logits add a learned multiple of the input heatmap (itself the
  detection, or the previous output, painted).  The network still regresses
  the location; it just does not have to relearn the identity, and it cannot
  lag behind a detection it was given (a first version anchored on the
  previous output only and trailed the target further every frame).
"""
from __future__ import annotations

import torch
from torch import nn

from .detector import RESPONSE_GRID
from .geometry import HEATMAP_SIZE

VARIANTS = ("coords", "heatmap")
CARRY_MODES = ("hold", "velocity", "predict", "filter", "coast")
VISUAL_INPUTS = ("all", "response", "none")
# offsets between boxes are a few hundredths of the frame; scale them to O(1)
OFFSET_SCALE = 10.0


def location_dim(variant: str, heatmap_size: int = HEATMAP_SIZE) -> int:
    if variant == "coords":
        return 2 + 4 + 2          # previous size, detection - previous, flag, confidence (+4 motion, added in forward)
    if variant == "heatmap":
        return heatmap_size ** 2 + 2  # painted detection (or previous output), flag, confidence
    raise ValueError(f"unknown ROLO variant {variant!r}; use one of {VARIANTS}")


def paint_heatmaps(nboxes: torch.Tensor, size: int = HEATMAP_SIZE) -> torch.Tensor:
    """Batched :func:`geometry.box_to_heatmap`: ``(..., 4)`` -> ``(..., size*size)``."""
    edges = torch.arange(size + 1, dtype=nboxes.dtype, device=nboxes.device)

    def cover(lo, hi):
        return (torch.minimum(edges[1:], hi[..., None]) - torch.maximum(edges[:-1], lo[..., None])).clamp(0, 1)

    cx, cy, w, h = nboxes.unbind(-1)
    cov_x = cover((cx - w / 2) * size, (cx + w / 2) * size)
    cov_y = cover((cy - h / 2) * size, (cy + h / 2) * size)
    return (cov_y[..., :, None] * cov_x[..., None, :]).flatten(-2)


def location_input(variant: str, det: torch.Tensor, has_det: torch.Tensor, det_conf: torch.Tensor,
                   prev: torch.Tensor, heatmap_size: int = HEATMAP_SIZE, motion: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """The location half of the LSTM input, for training and tracking alike.

    ``det``, ``prev``: ``(..., 4)`` normalised boxes (``det`` is ignored where
    ``has_det`` is 0); ``has_det``, ``det_conf``: ``(...)``; ``motion``
    ``(..., 4)``: the ``coast`` carry's fitted motion (:func:`motion.fit_motion`),
    appended where the other carry modes append the motion of the previous outputs.
    """
    flag = has_det.to(det.dtype)
    conf = det_conf.to(det.dtype) * flag
    if variant == "coords":
        # no absolute position: with ~20 training videos the LSTM otherwise learns where
        # targets "usually" are and pulls the box there (measured: a -0.2 jump on a new clip)
        offset = (det - prev) * flag[..., None] * OFFSET_SCALE
        parts = [prev[..., 2:], offset, flag[..., None], conf[..., None]]
        return torch.cat(parts + ([motion] if motion is not None else []), -1)
    if variant == "heatmap":
        painted = torch.where(flag[..., None] > 0, det, prev)
        return torch.cat([paint_heatmaps(painted, heatmap_size), flag[..., None], conf[..., None]], -1)
    raise ValueError(f"unknown ROLO variant {variant!r}; use one of {VARIANTS}")


class RoloLSTM(nn.Module):
    """``forward(features (B,T,F), locations (B,T,L), prev (B,T,4))`` -> outputs ``(B,T,4|S*S)``.

    Each call starts from a zero state (the paper's window of ``step``
    frames); :meth:`step` exposes the per-frame recurrence for callers that
    carry the state themselves.
    """

    def __init__(self, variant: str = "coords", feature_dim: int = 256, hidden: int = 128,
                 feature_embed: int = 64, heatmap_size: int = HEATMAP_SIZE, carry: str = "hold",
                 feature_dropout: float = 0.0, innovation: bool = False, blind_gaps: bool = False,
                 visual: str = "all") -> None:
        super().__init__()
        if carry not in CARRY_MODES:
            raise ValueError(f"unknown carry mode {carry!r}; use one of {CARRY_MODES}")
        self.variant, self.feature_dim, self.hidden = variant, feature_dim, hidden
        self.feature_embed, self.heatmap_size = feature_embed, heatmap_size
        self.carry, self.feature_dropout, self.innovation = carry, feature_dropout, innovation
        # blind_gaps: no visual input on frames without an assigned detection.  Trained with it, the
        # LSTM read places off the frame: on the occlusion goal clip its box walked back towards a
        # look-alike the detector responded to behind the wall (measured, session 5), and it carried
        # through gaps of the 48 training wall clips (mean IoU 0.46) but not of held-out ones (0.20)
        self.blind_gaps = blind_gaps
        # visual: which part of the frame vector the LSTM sees -- "all" (pooled trunk features + the
        # detector's response grid), "response" (the grid only) or "none".  The pooled features let
        # the LSTM recognise a clip and recall where its target went: on the occlusion goal clip they
        # alone pulled the box 4 px a frame behind the target, with or without a detection (session 5)
        if visual not in VISUAL_INPUTS:
            raise ValueError(f"unknown visual input {visual!r}; use one of {VISUAL_INPUTS}")
        self.visual = visual
        keep = torch.ones(feature_dim)
        if visual == "none":
            keep.zero_()
        elif visual == "response":
            keep[: feature_dim - RESPONSE_GRID ** 2] = 0
        self.register_buffer("visual_keep", keep, persistent=False)
        # the coordinate LSTM also sees the motion of its previous outputs (the location history)
        # (and optionally the detection's offset from where that motion predicts the target)
        loc = location_dim(variant, heatmap_size) + ((8 if innovation else 4) if variant == "coords" else 0)
        # the paper feeds 4096 raw features; a learned reduction keeps the LSTM small
        # (training only) dropout on the visual features: with ~30 training clips the LSTM may read
        # positions off the frame's look (an earlier run trailed exact detections by 6-15 px on a new
        # clip, and by 0-4 px with its visual input zeroed)
        self.feature_drop = nn.Dropout(feature_dropout)
        self.embed = nn.Sequential(nn.Linear(feature_dim, feature_embed), nn.ReLU())
        self.cell = nn.LSTMCell(feature_embed + loc, hidden)
        if variant == "coords":
            self.head = nn.Linear(hidden, 4)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        else:
            self.head = nn.Linear(hidden, heatmap_size ** 2)
            nn.init.normal_(self.head.weight, std=1e-3)
            nn.init.constant_(self.head.bias, 0.0)
            # logit gain on the input heatmap (residual path)
            self.skip_gain = nn.Parameter(torch.tensor(4.0))

    def config(self) -> dict:
        return {"variant": self.variant, "feature_dim": self.feature_dim, "hidden": self.hidden,
                "feature_embed": self.feature_embed, "heatmap_size": self.heatmap_size, "carry": self.carry,
                "feature_dropout": self.feature_dropout, "innovation": self.innovation,
                "blind_gaps": self.blind_gaps, "visual": self.visual}

    def zero_state(self, batch: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(batch, self.hidden, device=device)
        return z, z.clone()

    def step(self, features: torch.Tensor, location: torch.Tensor, prev: torch.Tensor,
             state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One time step: ``(B,F)``, ``(B,L)``, ``(B,4)`` -> output, new state."""
        out, _, state = self._advance(features, location, prev, state)
        return out, state

    def _advance(self, features, location, prev, state):
        """One time step -> output, correction to the anchor (coordinates; else None), new state."""
        features = features * self.visual_keep
        if self.blind_gaps:
            # the location input's detection flag (both variants keep it right after the painted/offset part)
            flag_at = 6 if self.variant == "coords" else self.heatmap_size ** 2
            features = features * location[..., flag_at: flag_at + 1]
        x = torch.cat([self.embed(self.feature_drop(features)), location], -1)
        h, c = self.cell(x, state)
        out, correction = self._output(h, location, prev)
        return out, correction, (h, c)

    def _output(self, h: torch.Tensor, location: torch.Tensor, prev: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The output and (coordinates only) the LSTM's correction to its anchor."""
        if self.variant == "coords":
            # anchor on the detection when there is one (prev + its offset), else on the previous
            # output ("hold") or on the previous output moved on by its last motion ("velocity")
            flag = location[..., 6:7]
            anchor = prev + location[..., 2:6] / OFFSET_SCALE * flag
            # the motion input (last step's, the window's mean for predict/filter, the detections' fitted
            # velocity for coast), centre only
            motion = location[..., 8:10] / OFFSET_SCALE
            shift = torch.cat([motion, torch.zeros_like(motion)], -1)
            if self.carry == "filter":
                # always anchored on the prediction (previous output + the window's mean motion), like a
                # Kalman filter's predict step; the LSTM learns how far to move towards the detection
                anchor = prev + shift
            elif self.carry == "predict":
                # offsets were taken from the prediction (see with_motion): anchor on it, or on the detection
                anchor = anchor + shift
            elif self.carry in ("velocity", "coast"):
                anchor = anchor + shift * (1 - flag)
            # a bounded step (at most 0.1 of the frame per frame) keeps one bad output from derailing it
            correction = 0.1 * torch.tanh(self.head(h))
            out = anchor + correction
            # centre anywhere in the frame (and a little outside), size positive
            return torch.cat([out[..., :2].clamp(-0.25, 1.25), out[..., 2:].clamp(1e-3, 1.5)], -1), correction
        heat_in = location[..., : self.heatmap_size ** 2]
        return torch.sigmoid(self.head(h) + self.skip_gain * (2.0 * heat_in - 1.0)), None

    def with_motion(self, locations: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """Coordinates: append each step's motion of the previous output (0 at the window's start)
        and, with ``innovation``, the detection's offset from ``previous + motion`` (0 without one):
        an LSTM that hedges between the detection and the previous box trails a moving target,
        one that hedges towards the predicted place does not."""
        if self.variant != "coords" or self.carry == "coast":
            return locations  # coast: the fitted motion is already part of the location input
        motion = torch.zeros_like(prev)
        if self.carry in ("predict", "filter"):
            # the window's mean motion (prev_t - prev_0) / t, not the last step's: one frame's motion of
            # the tracker's own outputs is mostly jitter on real video, and an LSTM trained on it learns to
            # cancel it, which stops the box behind an occluder (measured: it even reversed).  The location
            # offset becomes the detection's offset from the predicted place prev + velocity, so hedging
            # between detection and reference no longer makes the box trail a moving target.
            steps = torch.arange(1, prev.shape[1], device=prev.device, dtype=prev.dtype)[None, :, None]
            motion[:, 1:] = (prev[:, 1:] - prev[:, :1]) / steps * OFFSET_SCALE
            flag = locations[..., 6:7]
            centre = torch.cat([motion[..., :2], torch.zeros_like(motion[..., 2:])], -1)
            locations = torch.cat([locations[..., :2], locations[..., 2:6] - centre * flag, locations[..., 6:]], -1)
        else:
            motion[:, 1:] = (prev[:, 1:] - prev[:, :-1]) * OFFSET_SCALE
        parts = [locations, motion]
        if self.innovation:
            parts.append((locations[..., 2:6] - motion) * locations[..., 6:7])
        return torch.cat(parts, -1)

    def forward(self, features: torch.Tensor, locations: torch.Tensor, prev: torch.Tensor,
                with_corrections: bool = False):
        """Outputs ``(B,T,4|S*S)``; with ``with_corrections`` (coordinates) also each step's correction of
        the LSTM to its anchor ``(B,T,4)``, for training's correction penalty (train_rollout.py)."""
        batch, steps = features.shape[:2]
        state = self.zero_state(batch, features.device)
        locations = self.with_motion(locations, prev)
        outs, corrections = [], []
        for t in range(steps):
            out, correction, state = self._advance(features[:, t], locations[:, t], prev[:, t], state)
            outs.append(out)
            corrections.append(correction)
        if not with_corrections:
            return torch.stack(outs, 1)
        if self.variant != "coords":
            raise ValueError("only the coordinate LSTM corrects an anchor")
        return torch.stack(outs, 1), torch.stack(corrections, 1)
