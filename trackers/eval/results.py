"""Result files in the got10k toolkit's layout, plus one json per sequence.

::

    OUT/<tracker>/<seq>/<seq>_001.txt     one ``x,y,w,h`` line per frame (``%.3f``), line 1 = init box
    OUT/<tracker>/<seq>/<seq>_time.txt    seconds of ``init``/``track`` per frame
    OUT/<tracker>/<seq>/masks/00000001.png   0/255, mask trackers only
    OUT/<tracker>/<seq>/<seq>_bench.json  speed, effort, errors of this run (written last)

A frame where the tracker returned no box is written ``0.000,0.000,0.000,0.000``
(the toolkit cannot read ``nan``; a zero box scores IoU 0 exactly as a missing
one).  Files are written to a temporary name and renamed, and the json goes
last, so a sequence whose json exists is complete: that is what makes a run
resumable.
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterable

import cv2
import numpy as np

from .dataset import read_boxes

BENCH_VERSION = 1  # bump when the json's meaning changes: older results are then re-run


def sequence_dir(out_dir: str, tracker: str, seq: str) -> str:
    return os.path.join(out_dir, tracker, seq)


def boxes_path(out_dir: str, tracker: str, seq: str) -> str:
    return os.path.join(sequence_dir(out_dir, tracker, seq), f"{seq}_001.txt")


def times_path(out_dir: str, tracker: str, seq: str) -> str:
    return os.path.join(sequence_dir(out_dir, tracker, seq), f"{seq}_time.txt")


def record_path(out_dir: str, tracker: str, seq: str) -> str:
    return os.path.join(sequence_dir(out_dir, tracker, seq), f"{seq}_bench.json")


def mask_path(out_dir: str, tracker: str, seq: str, index: int) -> str:
    return os.path.join(sequence_dir(out_dir, tracker, seq), "masks", f"{index + 1:08d}.png")


def _atomic_write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def format_box(box) -> str:
    if box is None or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        return "0.000,0.000,0.000,0.000"
    return "%.3f,%.3f,%.3f,%.3f" % tuple(float(v) for v in box)


def write_boxes(out_dir: str, tracker: str, seq: str, boxes: Iterable, times: Iterable[float]) -> None:
    _atomic_write(boxes_path(out_dir, tracker, seq), "".join(format_box(b) + "\n" for b in boxes))
    _atomic_write(times_path(out_dir, tracker, seq), "".join("%.6f\n" % t for t in times))


def write_mask(out_dir: str, tracker: str, seq: str, index: int, mask: np.ndarray) -> None:
    path = mask_path(out_dir, tracker, seq, index)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, np.asarray(mask, bool).astype(np.uint8) * 255):
        raise OSError(f"cannot write {path}")


def write_record(out_dir: str, tracker: str, seq: str, record: dict[str, Any]) -> None:
    _atomic_write(record_path(out_dir, tracker, seq), json.dumps({"version": BENCH_VERSION, **record}, indent=1))


def read_record(out_dir: str, tracker: str, seq: str) -> dict[str, Any] | None:
    path = record_path(out_dir, tracker, seq)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None  # a damaged record means "not done": the sequence is re-run
    return record if record.get("version") == BENCH_VERSION else None


def read_result_boxes(out_dir: str, tracker: str, seq: str) -> np.ndarray:
    return read_boxes(boxes_path(out_dir, tracker, seq))


def is_complete(out_dir: str, tracker: str, seq: str, frames: int, taus=()) -> bool:
    """True when this tracker's results for ``seq`` cover exactly ``frames`` frames and every ``tau``."""
    record = read_record(out_dir, tracker, seq)
    if record is None or record.get("frames") != frames or not os.path.exists(boxes_path(out_dir, tracker, seq)):
        return False
    if any(str(t) not in record.get("effort", {}) for t in taus):
        return False
    with open(boxes_path(out_dir, tracker, seq)) as f:
        return sum(1 for line in f if line.strip()) == frames
