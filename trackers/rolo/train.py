"""Train ROLO here: ``python -m trackers.rolo.train --data /work/shared/data/dev --out resources/weights/rolo``.

Stages (all seeded; CPU, one thread):

0. cache stride-8/16 backbone features of the first ``--max-frames`` frames of
   every sequence + synthetic clips (``--cache``, outside the repository;
   skipped when already there);
1. train the detection head on the training sequences;
2. run it over all sequences, build LSTM windows, train the LSTM variant(s);
3. closed-loop validation on the held-out sequences (cached frames only; the
   tracker's own per-frame loop on cached features) -> AO / AUC / SR50 per
   variant and for the step-size study (``--study-steps``), written to
   ``train_report.json``.

Weights: ``rolo_<variant>.pt`` = ``{"config", "detector", "lstm"}`` state dicts.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np
import torch

from ..eval.dataset import sequence_names
from . import cache
from .core import RoloCore
from .gate import gate_sequence
from .train_detector import detection_quality, run_detector, train_detector
from .train_lstm import closed_loop, gap_carry, load_or_prepare_segments, summarize, train_lstm, with_mirrors
from .train_rollout import rollout_term
from .weights import load_detector, save_weights

DEFAULT_VAL = ["vot2014-car", "vot2014-jogging", "vot2014-skating", "vot2014-woman"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/work/shared/data/dev", help="GOT-10k-style folder of training sequences")
    p.add_argument("--val", default=",".join(DEFAULT_VAL), help="held-out sequences (comma separated)")
    p.add_argument("--synthetic", type=int, default=16, help="synthetic clips added to the training set")
    p.add_argument("--max-frames", type=int, default=300, help="frames cached (and used) per dev sequence")
    p.add_argument("--cache", default=cache.DEFAULT_CACHE)
    p.add_argument("--long-side", type=int, default=352)
    p.add_argument("--out", default="resources/weights/rolo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detector-steps", type=int, default=800)
    p.add_argument("--detector-batch", type=int, default=8)
    p.add_argument("--lstm-steps", type=int, default=1500)
    p.add_argument("--variants", default="coords,heatmap")
    p.add_argument("--prev-noise", type=float, default=0.1,
                   help="noise on the 'previous output' input, in box sizes (the tracker's own error)")
    p.add_argument("--step", type=int, default=6, help="LSTM step size (window length) of the shipped weights")
    p.add_argument("--study-steps", default="", help="extra step sizes for the Fig. 6 study, e.g. 1,3,10")
    p.add_argument("--detector", default="", help="reuse the detector head of this rolo_*.pt (skips stage 1)")
    p.add_argument("--wall-clips", type=int, default=0,
                   help="constant-velocity clips behind a static wall added to the training set (wall_clips.py)")
    p.add_argument("--val-walls", type=int, default=0,
                   help="held-out wall clips (other seeds) on which the carry through the hidden spell is measured")
    p.add_argument("--rollout-batch", type=int, default=0,
                   help="coords: closed-loop gap rollouts per iteration (train_rollout.py); 0 = none")
    p.add_argument("--rollout-gap", default="5,15", help="gap lengths of the rollouts, min,max frames")
    p.add_argument("--rollout-history", type=int, default=0,
                   help="frames tracked with detections before a rollout's gap (default: the step size)")
    p.add_argument("--window-weight", type=float, default=1.0,
                   help="weight of the teacher-forced windows (noisy true previous box); 0 = rollouts only")
    p.add_argument("--carry", default="hold", choices=("hold", "velocity", "predict", "filter", "coast"),
                   help="coords: without a detection, anchor on the previous output (hold), on it moved by "
                        "its last motion (velocity), or on it moved by the window's mean motion, with the "
                        "detection's offset taken from that prediction (predict); filter: always anchored on that "
                        "prediction, the LSTM learns how far to follow the detection; coast: anchored on the previous output "
                        "moved by the velocity fitted on the last detections (motion.py)")
    p.add_argument("--innovation", action="store_true",
                   help="coords: also input the detection's offset from the previous output + its motion")
    p.add_argument("--correction-penalty", type=float, default=0.0,
                   help="rollouts: weight of the mean squared correction of the LSTM to its anchor")
    p.add_argument("--visual", default="all", choices=("all", "response", "none"),
                   help="the LSTM's visual input: pooled trunk features + detector response grid, the grid only, none")
    p.add_argument("--blind-gaps", action="store_true",
                   help="no visual input to the LSTM on frames without an assigned detection")
    p.add_argument("--feature-dropout", type=float, default=0.0, help="dropout on the LSTM's visual input")
    p.add_argument("--segments-cache", default="",
                   help="file to keep the detector's LSTM training segments in (reused when it exists)")
    p.add_argument("--gate", type=float, default=0.0,
                   help="confidence gate ratio (trackers/rolo/gate.py) applied to the training detections and "
                        "stored with the weights as the tracker's default; 0 = off")
    p.add_argument("--rollout-loss", default="mse", choices=("mse", "scaled"),
                   help="rollout error in frame units (Eq. 4) or in units of the true box size, capped "
                        "(train_rollout.rollout_loss)")
    p.add_argument("--assignable-wrong", action="store_true",
                   help="rollouts inject wrong detections only where the assigner would take them "
                        "(train_lstm.augmented_window)")
    p.add_argument("--keep-response", action="store_true",
                   help="simulated gaps keep the detector's response grid (train_rollout.sample_rollouts)")
    p.add_argument("--real-gaps-only", action="store_true",
                   help="rollouts keep the detections the detector made: no gaps simulated on visible targets "
                        "(train_rollout.sample_rollouts)")
    p.add_argument("--mirror", default="", choices=("", "x", "y", "xy"),
                   help="also train on every segment mirrored along these axes (train_lstm.mirror_segment)")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    log_path = os.path.join(args.out, "train_log.txt")
    log_file = open(log_path, "w")

    def log(msg: str) -> None:
        print(msg, flush=True)
        log_file.write(msg + "\n")
        log_file.flush()

    log(f"command: python -m trackers.rolo.train {' '.join(argv if argv is not None else sys.argv[1:])}")
    val = [v for v in args.val.split(",") if v]
    names = sequence_names(args.data)
    all_names = cache.build_cache(args.data, names, args.synthetic, args.cache, args.long_side,
                                  args.max_frames, wall_clips=args.wall_clips)
    train_names = [n for n in all_names if n not in val]
    val_walls = cache.build_val_walls(args.val_walls, args.cache, args.long_side)
    data = {n: cache.load(args.cache, args.long_side, n) for n in all_names + val_walls}
    log(f"train: {', '.join(train_names)}")
    log(f"validation: {', '.join(val)}")
    with open(os.path.join(args.out, "train_sequences.txt"), "w") as f:  # for `trackassist bench --holdout`
        f.write("\n".join(n for n in train_names if not n.startswith("synthetic-")) + "\n")
    report: dict = {"seed": args.seed, "train": train_names, "validation": val, "args": vars(args)}

    t0 = time.perf_counter()
    if args.detector:
        detector = load_detector(args.detector)
        log(f"detector head reused from {args.detector}")
    else:
        detector = train_detector({n: data[n] for n in train_names}, args.detector_steps, args.seed,
                                  batch=args.detector_batch, log=log)
    report["detector_seconds"] = round(time.perf_counter() - t0)
    report["detector_validation"] = {}
    for n in val:
        b, s, _ = run_detector(detector, data[n])
        report["detector_validation"][n] = detection_quality(b, s, data[n]["boxes"].numpy())
    log(f"detector on validation (template = first frame): {report['detector_validation']}")

    t0 = time.perf_counter()
    train_segments = load_or_prepare_segments(args.segments_cache, detector, {n: data[n] for n in train_names})
    log(f"{len(train_segments)} LSTM training segments ({time.perf_counter() - t0:.0f}s)")
    if args.gate > 0:
        before = sum(np.isfinite(s.det).all(1).sum() for s in train_segments)
        # the gaps the gate makes are the tracker's gaps: train the LSTM on them
        train_segments = [dataclasses.replace(s, det=gate_sequence(s.det, s.conf, args.gate)) for s in train_segments]
        kept = sum(np.isfinite(s.det).all(1).sum() for s in train_segments)
        log(f"confidence gate {args.gate}: {kept} of {before} assigned detections kept")
    if args.mirror:
        train_segments = with_mirrors(train_segments, args.mirror)
        log(f"mirrored along {args.mirror}: {len(train_segments)} segments")
    gap_range = tuple(int(g) for g in args.rollout_gap.split(","))

    report["runs"] = []
    variants = [v for v in args.variants.split(",") if v]
    plan = [(v, args.step, True) for v in variants]
    plan += [("coords", int(s), False) for s in args.study_steps.split(",")
             if s and not (int(s) == args.step and "coords" in variants)]
    for variant, step, ship in plan:
        t0 = time.perf_counter()
        extra = rollout_term(train_segments, step, args.rollout_batch, gap_range, args.prev_noise,
                             history=args.rollout_history, correction_penalty=args.correction_penalty,
                             scaled=args.rollout_loss == "scaled", simulated_gaps=not args.real_gaps_only,
                             assignable_wrong=args.assignable_wrong,
                             hide_response=not args.keep_response) \
            if variant == "coords" and args.rollout_batch > 0 else None
        lstm = train_lstm(train_segments, variant, step, args.lstm_steps, args.seed, prev_noise=args.prev_noise,
                          log=log, extra_loss=extra, carry=args.carry, feature_dropout=args.feature_dropout,
                          window_weight=args.window_weight if extra is not None else 1.0,
                          innovation=args.innovation, blind_gaps=args.blind_gaps,
                          visual=args.visual)
        seconds = time.perf_counter() - t0
        core = RoloCore(detector, lstm, step=step, gate=args.gate)
        ious = {n: closed_loop(core, data[n]) for n in val}
        summary = {"variant": variant, "step": step, "train_seconds": round(seconds), **summarize(ious)}
        if val_walls:
            summary["wall_gap"] = gap_carry({n: closed_loop(core, data[n]) for n in val_walls},
                                            {n: data[n] for n in val_walls})
        report["runs"].append(summary)
        log(f"validation {variant} step {step}: {json.dumps(summary)}")
        if ship:
            path = os.path.join(args.out, f"rolo_{variant}.pt")
            save_weights(path, detector, lstm, step=step, long_side=args.long_side, gate=args.gate)
            log(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")
    with open(os.path.join(args.out, "train_report.json"), "w") as f:
        json.dump(report, f, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
