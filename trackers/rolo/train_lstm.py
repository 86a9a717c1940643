"""Training the LSTM (stage 2 of ``python -m trackers.rolo.train``) and its closed-loop validation.

Data: the trained detector is run once over every cached sequence (template
from the first frame, and for long sequences from a few later frames too),
and one candidate per frame is assigned to the target as in §II-B, with the
true box of the previous frame as the reference (a good tracker's history).

Windows of ``step`` frames are then drawn with augmentation so the LSTM
learns to use -- and to do without -- the detector:

* box noise on the assigned detection;
* dropouts: single missed frames and bursts of misses up to the whole window
  (the detector fails under occlusion, the LSTM must carry the track);
* now and then a wrong detection (the second candidate: a distractor);
* the "previous output" input is the previous true box plus noise that
  grows with the number of consecutive misses (the tracker drifts).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from .cache import fused
from .core import RoloCore
from .detector import FRAME_VECTOR_DIM, RESPONSE_GRID, TemplateDetector
from .geometry import cxcywh_to_xywh, iou_matrix
from .lstm import RoloLSTM, location_input, paint_heatmaps
from .train_detector import run_detector


@dataclass
class Segment:
    vectors: torch.Tensor   # (N, 256)
    gt: np.ndarray          # (N, 4) normalised, nan = absent
    det: np.ndarray         # (N, 4) assigned detection, nan = none
    conf: np.ndarray        # (N,)
    alt: np.ndarray         # (N, 4) best unassigned candidate (a distractor), nan = none


def _carry_forward(gt: np.ndarray) -> np.ndarray:
    out = gt.copy()
    for i in range(1, len(out)):
        if not np.all(np.isfinite(out[i])):
            out[i] = out[i - 1]
    return out


def prepare_segments(detector: TemplateDetector, data: dict, iou_min: float = 0.3,
                     starts_every: int = 300) -> list[Segment]:
    # wall clips also know the box behind the wall: the LSTM learns to put it there
    gt_all = data.get("amodal", data["boxes"]).numpy().astype(np.float64)
    segments = []
    valid = np.nonzero(np.isfinite(gt_all).all(1))[0]
    for start in [s for s in range(0, len(gt_all), starts_every) if s in set(valid)] or [int(valid[0])]:
        sub = {"f8": data["f8"][start:], "f16": data["f16"][start:], "boxes": data["boxes"][start:]}
        boxes, scores, vectors = run_detector(detector, sub)
        gt = gt_all[start:]
        reference = _carry_forward(gt)
        n = len(gt)
        det, alt = np.full((n, 4), np.nan), np.full((n, 4), np.nan)
        conf = np.zeros(n)
        for t in range(n):
            if len(boxes[t]) == 0:
                continue
            ref = reference[max(t - 1, 0)]
            ious = iou_matrix(cxcywh_to_xywh(ref[None]), cxcywh_to_xywh(boxes[t]))[0]
            best = int(np.argmax(ious))
            if ious[best] >= iou_min:
                det[t], conf[t] = boxes[t][best], scores[t][best]
            others = [k for k in range(len(boxes[t])) if k != best or ious[best] < iou_min]
            if others:
                alt[t] = boxes[t][others[0]]
        segments.append(Segment(vectors, gt, det, conf, alt))
    return segments


def mirror_segment(seg: Segment, axis: str) -> Segment:
    """The segment as if its frames were mirrored along ``axis`` ("x": left-right, "y": up-down).

    Boxes are mirrored exactly and so is the detector's response grid (the spatial part of the frame
    vector); the pooled trunk features are kept, as global average pooling hardly changes under a
    mirror.  Why: trained on one direction per look, the LSTM learned a clip's direction from its
    pooled features -- on the occlusion goal clip it pulled the box 7-10 px a frame *against* the
    motion, exact detections or not (session 6).  With every segment also seen mirrored, the pooled
    features no longer tell which way a target goes."""
    if axis not in ("x", "y"):
        raise ValueError(f"mirror axis must be 'x' or 'y', got {axis!r}")
    coord = 0 if axis == "x" else 1

    def flip(boxes: np.ndarray) -> np.ndarray:
        out = boxes.copy()
        out[:, coord] = 1.0 - out[:, coord]  # nan stays nan
        return out

    vectors = seg.vectors.clone()
    grid = vectors[:, FRAME_VECTOR_DIM - RESPONSE_GRID ** 2:].reshape(-1, RESPONSE_GRID, RESPONSE_GRID)
    vectors[:, FRAME_VECTOR_DIM - RESPONSE_GRID ** 2:] = grid.flip(-1 if axis == "x" else -2).flatten(1)
    return Segment(vectors, flip(seg.gt), flip(seg.det), seg.conf.copy(), flip(seg.alt))


def with_mirrors(segments: list[Segment], axes: str) -> list[Segment]:
    """``segments`` plus their mirrors along each axis in ``axes`` ("", "x", "y" or "xy": then also both)."""
    out = list(segments)
    for axis in axes:
        out += [mirror_segment(seg, axis) for seg in out]
    return out


def _plausible(alt: np.ndarray, reference: np.ndarray, iou_min: float = 0.3) -> np.ndarray:
    """``(N,)`` where a distractor box would pass the assignment gate around the reference box."""
    ok = np.isfinite(alt).all(1) & np.isfinite(reference).all(1)
    for t in np.nonzero(ok)[0]:
        ok[t] = iou_matrix(cxcywh_to_xywh(reference[t][None]), cxcywh_to_xywh(alt[t][None]))[0, 0] >= iou_min
    return ok


def augmented_window(seg: Segment, s: int, length: int, rng: np.random.Generator, max_burst: int,
                     prev_noise: float = 0.1, assignable_wrong: bool = False) -> dict:
    """Frames ``s .. s+length-1`` of a segment with augmented detections and a noisy 'previous output'."""
    n = len(seg.gt)
    idx = np.arange(s, min(s + length, n))
    gt = seg.gt[idx]
    known = _carry_forward(seg.gt[: s + len(idx)])[s - 1: s - 1 + len(idx)]  # previous true box
    det, conf, has = seg.det[idx].copy(), seg.conf[idx].copy(), np.isfinite(seg.det[idx]).all(1)
    drop = rng.random(len(idx)) < 0.1
    if rng.random() < 0.35:
        a = int(rng.integers(0, len(idx)))
        drop[a: a + int(rng.integers(min(2, max_burst), max_burst + 1))] = True
    # now and then a wrong detection: the best other candidate.  assignable_wrong: only one the tracker
    # could really be given (the assigner takes a candidate only where it overlaps its reference by
    # IoU_min).  Injected anywhere (the default, kept so run 4's command reproduces run 4), far-away
    # distractors wreck the coast carry's velocity fit: on the wall clips pure coasting then scores a
    # worse rollout loss than standing still (0.0217 vs 0.0149; 0.0035 with no distractor injected)
    wrong = (rng.random(len(idx)) < 0.03) & np.isfinite(seg.alt[idx]).all(1)
    if assignable_wrong:
        wrong &= _plausible(seg.alt[idx], known)
    det[wrong], conf[wrong], has = seg.alt[idx][wrong], conf[wrong] * 0.8, has | wrong
    has &= ~drop
    sz = np.where(has[:, None], det[:, 2:], 0.1)
    det[:, :2] += rng.normal(0, 0.04, (len(idx), 2)) * sz
    det[:, 2:] *= np.exp(rng.normal(0, 0.06, (len(idx), 2)))
    misses = np.zeros(len(idx))
    run = int(rng.integers(0, 4)) if rng.random() < 0.2 else 0  # the window may start inside a gap
    for t in range(len(idx)):
        misses[t] = run
        run = 0 if has[t] else run + 1
    noise = prev_noise * (1 + 0.5 * misses)[:, None]
    # a tracker's error drifts slowly (AR(1), rho 0.9): the motion of its outputs ~ the true motion
    unit = np.zeros((len(idx), 4))
    unit[0] = rng.normal(0, 1, 4)
    for t in range(1, len(idx)):
        unit[t] = 0.9 * unit[t - 1] + np.sqrt(1 - 0.81) * rng.normal(0, 1, 4)
    prev = known.copy()
    prev[:, :2] += unit[:, :2] * noise * known[:, 2:]
    prev[:, 2:] *= np.exp(unit[:, 2:] * noise)
    det = np.where(has[:, None], det, 0.0)
    return {"feats": seg.vectors[idx], "prev": torch.from_numpy(prev).float(),
            "det": torch.from_numpy(det).float(), "has": torch.from_numpy(has.astype(np.float32)),
            "conf": torch.from_numpy(conf.astype(np.float32)), "gt": torch.from_numpy(np.nan_to_num(gt)).float(),
            "mask": torch.from_numpy(np.isfinite(gt).all(1))}


def pick_segment(segments: list[Segment], rng: np.random.Generator) -> Segment:
    weights = np.array([math.sqrt(len(s.gt)) for s in segments])
    return segments[rng.choice(len(segments), p=weights / weights.sum())]


def sample_windows(segments: list[Segment], rng: np.random.Generator, batch: int, step: int, variant: str,
                   prev_noise: float = 0.1):
    windows = []
    for _ in range(batch):
        seg = pick_segment(segments, rng)
        s = int(rng.integers(1, max(2, len(seg.gt) - step + 1)))
        windows.append(augmented_window(seg, s, step, rng, max_burst=step, prev_noise=prev_noise))
    f, p, tgt, m, det, has, conf = stack_windows(windows, step)
    return f, location_input(variant, det, has, conf, p), p, tgt, m


def stack_windows(windows: list[dict], length: int):
    """Batch windows; windows near a sequence end are shorter: pad by repeating (masked out of the loss)."""
    def stack(key):
        xs = [w[key] for w in windows]
        if key == "mask":
            return torch.stack([torch.cat([x, torch.zeros(length - len(x), dtype=torch.bool)]) for x in xs])
        return torch.stack([torch.cat([x, x[-1:].expand(length - len(x), *x.shape[1:])]) for x in xs])

    return tuple(stack(k) for k in ("feats", "prev", "gt", "mask", "det", "has", "conf"))


def lstm_loss(model: RoloLSTM, out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 4 (coordinates) or Eq. 5 (heatmap) MSE; the window's last step counts double."""
    if model.variant == "heatmap":
        target = paint_heatmaps(target, model.heatmap_size)
    err = ((out - target) ** 2).sum(-1)
    weight = mask.float()
    weight[:, -1] *= 2.0
    return (err * weight).sum() / weight.sum().clamp(min=1)


def train_lstm(segments: list[Segment], variant: str, step: int, steps: int, seed: int, batch: int = 32,
               lr: float = 3e-3, prev_noise: float = 0.1, log=print, extra_loss=None, carry: str = "hold",
               feature_dropout: float = 0.0, window_weight: float = 1.0, innovation: bool = False,
               blind_gaps: bool = False, visual: str = "all") -> RoloLSTM:
    """``extra_loss(model, rng)``, if given, is added to every iteration's loss (e.g. the
    closed-loop gap rollouts of :mod:`train_rollout`); ``window_weight`` 0 drops the windows
    with a noisy true previous box (teacher forcing) altogether."""
    if carry == "coast" and variant == "coords" and window_weight > 0:
        # the fitted motion needs the detections before the window, which a window does not have
        raise ValueError("carry 'coast' trains on closed-loop rollouts only: use --window-weight 0 "
                         "with --rollout-batch > 0")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = RoloLSTM(variant, feature_dim=segments[0].vectors.shape[1], hidden=128,
                     carry=carry if variant == "coords" else "hold", feature_dropout=feature_dropout,
                     innovation=innovation and variant == "coords", blind_gaps=blind_gaps,
                     visual=visual)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start, running = time.perf_counter(), 0.0
    for it in range(steps):
        loss = torch.zeros(())
        if window_weight > 0:
            f, loc, prev, tgt, mask = sample_windows(segments, rng, batch, step, variant, prev_noise)
            loss = window_weight * lstm_loss(model, model(f, loc, prev), tgt, mask)
        if extra_loss is not None:
            loss = loss + extra_loss(model, rng)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running = 0.98 * running + 0.02 * loss.item() if it else loss.item()
        if it % 250 == 0 or it == steps - 1:
            log(f"lstm[{variant}, step {step}] iter {it}/{steps} loss {running:.5f} "
                f"({time.perf_counter() - start:.0f}s)")
    return model.eval()


def closed_loop(core: RoloCore, data: dict) -> np.ndarray:
    """Track a cached sequence from its first box with the real per-frame loop; IoU per frame (nan = absent).

    Wall clips are scored against the full box, also behind the wall."""
    gt = data.get("amodal", data["boxes"]).numpy().astype(np.float64)
    core.start(fused(data, slice(0, 1)), gt[0])
    ious = np.full(len(gt), np.nan)
    for t in range(1, len(gt)):
        result = core.update(fused(data, slice(t, t + 1)))
        if np.all(np.isfinite(gt[t])):
            ious[t] = iou_matrix(cxcywh_to_xywh(gt[t][None]), cxcywh_to_xywh(result.nbox[None]))[0, 0]
    return ious


def gap_carry(ious_by_clip: dict[str, np.ndarray], data: dict[str, dict]) -> dict:
    """IoU with the full box on the frames where the target is hidden (no visible box): mean and minimum."""
    hidden = np.concatenate([ious[~np.isfinite(data[n]["boxes"].numpy()).all(1) & np.isfinite(ious)]
                             for n, ious in ious_by_clip.items()])
    return {"frames": int(len(hidden)), "mean_iou": round(float(hidden.mean()), 3),
            "min_iou": round(float(hidden.min()), 3), "share_ge_0.3": round(float((hidden >= 0.3).mean()), 3)}


def load_or_prepare_segments(path: str, detector: TemplateDetector, data: dict[str, dict]) -> list[Segment]:
    """:func:`prepare_segments` for every sequence, kept in ``path`` (if given) for the next run.

    The file is only valid for the same detector and cache; delete it when either changes."""
    if path and os.path.exists(path):
        # plain tensors only (weights_only=True): no file the project reads is unpickled as code
        stored = torch.load(path, weights_only=True)
        if sorted(stored) == sorted(data):
            return [Segment(s["vectors"], *(s[k].numpy() for k in ("gt", "det", "conf", "alt")))
                    for n in sorted(stored) for s in stored[n]]
    segments = {n: prepare_segments(detector, data[n]) for n in sorted(data)}
    if path:
        torch.save({n: [{"vectors": s.vectors, **{k: torch.from_numpy(np.asarray(getattr(s, k)))
                                                     for k in ("gt", "det", "conf", "alt")}}
                        for s in segs] for n, segs in segments.items()}, path)
    return [seg for n in sorted(segments) for seg in segments[n]]


def summarize(ious_by_seq: dict[str, np.ndarray]) -> dict:
    """AO (mean IoU over present frames) and success AUC over all frames pooled, plus per sequence AO."""
    pooled = np.concatenate([v[1:][np.isfinite(v[1:])] for v in ious_by_seq.values()])
    thresholds = np.linspace(0, 1, 21)
    auc = float(np.mean([(pooled > t).mean() for t in thresholds]))
    return {"AO": float(pooled.mean()), "AUC": auc, "SR50": float((pooled >= 0.5).mean()),
            "per_sequence_AO": {k: round(float(np.nanmean(v[1:])), 3) for k, v in ious_by_seq.items()}}
