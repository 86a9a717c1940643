"""What the training data rewards in a detector gap: hold the box, or coast on the fitted velocity?

``python -m trackers.rolo.gap_policy SEGMENTS [--gate 0.5]`` reads the LSTM
training segments the training script keeps (``--segments-cache``) and, for
every gap, moves the last detection on by ``k`` times the velocity fitted
(least squares) on the detections before the gap: ``k = 0`` holds the box,
``k = 1`` is constant-velocity coasting.  It prints the mean scaled rollout
error (:func:`train_rollout.frame_errors` with ``scaled``: squared centre
error in box sizes, capped) per ``k`` and fit span, for three kinds of gap:

``wall``       the wall clips' real gaps (the target is behind the wall);
``real``       the real sequences' real gaps (the detector missed);
``simulated``  gaps cut into the real sequences while the target is in view
               (the rollouts' simulated gaps).

Why it exists: no LSTM trained here carries the occlusion goal clip reliably
(``PROVENANCE.md``, session 8), and this shows the data's side of it.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from .gate import gate_sequence
from .train_lstm import Segment
from .train_rollout import real_gaps, frame_errors

GAINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SPANS = (5, 10, 20, 30)
MAX_GAP = 15


def fitted_velocity(det: np.ndarray, has: np.ndarray, end: int, span: int) -> np.ndarray | None:
    """Least-squares velocity of the detection centres over frames ``end - span + 1 .. end`` (None: < 3)."""
    idx = [t for t in range(max(0, end - span + 1), end + 1) if has[t]]
    if len(idx) < 3:
        return None
    t = np.array(idx, float)
    design = np.stack([t, np.ones_like(t)], 1)
    return np.linalg.lstsq(design, det[idx, :2], rcond=None)[0][0]


def centre_error(centre: np.ndarray, truth: np.ndarray) -> float:
    """The rollouts' scaled error (:func:`train_rollout.frame_errors`) of a box at ``centre`` with the true size."""
    box = torch.tensor([*centre, *truth[2:]], dtype=torch.float64)
    return float(frame_errors(box, torch.as_tensor(truth, dtype=torch.float64), scaled=True))


def gaps_after_detection(seg: Segment) -> list[tuple[int, int]]:
    """The segment's real gaps (:func:`train_rollout.real_gaps`) that follow a detected frame, cut to
    :data:`MAX_GAP` frames."""
    has = np.isfinite(seg.det).all(1)
    return [(s, min(e, s + MAX_GAP)) for s, e in real_gaps(seg) if has[s - 1]]


def gap_errors(segments: dict, gate: float, seed: int = 0) -> dict:
    """``{(kind, span, gain): [per-frame errors]}`` over every gap of every segment."""
    rng = np.random.default_rng(seed)
    errors: dict = {}
    for name, parts in segments.items():
        if "synthetic" in name and "wall" not in name:
            continue
        for part in parts:
            gt, det, conf, alt = (part[k].numpy().astype(np.float64) for k in ("gt", "det", "conf", "alt"))
            det = gate_sequence(det, conf, gate)
            seg = Segment(part["vectors"], gt, det, conf, alt)
            has, present = np.isfinite(det).all(1), np.isfinite(gt).all(1)
            cases = [("wall" if "wall" in name else "real", s, e, has) for s, e in gaps_after_detection(seg)]
            if "wall" not in name:
                for _ in range(10):
                    length = int(rng.integers(5, MAX_GAP + 1))
                    s = int(rng.integers(31, max(32, len(gt) - length)))
                    if s + length <= len(gt) and has[s - 1]:
                        cut = has.copy()
                        cut[s:s + length] = False
                        cases.append(("simulated", s, s + length, cut))
            for kind, s, e, h in cases:
                for span in SPANS:
                    v = fitted_velocity(det, h, s - 1, span)
                    if v is None:
                        continue
                    for k in GAINS:
                        errors.setdefault((kind, span, k), []).extend(
                            centre_error(det[s - 1, :2] + k * v * (j - s + 1), gt[j]) for j in range(s, e) if present[j])
    return errors


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("segments", help="the training script's --segments-cache file")
    p.add_argument("--gate", type=float, default=0.5, help="confidence gate ratio applied to the detections")
    args = p.parse_args(argv)
    errors = gap_errors(torch.load(args.segments, weights_only=True), args.gate)
    for kind in ("wall", "real", "simulated"):
        frames = len(errors.get((kind, 10, 0.0), []))
        print(f"{kind} gaps ({frames} frames at span 10): mean scaled error per gain k")
        for span in SPANS:
            cells = "  ".join(f"k {k:.1f}: {np.mean(errors[(kind, span, k)]):.3f}" for k in GAINS
                              if errors.get((kind, span, k)))
            print(f"  span {span:2d}  {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
