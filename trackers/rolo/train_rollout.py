"""Closed-loop training of the coordinate LSTM through long detector gaps (occlusions).

The window training (:func:`train_lstm.sample_windows`) feeds the LSTM a
*noisy true* previous box.  In a real occlusion, once the detector stops
firing, the previous box is the LSTM's *own* last output, frame after frame,
and a model trained only on noisy truth learns to damp the motion it sees:
measured, the shipped LSTM extrapolated for 2-3 frames behind a wall and
then stood still (IoU 0.49 -> 0 over a 14-frame gap).

Here a batch of rollouts is run exactly the way :class:`core.RoloCore`
tracks, from one given previous box: ``step`` frames with (augmented)
detections, then a gap of 5-15 frames with none; every frame re-runs the
LSTM over the last ``step`` frames from a zero state and its output becomes
the next frame's previous box.  The loss is the MSE (Eq. 4) of every output
against the true box, back-propagated through the whole rollout, so the LSTM
learns on its own outputs (as it tracks) and to carry the track through a gap.

Where a segment has a real gap (the detector missed for several frames,
e.g. the target behind the wall of a :mod:`wall_clips` clip) a rollout is
aligned with it half of the time; otherwise the gap is simulated by dropping
the detections.  In half of the rollouts the gap frames' detector-response
part of the frame vector is zeroed, as when the target is hidden: a
simulated miss on a frame where the target is visible must not teach the
LSTM to read the target's place off the response map only.
"""
from __future__ import annotations

import numpy as np
import torch

from .detector import FRAME_VECTOR_DIM, RESPONSE_GRID
from .lstm import OFFSET_SCALE, RoloLSTM, location_input
from .motion import MOTION_DIM, MOTION_SPAN, fit_motion
from .train_lstm import Segment, augmented_window, pick_segment, stack_windows

SCALED_ERROR_CAP = 4.0   # squared error in box sizes: beyond ~2 box sizes off, the IoU is 0 anyway
MIN_SCALE = 0.02         # box sizes below 2 % of the frame count as 2 % (no blow-up on tiny boxes)
RESPONSE_DIMS = slice(FRAME_VECTOR_DIM - RESPONSE_GRID ** 2, FRAME_VECTOR_DIM)


def real_gaps(seg: Segment, min_length: int = 3) -> list[tuple[int, int]]:
    """``[start, end)`` runs of frames where the target is there but no detection was assigned."""
    missed = ~np.isfinite(seg.det).all(1) & np.isfinite(seg.gt).all(1)
    runs, start = [], None
    for t, m in enumerate(np.append(missed, False)):
        if m and start is None:
            start = t
        elif not m and start is not None:
            if t - start >= min_length:
                runs.append((start, t))
            start = None
    return runs


def sample_rollouts(segments: list[Segment], rng: np.random.Generator, batch: int, step: int,
                    gap_range: tuple[int, int] = (5, 15), prev_noise: float = 0.1, simulated_gaps: bool = True,
                    assignable_wrong: bool = False, hide_response: bool = True):
    """History (``step`` frames with detections, as :func:`train_lstm.stack_windows`), the gap's
    frame vectors ``(B, G, F)``, true boxes ``(B, G, 4)`` and mask ``(B, G)``, and the gap's
    detections ``(det (B, G, 4), has (B, G), conf (B, G))``.  ``step`` here is the length of the
    tracked history before the gap, not the LSTM's window.

    ``simulated_gaps`` False: the "gap" frames keep the detections the detector really made, so the
    LSTM carries a track only where the detector really missed (a wall, a real occlusion) and never
    through frames where the target was in plain view.  Why: on the real sequences' simulated gaps
    standing still beats extrapolating the fitted velocity (session 6, measured), which taught the
    LSTM to damp the motion behind a wall too.

    ``hide_response`` False: a simulated gap keeps the detector's response grid (by default it is zeroed
    in half of them, as when the target is hidden), so the LSTM can tell a dropped detection of a
    visible target from a target that is really gone."""
    gap = int(rng.integers(gap_range[0], gap_range[1] + 1))
    history, gap_feats, gap_gt, gap_mask, gap_dets = [], [], [], [], []
    for _ in range(batch):
        seg = pick_segment(segments, rng)
        n = len(seg.gt)
        real = real_gaps(seg)
        if real and rng.random() < 0.5:
            start = real[int(rng.integers(len(real)))][0]
            s = int(np.clip(start - step, 1, max(1, n - step - gap)))
        else:
            s = int(rng.integers(1, max(2, n - step - gap + 1)))
        history.append(augmented_window(seg, s, step, rng, max_burst=2, prev_noise=prev_noise,
                                        assignable_wrong=assignable_wrong))
        idx = np.clip(np.arange(s + step, s + step + gap), 0, n - 1)
        feats = seg.vectors[idx].clone()
        if simulated_gaps and hide_response and rng.random() < 0.5:  # as when the target is hidden
            feats[:, RESPONSE_DIMS] = 0.0
        gt = seg.gt[idx]
        valid = np.isfinite(gt).all(1) & (np.arange(s + step, s + step + gap) < n)
        gap_feats.append(feats)
        gap_gt.append(torch.from_numpy(np.nan_to_num(gt)).float())
        gap_mask.append(torch.from_numpy(valid))
        det = seg.det[idx] if not simulated_gaps else np.full((gap, 4), np.nan)
        has = np.isfinite(det).all(1) & (np.arange(s + step, s + step + gap) < n)
        gap_dets.append((torch.from_numpy(np.where(has[:, None], det, 0.0)).float(),
                         torch.from_numpy(has.astype(np.float32)),
                         torch.from_numpy((seg.conf[idx] * has).astype(np.float32))))
    dets = tuple(torch.stack(part) for part in zip(*gap_dets))
    return stack_windows(history, step), torch.stack(gap_feats), torch.stack(gap_gt), torch.stack(gap_mask), dets


def rollout_outputs(model: RoloLSTM, history, gap_feats: torch.Tensor, step: int, gap_dets=None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Track the history frames and then the gap exactly as :class:`core.RoloCore` does: every frame
    re-runs the LSTM over the last ``step`` frames and its output is the next frame's previous box.

    Only the first previous box is given (the noisy true box before the history); the history
    frames have their (augmented) detections, the gap frames ``gap_dets`` (default: none).  Returns the outputs over the
    history ``(B, H, 4)`` and over the gap ``(B, G, 4)``, and every frame's correction of the LSTM to
    its anchor ``(B, H + G, 4)``."""
    feats, prev, _, _, det, has, conf = history
    length, batch = feats.shape[1], feats.shape[0]
    gap = gap_feats.shape[1]
    if gap_dets is None:  # no detection in the gap
        gap_dets = (torch.zeros(batch, gap, 4), torch.zeros(batch, gap), torch.zeros(batch, gap))
    frames = [(feats[:, t], det[:, t], has[:, t], conf[:, t]) for t in range(length)]
    frames += [(gap_feats[:, g], *(part[:, g] for part in gap_dets)) for g in range(gap)]
    window, outs, corrections, last = [], [], [], prev[:, 0]
    # coast carry: the detections the velocity is fitted on, as RoloCore keeps them (the first
    # previous box stands for the box the tracker was started from)
    fitted, motion = [(prev[:, 0], torch.ones(batch))], torch.zeros(batch, MOTION_DIM)
    for f_t, det_t, has_t, conf_t in frames:
        fit = None
        if model.carry == "coast":
            fitted = (fitted + [(det_t, has_t)])[-MOTION_SPAN:]
            motion = fit = fit_motion(*(torch.stack(part, 1) for part in zip(*fitted)), motion, OFFSET_SCALE)
        loc = location_input(model.variant, det_t, has_t, conf_t, last, motion=fit)
        window = (window + [(f_t, loc, last)])[-step:]
        f, l, p = (torch.stack(part, 1) for part in zip(*window))
        out, correction = model(f, l, p, with_corrections=True)
        last = out[:, -1]
        outs.append(last)
        corrections.append(correction[:, -1])
    outs = torch.stack(outs, 1)
    return outs[:, :length], outs[:, length:], torch.stack(corrections, 1)


def frame_errors(out: torch.Tensor, target: torch.Tensor, scaled: bool) -> torch.Tensor:
    """``(..., 4)`` boxes -> ``(...)`` squared errors: in frame units (Eq. 4), or with ``scaled`` in units of
    the true box's width/height, capped at :data:`SCALED_ERROR_CAP` (see :func:`rollout_loss`)."""
    if not scaled:
        return ((out - target) ** 2).sum(-1)
    size = torch.cat([target[..., 2:], target[..., 2:]], -1).clamp(min=MIN_SCALE)
    return (((out - target) / size) ** 2).sum(-1).clamp(max=SCALED_ERROR_CAP)


def rollout_loss(model: RoloLSTM, step: int, history, gap_feats: torch.Tensor, gap_gt: torch.Tensor,
                 gap_mask: torch.Tensor, gap_dets=None, correction_penalty: float = 0.0,
                 scaled: bool = False) -> torch.Tensor:
    """Eq. 4 over every frame of the rollout (mean over frames with a true box).

    The history outputs are supervised too: they are the gap's first previous boxes, and
    unsupervised the LSTM learns to use them as a message to its next run (measured: it then
    lagged 4-13 px behind a detection it was given).

    ``correction_penalty`` adds that multiple of the mean squared correction the LSTM makes to
    its anchor (the detection, or the carried prediction): a prior that the anchor is right,
    which the LSTM overrides only where that pays on many clips.  Without it, the LSTM fitted
    to 48 wall clips carried through their gaps (mean IoU 0.53) and not through held-out ones
    (0.19), trailing exact detections by 20-25 px on the occlusion goal clip (session 5).

    ``scaled``: each coordinate's error in units of the true box's size (as IoU measures it), each
    frame's squared error capped at :data:`SCALED_ERROR_CAP` (a lost box: nothing left to learn).
    Why: in frame units the large, fast targets of the real sequences outweigh the small ones of
    the wall clips tenfold, and on those real sequences standing still beats any extrapolation; so
    the LSTM learned to damp the fitted velocity everywhere (session 6, measured: 60 % damping on
    the occlusion goal clip, where the velocity fitted on 10 detections is right)."""
    history_out, gap_out, corrections = rollout_outputs(model, history, gap_feats, step, gap_dets)
    out = torch.cat([history_out, gap_out], 1)
    err = frame_errors(out, torch.cat([history[2], gap_gt], 1), scaled)
    weight = torch.cat([history[3], gap_mask], 1).float()
    loss = (err * weight).sum() / weight.sum().clamp(min=1)
    if correction_penalty > 0:
        loss = loss + correction_penalty * (corrections ** 2).sum(-1).mean()
    return loss


def rollout_term(segments: list[Segment], step: int, batch: int, gap_range: tuple[int, int],
                 prev_noise: float = 0.1, history: int = 0, correction_penalty: float = 0.0, scaled: bool = False,
                 simulated_gaps: bool = True, assignable_wrong: bool = False, hide_response: bool = True):
    """An ``extra_loss`` for :func:`train_lstm.train_lstm`: one batch of gap rollouts per iteration,
    each tracking ``history`` frames (default: ``step``) with detections before the gap."""
    def term(model: RoloLSTM, rng: np.random.Generator) -> torch.Tensor:
        rollouts = sample_rollouts(segments, rng, batch, history or step, gap_range, prev_noise, simulated_gaps,
                                   assignable_wrong, hide_response)
        return rollout_loss(model, step, *rollouts, correction_penalty=correction_penalty, scaled=scaled)

    return term
