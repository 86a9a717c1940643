"""SIGKILL at random moments: human work survives, tracker frames are a prefix, exports are all-or-nothing.

Seeded trials (see tests/crash_harness.py; ``python benchmarks/crash_trials.py``
runs many more).  tests/test_crash_safety.py kills a run in a fresh project;
here the project already holds human edits of two objects.
"""
import sys

import pytest
from pycocotools.coco import COCO

from crash_harness import big_project, export_trial, propagation_trial, reference_run
from trackers.data.synthetic import SyntheticClip

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

N, START, KEYFRAME = 120, 4, 110
EXPORT_FRAMES = 250


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    work = tmp_path_factory.mktemp("crash_track")
    clip = SyntheticClip(num_frames=N, seed=31, speed=3.0)
    video = clip.write_video(str(work / "clip.mp4"))
    return work, video, clip, reference_run(work, video, clip, START, KEYFRAME)


@pytest.mark.parametrize("seed", range(3))
def test_kill_during_track_keeps_human_edits_and_a_prefix_of_the_run(tracking, seed):
    work, video, clip, reference = tracking
    survived = propagation_trial(seed, work, video, clip, START, KEYFRAME, reference, max_delay=1.2)
    assert 0 <= survived <= len(reference)


@pytest.fixture(scope="module")
def exporting(tmp_path_factory):
    import subprocess

    from crash_harness import ENV, ROOT, cli

    work = tmp_path_factory.mktemp("crash_export")
    project = str(work / "big.taproj")
    big_project(project, 320, 240, objects=2, frames=EXPORT_FRAMES)
    new_path, old_path = work / "new.json", work / "old.json"
    subprocess.run(cli("export", project, "--format", "coco", "--out", str(new_path)), cwd=ROOT, env=ENV,
                   check=True, capture_output=True)
    subprocess.run(cli("export", project, "--format", "coco", "--out", str(old_path), "--objects", "1"),
                   cwd=ROOT, env=ENV, check=True, capture_output=True)
    return work, project, old_path.read_bytes(), new_path.read_bytes()


@pytest.mark.parametrize("seed", range(3))
def test_kill_during_export_leaves_the_old_file_or_the_complete_new_one(exporting, seed):
    work, project, old, new = exporting
    target = work / f"target{seed}.json"
    outcome = export_trial(seed, project, target, old, new, max_delay=2.0)
    coco = COCO(str(target))   # whichever it is, it loads completely
    assert len(coco.getAnnIds()) == (2 * EXPORT_FRAMES if outcome == "new" else EXPORT_FRAMES)
