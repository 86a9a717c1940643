"""SIGKILL a running `trackassist track --project P`: the project survives with a clean prefix."""
import os
import pathlib
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from app.core.store import ProjectStore
from trackers.data.synthetic import SyntheticClip

ROOT = pathlib.Path(__file__).resolve().parents[1]
N = 150
START = 5


@pytest.fixture(scope="module")
def clip_and_video(tmp_path_factory):
    clip = SyntheticClip(num_frames=N, seed=21, speed=3.0)
    return clip, clip.write_video(str(tmp_path_factory.mktemp("crash") / "clip.mp4"))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("trial", range(4))
def test_killed_run_leaves_a_consistent_prefix(clip_and_video, tmp_path, trial):
    clip, video = clip_and_video
    rng = random.Random(1000 + trial)
    tracker = ("kcf", "csrt")[trial % 2]
    project = str(tmp_path / "p.taproj")
    box = ",".join(f"{v:g}" for v in clip.box(START))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "track", video, "--tracker", tracker,
                             "--device", "cpu", "--box", box, "--frame", str(START), "--project", project],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        # The command announces the run once the human frame is committed.
        line = proc.stderr.readline()
        assert line.startswith("tracking object"), line + proc.stderr.read()
        time.sleep(rng.uniform(0.0, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()

    conn = sqlite3.connect(project)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with ProjectStore.open(project, create=False) as store:
        (obj,) = store.objects()
        frames = store.frames(obj.track_id)
        assert store.keyframes(obj.track_id) == [START]
        assert frames[START].box == pytest.approx(clip.box(START))
        tracked = sorted(f for f in frames if f != START)
        assert tracked == list(range(START + 1, START + 1 + len(tracked)))  # contiguous from the start
        assert all(frames[f].source == f"tracker:{tracker}" for f in tracked)
        va = store.to_annotations("clip", clip.spec.width, clip.spec.height, N)
        assert len(va.objects) == 1 and len(va.objects[0].frames) == len(frames)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_ctrl_c_cancels_cleanly_and_writes_what_is_done(clip_and_video, tmp_path):
    clip, video = clip_and_video
    project, out = str(tmp_path / "p.taproj"), tmp_path / "boxes.txt"
    box = ",".join(f"{v:g}" for v in clip.box(START))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "track", video, "--tracker", "csrt",
                             "--device", "cpu", "--box", box, "--frame", str(START), "--project", project,
                             "--out", str(out)],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr.readline().startswith("tracking object")
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    last = err.strip().splitlines()[-1]
    if code == 0:  # the run finished before the signal arrived: nothing was cancelled
        assert last.startswith(f"tracked {N - START - 1} frames")
    else:
        assert code == 130 and last.startswith("cancelled after"), err
    lines = out.read_text().splitlines()
    assert len(lines) == N
    boxed = [i for i, line in enumerate(lines) if not line.startswith("nan")]
    assert boxed == list(range(START, START + len(boxed)))
    with ProjectStore.open(project, create=False) as store:
        (obj,) = store.objects()
        assert sorted(store.frames(obj.track_id)) == boxed
