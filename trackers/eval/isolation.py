"""Run one (tracker, sequence) in a forked child so that a crashing tracker cannot end the benchmark.

OpenCV's MIL, for one, can die with a segmentation fault inside ``cv2``
(seen on ``davis-dance-twirl``); Python cannot catch that.  The child writes
the result files itself; when it dies instead, the parent writes a *crash
record*: no box after the first frame (IoU 0 on every scored frame) and, for
the effort figures, one correction on every present frame after the first,
because an annotator whose tracker crashed draws every box by hand.  The
crash is counted in the tracker's errors and named in the summary: a crashing
tracker is never flattered by leaving the sequence out.

A fresh child per sequence also makes peak RSS a per-sequence figure.  Where
``fork`` is unavailable, or unsafe because the process already runs other
native threads (Qt, an OpenMP pool: a child forked while one of them holds a
lock can hang forever), the run happens in-process.  ``trackassist bench``
runs trackers only in its children, so its own process stays single-threaded.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from datetime import datetime, timezone

from . import results
from .dataset import Sequence
from .effort import per_100


def can_isolate() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and fork_is_safe()


def run_isolated(run, seq: Sequence, out_dir: str, tracker_name: str, taus) -> dict:
    """``run()`` writes the sequence's results; returns its record, or a crash record if the child died."""
    if not can_isolate():
        return run()
    child = start_isolated(run)
    child.join()
    return finish_isolated(child, seq, out_dir, tracker_name, taus)


def start_isolated(run):
    """Start ``run()`` in a forked child and return the child (a ``multiprocessing.Process``);
    several may run at once (``trackassist bench --jobs``), each finished by :func:`finish_isolated`."""
    child = multiprocessing.get_context("fork").Process(target=_child, args=(run,), daemon=False)
    child.start()
    return child


def finish_isolated(child, seq: Sequence, out_dir: str, tracker_name: str, taus) -> dict:
    """The record of a child that has ended (joined), or a crash record if it died."""
    child.join()
    record = results.read_record(out_dir, tracker_name, seq.name)
    if child.exitcode == 0 and record is not None and record.get("frames") == len(seq):
        return record
    return write_crash_record(seq, out_dir, tracker_name, taus, _describe(child.exitcode))


def fork_is_safe() -> bool:
    """True when this process has a single thread, native ones included."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc: only Python's own threads can be seen
        import threading

        return threading.active_count() == 1


def _child(run) -> None:
    run()
    os._exit(0)  # skip atexit handlers inherited from the parent (pytest's, for one)


def _describe(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the tracker process died with {name}"
    return f"the tracker process exited with status {exitcode}"


def write_crash_record(seq: Sequence, out_dir: str, tracker_name: str, taus, reason: str) -> dict:
    n = len(seq)
    init_box = tuple(float(v) for v in seq.boxes[0])
    results.write_boxes(out_dir, tracker_name, seq.name, [init_box] + [None] * (n - 1), [0.0] * n)
    by_hand = [int(i) for i in range(1, n) if seq.present[i]]
    record = {
        "tracker": tracker_name, "sequence": seq.name, "frames": n, "crashed": reason,
        "speed": {"init_seconds": 0.0, "track_seconds": 0.0, "decode_seconds": 0.0, "tracked_frames": 0,
                  "peak_rss_mb": 0.0, "rss_reset": False, "wall_seconds": 0.0},
        "effort": {str(t): {"corrections": len(by_hand), "per100": per_100(len(by_hand), n),
                            "corrected_frames": by_hand} for t in taus},
        "errors": {"count": 1, "first": f"crash: {reason}"},
        "masks": False,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    results.write_record(out_dir, tracker_name, seq.name, record)
    return record
