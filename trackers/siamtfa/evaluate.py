"""Offline evaluation that gives the tracker the next frame (what a bidirectional shift needs).

    python -m trackers.siamtfa.evaluate /work/shared/data/dev --tracker siamtfa --tracker siamtfa-causal \\
        --sequences vot2014-woman,davis-libby --out /tmp/siamtfa_eval.json

Since the registry's ``look_ahead`` flag, ``trackassist bench`` passes the next
frame itself to ``siamtfa``/``siamtfa-tam``; this driver (written before that)
stays as a cross-check of the bench's accuracy figures.  It reads each sequence
with a one-frame look-ahead and passes ``info={"frame_index": i, "next_frame":
frame[i + 1]}`` (none on the last frame), then scores it exactly as the bench
does (GOT-10k AO/SR over present frames after the first, boxes clipped to the
frame), so its figures and the bench's are comparable.  ``--no-look-ahead``
drops ``next_frame`` (then it reproduces the bench's accuracy figures).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from .. import create
from ..eval.dataset import load_dataset, read_frame
from ..eval.metrics import evaluated_frames, got10k_metrics, iou


def run_sequence(tracker, seq, look_ahead: bool) -> tuple[np.ndarray, float, int]:
    """Pooled-ready IoUs of the scored frames, seconds inside ``track()``, frames tracked."""
    frames = seq.frame_files
    current = read_frame(frames[0])
    tracker.init(current, box=tuple(float(v) for v in seq.boxes[0]), info={"frame_index": 0})
    boxes, seconds = [tuple(seq.boxes[0])], 0.0
    nxt = read_frame(frames[1]) if len(frames) > 1 else None
    for i in range(1, len(frames)):
        current, nxt = nxt, (read_frame(frames[i + 1]) if i + 1 < len(frames) else None)
        info = {"frame_index": i}
        if look_ahead and nxt is not None:
            info["next_frame"] = nxt
        t0 = time.perf_counter()
        result = tracker.track(current, info=info)
        seconds += time.perf_counter() - t0
        boxes.append(result["box"] if result["box"] is not None else (np.nan,) * 4)
    keep = evaluated_frames(seq.absent)
    ious = iou(np.array(boxes, np.float64), seq.boxes, seq.size)
    return ious[keep], seconds, len(frames) - 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trackers.siamtfa.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--tracker", action="append", required=True, help="registered tracker name (repeatable)")
    ap.add_argument("--sequences", required=True, help="comma-separated sequence names")
    ap.add_argument("--max-frames", type=int, help="only the first N frames of each sequence (as the bench's)")
    ap.add_argument("--no-look-ahead", action="store_true", help="do not pass next_frame")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    seqs = [s.truncated(args.max_frames) for s in load_dataset(args.dataset, only=args.sequences.split(","))]
    report = {"look_ahead": not args.no_look_ahead, "max_frames": args.max_frames, "sequences": [s.name for s in seqs], "trackers": {}}
    for name in args.tracker:
        pooled, seconds, frames, per_seq = [], 0.0, 0, {}
        for seq in seqs:
            tracker = create(name, device="cpu", threads=args.threads)
            ious, s, n = run_sequence(tracker, seq, not args.no_look_ahead)
            pooled.append(ious)
            seconds, frames = seconds + s, frames + n
            per_seq[seq.name] = float(ious.mean()) if ious.size else None
        m = got10k_metrics(np.concatenate(pooled))
        m.update(track_fps=frames / seconds if seconds else None, per_sequence_ao=per_seq)
        report["trackers"][name] = m
        print(f"{name:18s} AO {m['ao']:.3f} SR0.5 {m['sr50']:.3f} SR0.75 {m['sr75']:.3f} "
              f"track {m['track_fps']:.1f} fps", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
