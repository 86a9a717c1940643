"""A failing tracker through ``trackassist track``: non-zero exit, one line per failure, the good prefix kept.

The engine's containment is proven in tests/test_propagation.py; this checks
what a person running the command sees and what the project keeps.  Test
trackers are registered under names no real tracker uses, and imported from
this module by the registry like any other tracker.
"""
import math

import cv2
import pytest

import trackers
from app.cli.main import main
from app.core.store import ProjectStore
from trackers.base import Tracker, TrackResult
from trackers.data.synthetic import SyntheticClip

N = 20
FAIL_AT = 6
BOX = (30.0, 30.0, 40.0, 30.0)
FAILURES = {
    "raise": "tracker exploded on purpose",
    "nan": "non-finite",
    "empty": "empty",
    "outside": "outside",
}


class ScriptedFailure(Tracker):
    """Holds the init box until frame FAIL_AT, then fails in the configured way."""

    def __init__(self, device="cpu", failure="raise", **params):
        super().__init__(device, **params)
        self.failure = failure

    def _init(self, frame, box, mask, info):
        self.box = box

    def track(self, frame, info=None):
        if info["frame_index"] < FAIL_AT:
            return TrackResult(self.box, 0.9)
        if self.failure == "raise":
            raise RuntimeError(FAILURES["raise"])
        bad = {"nan": (math.nan, 1.0, 10.0, 10.0), "empty": (5.0, 5.0, 0.0, 10.0),
               "outside": (9000.0, 9000.0, 10.0, 10.0)}[self.failure]
        return TrackResult(bad, 0.9)


for _kind in FAILURES:
    if f"test-fail-{_kind}" not in trackers.available():
        trackers.register(f"test-fail-{_kind}", f"{__name__}:ScriptedFailure", "test only", uses_torch=False,
                          failure=_kind)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return SyntheticClip(num_frames=N, seed=4).write_video(str(tmp_path_factory.mktemp("fail") / "clip.mp4"))


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_failing_tracker_exits_nonzero_and_keeps_the_good_prefix(video, tmp_path, capsys, kind):
    project, out = tmp_path / "p.taproj", tmp_path / "boxes.txt"
    capsys.readouterr()
    code = main(["track", video, "--tracker", f"test-fail-{kind}", "--box", ",".join(map(str, BOX)),
                 "--project", str(project), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    failures = [line for line in err.splitlines() if "error" in line]
    assert len(failures) == 1 and f"frame {FAIL_AT}" in failures[0] and FAILURES[kind] in failures[0], err
    with ProjectStore.open(str(project), create=False) as store:
        (obj,) = store.objects()
        frames = store.frames(obj.track_id)
    assert sorted(frames) == list(range(FAIL_AT))                   # the human frame 0 and tracked 1..5
    assert all(frames[f].box == BOX for f in frames)
    lines = out.read_text().splitlines()                             # what was done is still written out
    assert len(lines) == N and [i for i, ln in enumerate(lines) if not ln.startswith("nan")] == list(range(FAIL_AT))


def test_a_corrupt_frame_stops_the_run_like_a_tracker_failure(tmp_path, capsys):
    clip = SyntheticClip(num_frames=N, seed=4)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(N):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(clip.frame(i), cv2.COLOR_RGB2BGR))
    (folder / f"{FAIL_AT:05d}.png").write_bytes(b"\x89PNG damaged")
    project = tmp_path / "p.taproj"
    capsys.readouterr()
    code = main(["track", str(folder), "--tracker", "kcf", "--box", ",".join(f"{v:g}" for v in clip.box(0)),
                 "--project", str(project)])
    err = capsys.readouterr().err
    assert code == 1, err
    failures = [line for line in err.splitlines() if "error" in line]
    assert len(failures) == 1 and f"{FAIL_AT:05d}.png" in failures[0], err
    with ProjectStore.open(str(project), create=False) as store:
        (obj,) = store.objects()
        assert sorted(store.frames(obj.track_id)) == list(range(FAIL_AT))
