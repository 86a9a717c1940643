"""Many SIGKILL trials of ``trackassist track`` and ``trackassist export`` (the tests run a few).

    python benchmarks/crash_trials.py [--trials 40] [--work /tmp/trackassist_crash]

Uses the harness of tests/test_reliability_crash.py (tests/crash_harness.py):
every trial must keep every human edit, a contiguous prefix of the
uninterrupted run's tracker frames, a project passing ``PRAGMA
integrity_check``, and an export target that is the old file or the complete
new one.  Prints how the kills landed (before the first tracked frame,
mid-run, after the end; old or new export) so a run that never killed
mid-way is visible.
"""
from __future__ import annotations

import argparse
import collections
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from crash_harness import ENV, big_project, cli, export_trial, propagation_trial, reference_run  # noqa: E402
from trackers.data.synthetic import SyntheticClip  # noqa: E402

N, START, KEYFRAME, EXPORT_FRAMES = 160, 4, 150, 300


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--work", default="/tmp/trackassist_crash")
    args = parser.parse_args(argv)
    work = pathlib.Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    clip = SyntheticClip(num_frames=N, seed=31, speed=3.0)
    video = clip.write_video(str(work / "clip.mp4"))
    reference = reference_run(work, video, clip, START, KEYFRAME)
    landed = collections.Counter()
    for seed in range(args.trials):
        survived = propagation_trial(seed, work, video, clip, START, KEYFRAME, reference, max_delay=2.5)
        landed["none tracked" if survived == 0 else "all tracked" if survived == len(reference) else "mid-run"] += 1
        os.unlink(work / f"trial{seed}.taproj")
    print(f"track: {args.trials} SIGKILL trials passed; kills landed: {dict(landed)}")

    project = str(work / "big.taproj")
    big_project(project, 320, 240, objects=2, frames=EXPORT_FRAMES)
    for name, extra in (("new.json", []), ("old.json", ["--objects", "1"])):
        subprocess.run(cli("export", project, "--format", "coco", "--out", str(work / name), *extra), cwd=ROOT,
                       env=ENV, check=True, capture_output=True)
    old, new = (work / "old.json").read_bytes(), (work / "new.json").read_bytes()
    outcomes = collections.Counter(export_trial(seed, project, work / "target.json", old, new, max_delay=2.5)
                                   for seed in range(args.trials))
    print(f"export: {args.trials} SIGKILL trials passed; target afterwards: {dict(outcomes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
