"""Look-ahead plumbing: trackers registered with ``look_ahead=True`` get ``info["next_frame"]``.

Both engines are checked with throw-away trackers registered here: the bench
runner (accuracy run and simulated annotators) and ``propagate()`` (forward,
backward, through a human keyframe).  The next frame must be exactly the
right one (pixels), ``None`` at the end of the video, absent for ordinary
trackers, and no frame may be decoded twice.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import trackers
import trackers.eval.dataset as dataset_module
from app.core.model import FrameAnnotation
from app.core.propagation import PropagationRequest, propagate
from trackers.base import Tracker, TrackResult
from trackers.data.synthetic import SyntheticClip
from trackers.eval import run_benchmark
from trackers.eval.dataset import load_dataset, read_frame
from trackers.registry import register, unregister

AHEAD, PLAIN = "test-look-ahead", "test-no-look-ahead"
FRAMES = 7
MISSING = object()   # "no next_frame key at all"


class RecordingTracker(Tracker):
    """Stays where it was put; records every call's frame and next frame (copies)."""

    calls: list[dict] = []   # shared by all instances; cleared by the fixture

    def _init(self, frame, box, mask, info):
        self.box = box
        self._record("init", frame, info)

    def reinit(self, frame, box=None, mask=None, info=None):
        super().reinit(frame, box, mask, info)
        self.calls[-1]["kind"] = "reinit"

    def track(self, frame, info=None):
        self._record("track", frame, info or {})
        # Drift right each frame, so the simulated annotators correct it now and then.
        x, y, w, h = self.box
        self.box = (x + 4.0, y, w, h)
        return TrackResult(self.box, 0.9)

    def _record(self, kind, frame, info):
        nxt = info.get("next_frame", MISSING)
        self.calls.append({"tracker": self.name, "instance": id(self), "kind": kind,
                           "index": info["frame_index"], "frame": frame.copy(),
                           "next": nxt if nxt is MISSING or nxt is None else nxt.copy()})


@pytest.fixture
def registered():
    register(AHEAD, f"{__name__}:RecordingTracker", "test only", uses_torch=False, look_ahead=True)
    register(PLAIN, f"{__name__}:RecordingTracker", "test only", uses_torch=False)
    RecordingTracker.calls = []
    yield RecordingTracker.calls
    unregister(AHEAD)
    unregister(PLAIN)


def test_registry_flag_defaults_off_and_reaches_the_instance(registered):
    assert trackers.info(AHEAD).look_ahead and not trackers.info(PLAIN).look_ahead
    assert not trackers.info("csrt").look_ahead
    assert trackers.create(AHEAD, device="cpu").look_ahead is True
    assert trackers.create(PLAIN, device="cpu").look_ahead is False
    with pytest.raises(ValueError):
        register(AHEAD, f"{__name__}:RecordingTracker")


def test_unregister_removes_the_name():
    register("test-temporary", f"{__name__}:RecordingTracker", uses_torch=False)
    unregister("test-temporary")
    assert "test-temporary" not in trackers.available()
    with pytest.raises(trackers.TrackerError):
        unregister("test-temporary")


# -- the bench runner ------------------------------------------------------------------

@pytest.fixture(scope="module")
def got10k(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("lookahead_got10k"))
    SyntheticClip(width=96, height=72, num_frames=FRAMES, seed=3, target_size=(20, 16), speed=4.0) \
        .write_got10k(root, "walk")
    return root


def test_bench_passes_the_next_frame_only_to_look_ahead_trackers(registered, got10k, tmp_path, monkeypatch):
    decoded = Counter()
    real_read = dataset_module.read_frame

    def counting_read(path):
        decoded[path] += 1
        return real_read(path)

    monkeypatch.setattr(dataset_module, "read_frame", counting_read)
    run_benchmark(got10k, [AHEAD], str(tmp_path / "a"), taus=(0.5, 0.9), reference=None,
                  isolate=False, progress=None)
    # one decode per frame although the look-ahead tracker saw every frame twice
    assert len(decoded) == FRAMES and set(decoded.values()) == {1}
    decoded.clear()
    run_benchmark(got10k, [PLAIN], str(tmp_path / "p"), taus=(0.5,), reference=None,
                  isolate=False, progress=None)
    assert len(decoded) == FRAMES and set(decoded.values()) == {1}

    seq = load_dataset(got10k)[0]
    truth = [read_frame(f) for f in seq.frame_files]
    ahead = [c for c in registered if c["tracker"] == AHEAD]
    plain = [c for c in registered if c["tracker"] == PLAIN]
    # accuracy run + two annotators for AHEAD, accuracy run + one annotator for PLAIN
    assert len({c["instance"] for c in ahead}) == 3 and len({c["instance"] for c in plain}) == 2
    tracks = [c for c in ahead if c["kind"] == "track"]
    assert sorted(Counter(c["index"] for c in tracks).items()) == [(i, 3) for i in range(1, FRAMES)]
    for call in tracks:
        i = call["index"]
        assert np.array_equal(call["frame"], truth[i])
        if i == FRAMES - 1:
            assert call["next"] is None          # the last frame: key present, nothing ahead
        else:
            assert np.array_equal(call["next"], truth[i + 1])
    # the annotator that corrects at 0.9 re-initialises with the same info
    reinits = [c for c in ahead if c["kind"] == "reinit"]
    assert reinits, "the drifting tracker must have been corrected"
    for call in reinits:
        i = call["index"]
        assert np.array_equal(call["frame"], truth[i])
        assert call["next"] is None if i == FRAMES - 1 else np.array_equal(call["next"], truth[i + 1])
    assert all(c["next"] is MISSING for c in plain)
    assert sum(c["kind"] == "track" for c in plain) == 2 * (FRAMES - 1)


# -- the propagation engine --------------------------------------------------------------

class MemoryVideo:
    """The two things propagate() uses from a video, with a decode counter."""

    def __init__(self, frames):
        self.frames = frames
        self.reads = Counter()

    def __len__(self):
        return len(self.frames)

    def read(self, index, cancel=None):
        self.reads[index] += 1
        return self.frames[index].copy()


@pytest.fixture(scope="module")
def clip_frames():
    clip = SyntheticClip(width=96, height=72, num_frames=10, seed=4, target_size=(20, 16), speed=4.0)
    return [clip.frame(i) for i in range(len(clip))]


def human(box):
    return FrameAnnotation(box=tuple(float(v) for v in box), source="human")


def _expected_next(frames, index, direction):
    ahead = index + direction
    return frames[ahead] if 0 <= ahead < len(frames) else None


@pytest.mark.parametrize("direction, start", [(+1, 2), (-1, 7)])
def test_propagate_passes_the_next_frame_in_the_direction_of_travel(registered, clip_frames, store,
                                                                     direction, start):
    video = MemoryVideo(clip_frames)
    tid = store.add_object()
    store.put(tid, start, human((30, 30, 20, 16)))
    out = list(propagate(video, store, PropagationRequest(tid, start, direction=direction, tracker=AHEAD,
                                                          device="cpu")))
    visited = list(range(start + direction, len(clip_frames) if direction > 0 else -1, direction))
    assert [r.index for r in out] == visited and all(r.written for r in out)
    tracks = [c for c in registered if c["kind"] == "track"]
    assert [c["index"] for c in tracks] == visited
    for call in tracks:
        assert np.array_equal(call["frame"], clip_frames[call["index"]])
        expected = _expected_next(clip_frames, call["index"], direction)
        if expected is None:
            assert call["next"] is None                       # last frame of the run = end of the video
        else:
            assert np.array_equal(call["next"], expected)
    assert tracks[-1]["next"] is None
    # every frame of the run decoded exactly once (start included)
    assert set(video.reads) == {start, *visited} and set(video.reads.values()) == {1}


@pytest.mark.parametrize("direction, start", [(+1, 2), (-1, 7)])
def test_propagate_gives_ordinary_trackers_no_next_frame(registered, clip_frames, store, direction, start):
    video = MemoryVideo(clip_frames)
    tid = store.add_object()
    store.put(tid, start, human((30, 30, 20, 16)))
    out = list(propagate(video, store, PropagationRequest(tid, start, direction=direction, tracker=PLAIN,
                                                          device="cpu")))
    assert out and all(c["next"] is MISSING for c in registered)
    assert set(video.reads.values()) == {1}


def test_propagate_through_a_human_frame_and_stopping_early(registered, clip_frames, store):
    video = MemoryVideo(clip_frames)
    tid = store.add_object()
    store.put(tid, 1, human((30, 30, 20, 16)))
    store.put(tid, 4, human((40, 30, 20, 16)))
    request = PropagationRequest(tid, 1, tracker=AHEAD, device="cpu", until_keyframe=False, stop=6)
    out = list(propagate(video, store, request))
    assert [r.index for r in out] == [2, 3, 4, 5, 6]
    calls = [c for c in registered if c["kind"] in ("track", "reinit")]
    # the human frame 4: tracked, then re-initialised there, both with frame 5 ahead
    assert [(c["kind"], c["index"]) for c in calls] == [("track", 2), ("track", 3), ("track", 4),
                                                         ("reinit", 4), ("track", 5), ("track", 6)]
    for call in calls:
        assert np.array_equal(call["frame"], clip_frames[call["index"]])
        assert np.array_equal(call["next"], clip_frames[call["index"] + 1])   # a stop is not the video's end
    assert set(video.reads.values()) == {1}
