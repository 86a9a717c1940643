"""Run one tracker over one sequence: accuracy run and effort runs in a single decode pass.

Each frame is decoded once (``cv2.imread`` + BGR->RGB) and handed to
``1 + len(taus)`` tracker instances of the same tracker:

* the **accuracy run** tracks from the first box without help; its boxes go
  to ``<seq>_001.txt`` and its ``init``/``track`` times to ``<seq>_time.txt``;
* one **effort run** per ``tau`` (:class:`~trackers.eval.effort.SimulatedAnnotator`),
  re-initialised with the true box whenever it falls below ``tau``.

So the benchmark costs ``1 + len(taus)`` ``track()`` calls per frame (3 with
the default taus) but one decode; the speed figures time the accuracy run
only.  Trackers are used only through the interface (``init``, ``track``,
``reinit`` with ``info={"frame_index": i}``).  A tracker registered with
``look_ahead=True`` also gets ``info["next_frame"]`` (frame ``i+1``, ``None``
on the last frame): that frame is decoded one step early and kept for the
next step, so every frame is still decoded once.  A tracker that raises is not
allowed to stop the benchmark: the frame counts as "no box", the error is
counted in the record and the first message kept.
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Callable, TextIO

import numpy as np

from . import results
from .dataset import Sequence
from .effort import SimulatedAnnotator, per_100
from .machine import limit_threads, peak_rss_mb, reset_peak_rss
from ..registry import looks_ahead

TrackerFactory = Callable[[], object]


class _ErrorLog:
    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None

    def call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a broken tracker must not stop the benchmark
            self.count += 1
            if self.first is None:
                self.first = f"{what}: {type(exc).__name__}: {exc}"
            return None


def _box_mask(box, shape) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    x, y, w, h = (int(round(v)) for v in box)
    mask[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = True
    return mask


def run_sequence(factory: TrackerFactory, seq: Sequence, out_dir: str, tracker_name: str, *,
                 taus=(0.5, 0.7), threads: int = 1, device: str = "cpu",
                 progress: TextIO | None = None) -> dict:
    """Track ``seq`` and write its result files; returns the record written to ``<seq>_bench.json``."""
    rss_reset = reset_peak_rss()
    wall_start = time.perf_counter()
    errors = _ErrorLog()
    tracker = factory()
    annotators = [SimulatedAnnotator(factory(), tau, seq.size) for tau in taus]
    threads_set = limit_threads(threads)
    uses_masks = bool(getattr(tracker, "produces_masks", False)) and seq.has_masks
    look_ahead = looks_ahead(tracker)

    frames = seq.frames()
    t0 = time.perf_counter()
    frame = next(frames)
    decode_s = time.perf_counter() - t0
    init_box = tuple(float(v) for v in seq.boxes[0])
    init_mask = seq.gt_mask(0) if uses_masks else None
    t0 = time.perf_counter()
    errors.call("init", tracker.init, frame, box=init_box, mask=init_mask, info={"frame_index": 0})
    init_s = time.perf_counter() - t0
    for annotator in annotators:
        errors.call("init", annotator.start, frame, init_box, init_mask, 0)
    boxes, times, track_s = [init_box], [init_s], 0.0
    wrote_masks = False
    if getattr(tracker, "produces_masks", False):
        results.write_mask(out_dir, tracker_name, seq.name, 0,
                           init_mask if init_mask is not None else _box_mask(init_box, frame.shape))
        wrote_masks = True

    upcoming = None   # frame i+1, already decoded for a look-ahead tracker
    for i in range(1, len(seq)):
        t0 = time.perf_counter()
        frame = upcoming if upcoming is not None else next(frames)
        upcoming = next(frames, None) if look_ahead and i + 1 < len(seq) else None
        decode_s += time.perf_counter() - t0
        info = {"frame_index": i}
        if look_ahead:
            info["next_frame"] = upcoming
        t0 = time.perf_counter()
        result = errors.call(f"track frame {i}", tracker.track, frame, info=info)
        dt = time.perf_counter() - t0
        track_s += dt
        times.append(dt)
        result = result or {"box": None, "mask": None}
        boxes.append(result.get("box"))
        if result.get("mask") is not None:
            results.write_mask(out_dir, tracker_name, seq.name, i, result["mask"])
            wrote_masks = True
        elif wrote_masks:
            results.write_mask(out_dir, tracker_name, seq.name, i, np.zeros(frame.shape[:2], bool))
        present = bool(seq.present[i])
        for annotator in annotators:
            effort_result = errors.call(f"track frame {i}", annotator.tracker.track, frame, info=info)
            errors.call(f"reinit frame {i}", annotator.step, frame, i, seq.boxes[i], present,
                        seq.gt_mask(i) if uses_masks and present else None,
                        effort_result or {"box": None}, info=info)

    for t in [tracker] + [a.tracker for a in annotators]:
        errors.call("close", t.close)
    results.write_boxes(out_dir, tracker_name, seq.name, boxes, times)
    n = len(seq)
    record = {
        "tracker": tracker_name, "sequence": seq.name, "frames": n, "device": device, "threads": threads_set,
        "speed": {"init_seconds": init_s, "track_seconds": track_s, "decode_seconds": decode_s,
                  "tracked_frames": n - 1, "peak_rss_mb": peak_rss_mb(), "rss_reset": rss_reset,
                  "wall_seconds": time.perf_counter() - wall_start},
        "effort": {str(a.tau): {"corrections": a.corrections, "per100": per_100(a.corrections, n),
                                "corrected_frames": a.corrected_frames} for a in annotators},
        "errors": {"count": errors.count, "first": errors.first},
        "masks": wrote_masks,
        # other processes on the machine skew the speed figures; keep the evidence with them
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    results.write_record(out_dir, tracker_name, seq.name, record)
    if errors.first and progress is not None:
        print(f"  {tracker_name} / {seq.name}: {errors.count} tracker error(s), first: {errors.first}", file=progress)
    return record
