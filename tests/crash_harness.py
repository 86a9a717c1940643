"""SIGKILL harness shared by tests/test_reliability_crash.py and benchmarks/crash_trials.py.

Each trial starts a real ``trackassist`` subprocess on a project that already
holds human work, kills it with SIGKILL after a seeded random delay, and
checks what a person would find on reopening.  The checks raise
AssertionError with the trial's seed, so a failure can be replayed.
"""
from __future__ import annotations

import os
import pathlib
import random
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np

from app.core.model import FrameAnnotation, encode_mask
from app.core.store import ProjectStore

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli.main", *args]


def snapshot(path: str) -> dict:
    """Everything a person sees in a project: objects and every frame, by track id."""
    with ProjectStore.open(path, create=False) as store:
        return {o.track_id: ((o.category, o.color, o.visible, o.tracker), store.frames(o.track_id))
                for o in store.objects()}


def integrity(path: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def kill_after(proc: subprocess.Popen, delay: float, ready_prefix: str | None = None) -> bool:
    """Wait for the ready line (if any), sleep, SIGKILL.  True when the process was still running."""
    try:
        if ready_prefix is not None:
            line = proc.stderr.readline()
            assert line.startswith(ready_prefix), line + proc.stderr.read()
        time.sleep(delay)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        return alive
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


# -- a project with human work in it --------------------------------------------------------

def human_project(path: str, video: str, clip, start: int, keyframe: int) -> int:
    """Object 1: human boxes at ``start`` and ``keyframe``; object 2: human masks and a tracker frame."""
    with ProjectStore.open(path, video_path=video) as store:
        store.set_meta("fps", 25.0)
        tid = store.add_object("target", tracker="kcf")
        store.put(tid, start, FrameAnnotation(box=clip.box(start)))
        store.put(tid, keyframe, FrameAnnotation(box=clip.box(keyframe)))
        other = store.add_object("other")
        for f in (0, 3, 40):
            mask = clip.mask(f)
            store.put(other, f, FrameAnnotation(box=clip.box(f), mask_rle=encode_mask(mask)))
        store.put(other, 41, FrameAnnotation(box=(1.0, 2.0, 30.0, 20.0), score=0.4, source="tracker:csrt"))
        store.put(other, 42, FrameAnnotation(absent=True))
    return tid


def propagation_trial(seed: int, work: pathlib.Path, video: str, clip, start: int, keyframe: int,
                      reference: dict[int, FrameAnnotation], max_delay: float) -> int:
    """Kill ``trackassist track`` mid-run; returns how many tracker frames survived."""
    rng = random.Random(seed)
    project = str(work / f"trial{seed}.taproj")
    tid = human_project(project, video, clip, start, keyframe)
    before = snapshot(project)
    box = ",".join(f"{v:g}" for v in clip.box(start))
    proc = subprocess.Popen(cli("track", video, "--tracker", "kcf", "--device", "cpu", "--box", box,
                                "--frame", str(start), "--project", project, "--object", str(tid)),
                            cwd=ROOT, env=ENV, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    kill_after(proc, rng.uniform(0.0, max_delay), ready_prefix="tracking object")
    context = f"seed {seed}"
    assert integrity(project) == "ok", context
    after = snapshot(project)
    assert after.keys() == before.keys(), context
    for track_id, (fields, frames) in before.items():   # every human edit made before the run is there
        assert after[track_id][0] == fields, context
        humans = {f: a for f, a in frames.items() if a.is_human or track_id != tid}
        assert {f: after[track_id][1].get(f) for f in humans} == humans, context
    tracked = {f: a for f, a in after[tid][1].items() if not a.is_human}
    assert sorted(tracked) == list(range(start + 1, start + 1 + len(tracked))), context   # contiguous prefix
    assert all(tracked[f] == reference[f] for f in tracked), context                      # of what was written
    return len(tracked)


def reference_run(work: pathlib.Path, video: str, clip, start: int, keyframe: int) -> dict[int, FrameAnnotation]:
    """The tracker frames an uninterrupted run writes (KCF is deterministic)."""
    project = str(work / "reference.taproj")
    tid = human_project(project, video, clip, start, keyframe)
    box = ",".join(f"{v:g}" for v in clip.box(start))
    subprocess.run(cli("track", video, "--tracker", "kcf", "--device", "cpu", "--box", box, "--frame", str(start),
                       "--project", project, "--object", str(tid)),
                   cwd=ROOT, env=ENV, check=True, capture_output=True)
    frames = snapshot(project)[tid][1]
    tracked = {f: a for f, a in frames.items() if not a.is_human}
    assert sorted(tracked) == list(range(start + 1, keyframe))   # it stops before the next human keyframe
    return tracked


# -- export ---------------------------------------------------------------------------------

def big_project(path: str, width: int, height: int, objects: int, frames: int) -> None:
    """Many masked frames, so that an export takes a noticeable moment (no video: the size is in the meta)."""
    rng = np.random.default_rng(0)
    with ProjectStore.open(path) as store:
        for key, value in (("video_name", "big"), ("video_width", width), ("video_height", height),
                           ("video_num_frames", frames)):
            store.set_meta(key, value)
        for k in range(objects):
            tid = store.add_object(f"class{k % 3}")
            anns = {}
            for f in range(frames):
                mask = np.zeros((height, width), bool)
                x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 30))
                mask[y:y + 30, x:x + 40] = rng.random((30, 40)) < 0.7
                anns[f] = FrameAnnotation(box=(float(x), float(y), 40.0, 30.0), mask_rle=encode_mask(mask),
                                          score=0.8, source="tracker:csrt" if f % 7 else "human")
            store.put_many(tid, anns, overwrite_human=True)


def export_trial(seed: int, project: str, target: pathlib.Path, old: bytes, new: bytes, max_delay: float) -> str:
    """Kill ``trackassist export`` at a random moment; the target is the old file or the whole new one."""
    rng = random.Random(seed)
    target.write_bytes(old)
    proc = subprocess.Popen(cli("export", project, "--format", "coco", "--out", str(target)),
                            cwd=ROOT, env=ENV, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    kill_after(proc, rng.uniform(0.0, max_delay))
    data = target.read_bytes()
    assert data in (old, new), f"seed {seed}: the target is neither the old nor the complete new file"
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
    for name in leftovers:   # a temp file a kill left behind: hidden, never the target
        (target.parent / name).unlink()
    return "new" if data == new else "old"
