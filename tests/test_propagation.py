"""Propagation engine on a synthetic clip written to disk."""
import math

import numpy as np
import pytest

from app.core.model import FrameAnnotation, encode_mask
from app.core.propagation import (CancelToken, PropagationError, PropagationRequest, interpolate_range, propagate,
                                  propagate_between)
from app.core.video import open_video
from trackers.base import Tracker, TrackResult
from trackers.data.synthetic import SyntheticClip
from trackers.ops.boxes import iou_xywh as iou

N = 30


@pytest.fixture(scope="module")
def clip():
    return SyntheticClip(num_frames=N, seed=5, speed=3.0)


@pytest.fixture(scope="module")
def video(clip, tmp_path_factory):
    path = clip.write_video(str(tmp_path_factory.mktemp("prop") / "clip.mp4"))
    v = open_video(path)
    yield v
    v.close()


def human(box):
    return FrameAnnotation(box=tuple(float(v) for v in box), source="human")


class FakeTracker(Tracker):
    """Returns scripted results per frame index: a box, an exception, or None (absent)."""

    name = "fake"

    def __init__(self, script=None, mask_shape=None):
        super().__init__()
        self.script = script or {}
        self.mask_shape = mask_shape
        self.inits = []
        self.calls = []

    def _init(self, frame, box, mask, info):
        self.inits.append((info.get("frame_index"), box, mask is not None))

    def track(self, frame, info=None):
        i = info["frame_index"]
        self.calls.append(i)
        action = self.script.get(i, (10.0, 10.0, 20.0, 20.0))
        if isinstance(action, Exception):
            raise action
        mask = np.zeros(self.mask_shape, bool) if self.mask_shape else None
        if mask is not None:
            mask[10:30, 10:30] = True
        return TrackResult(action, 0.8, mask=mask)


def test_csrt_forward_and_backward_follow_the_target(video, store, clip):
    tid = store.add_object()
    store.put(tid, 0, human(clip.box(0)))
    results = list(propagate(video, store, PropagationRequest(tid, 0, tracker="csrt", device="cpu")))
    assert [r.index for r in results] == list(range(1, N)) and all(r.written for r in results)
    ious = [iou(store.get(tid, i).box, clip.box(i)) for i in range(1, N)]
    assert np.mean(ious) > 0.6 and min(ious) > 0.3
    assert store.get(tid, 5).source == "tracker:csrt" and store.get(tid, 5).score == 1.0

    tid2 = store.add_object()
    store.put(tid2, N - 1, human(clip.box(N - 1)))
    back = list(propagate(video, store, PropagationRequest(tid2, N - 1, direction=-1, tracker="csrt",
                                                           device="cpu")))
    assert [r.index for r in back] == list(range(N - 2, -1, -1))
    assert np.mean([iou(store.get(tid2, i).box, clip.box(i)) for i in range(N - 1)]) > 0.6


def test_stops_before_the_next_keyframe_and_keeps_human_frames(video, store):
    tid = store.add_object()
    store.put(tid, 2, human((40, 40, 30, 30)))
    store.put(tid, 9, human((50, 50, 30, 30)))
    fake = FakeTracker()
    results = list(propagate(video, store, PropagationRequest(tid, 2), tracker=fake))
    assert [r.index for r in results] == [3, 4, 5, 6, 7, 8]
    assert fake.inits[0] == (2, (40.0, 40.0, 30.0, 30.0), False)
    assert store.get(tid, 9) == human((50, 50, 30, 30))

    # Running through a human frame: it is kept and the tracker restarts from it.
    fake = FakeTracker()
    results = list(propagate(video, store, PropagationRequest(tid, 2, until_keyframe=False, stop=12), tracker=fake))
    assert [r.index for r in results] == list(range(3, 13))
    assert store.get(tid, 9) == human((50, 50, 30, 30))
    nine = results[9 - 3]
    assert not nine.written and nine.annotation == human((50, 50, 30, 30))
    assert [i for i, _b, _m in fake.inits] == [2, 9]
    assert store.get(tid, 12).source == "tracker:fake"

    fake = FakeTracker()
    list(propagate(video, store, PropagationRequest(tid, 2, stop=9, until_keyframe=False, overwrite_human=True),
                   tracker=fake))
    assert store.get(tid, 9).source == "tracker:fake"


def test_cancel_keeps_exactly_what_was_yielded(video, store):
    tid = store.add_object()
    store.put(tid, 0, human((40, 40, 30, 30)))
    cancel = CancelToken()
    seen = []
    for r in propagate(video, store, PropagationRequest(tid, 0), cancel=cancel, tracker=FakeTracker()):
        seen.append(r.index)
        if len(seen) == 7:
            cancel.cancel()
    assert seen == list(range(1, 8))
    assert sorted(store.frames(tid)) == list(range(0, 8))
    assert store.undo()  # the run was one step
    assert sorted(store.frames(tid)) == [0]


@pytest.mark.parametrize("bad, message", [
    (RuntimeError("boom"), "boom"),
    ((math.nan, 10.0, 20.0, 20.0), "non-finite"),
    ((10.0, 10.0, 0.0, 20.0), "empty"),
    ((5000.0, 10.0, 20.0, 20.0), "outside"),
])
def test_tracker_failures_are_contained(video, store, bad, message):
    tid = store.add_object()
    store.put(tid, 0, human((40, 40, 30, 30)))
    stopped = list(propagate(video, store, PropagationRequest(tid, 0), tracker=FakeTracker({4: bad})))
    assert [r.index for r in stopped] == [1, 2, 3, 4]
    assert message in stopped[-1].error and not stopped[-1].written
    assert store.get(tid, 4) is None and sorted(store.frames(tid)) == [0, 1, 2, 3]

    skipped = list(propagate(video, store, PropagationRequest(tid, 0, stop=8, on_error="skip"),
                             tracker=FakeTracker({4: bad})))
    assert [r.index for r in skipped] == list(range(1, 9))
    assert [r.index for r in skipped if r.error] == [4]
    assert store.get(tid, 4) is None and store.get(tid, 8) is not None


def test_absent_and_masks_are_written(video, store):
    tid = store.add_object()
    mask = np.zeros((video.height, video.width), bool)
    mask[40:70, 40:80] = True
    store.put(tid, 0, FrameAnnotation(box=None, mask_rle=encode_mask(mask), source="human"))
    fake = FakeTracker({3: None}, mask_shape=(video.height, video.width))
    list(propagate(video, store, PropagationRequest(tid, 0, stop=4), tracker=fake))
    assert fake.inits[0][2]  # initialised from the mask
    assert store.get(tid, 3).absent and store.get(tid, 3).box is None
    assert store.get(tid, 2).mask_rle is not None and store.get(tid, 2).mask_rle["size"] == [video.height,
                                                                                               video.width]
    wrong = FakeTracker(mask_shape=(5, 5))
    out = list(propagate(video, store, PropagationRequest(tid, 0, stop=4, on_error="stop"), tracker=wrong))
    assert "mask has shape" in out[0].error


def test_bad_requests_raise_at_once(video, store):
    tid = store.add_object()
    with pytest.raises(PropagationError, match="no box or mask on frame 3"):
        propagate(video, store, PropagationRequest(tid, 3))
    store.put(tid, 3, human((40, 40, 30, 30)))
    with pytest.raises(PropagationError, match="outside the video"):
        propagate(video, store, PropagationRequest(tid, N + 3))
    with pytest.raises(PropagationError, match="before start"):
        propagate(video, store, PropagationRequest(tid, 3, stop=1))
    with pytest.raises(PropagationError, match="nosuch"):
        list(propagate(video, store, PropagationRequest(tid, 3, tracker="nosuch")))


def test_propagate_between_covers_every_frame(video, store, clip):
    tid = store.add_object()
    store.put(tid, 4, human(clip.box(4)))
    store.put(tid, 20, human(clip.box(20)))
    results = list(propagate_between(video, store, tid, 4, 20, tracker="csrt", device="cpu"))
    assert len(results) == 2 * 15 and not any(r.error for r in results)
    frames = store.frames(tid, 4, 21)
    assert sorted(frames) == list(range(4, 21))
    assert frames[4].is_human and frames[20].is_human
    assert np.mean([iou(frames[i].box, clip.box(i)) for i in range(5, 20)]) > 0.6
    assert store.undo() and sorted(store.frames(tid)) == [4, 20]


def test_propagate_between_blends_close_scores_by_distance(video, store):
    tid = store.add_object()
    store.put(tid, 0, human((10, 10, 20, 20)))
    store.put(tid, 10, human((110, 10, 20, 20)))
    import trackers

    # The interpolation tracker scores 1.0 both ways: every frame is blended,
    # and a blend of two linear interpolations is the linear interpolation.
    list(propagate_between(video, store, tid, 0, 10, tracker="interpolation", device="cpu"))
    for i in range(1, 10):
        assert store.get(tid, i).box == pytest.approx((10 + 10 * i, 10, 20, 20))
    assert "interpolation" in trackers.available()


def test_interpolate_range(store):
    tid = store.add_object()
    store.put(tid, 0, human((0, 0, 10, 10)))
    store.put(tid, 10, human((100, 50, 20, 10)))
    store.put(tid, 15, FrameAnnotation(absent=True, source="human"))
    store.put(tid, 5, FrameAnnotation(box=(1, 1, 1, 1), source="tracker:csrt"))
    assert interpolate_range(store, tid, 0, 30) == 9
    assert store.get(tid, 5).box == pytest.approx((50, 25, 15, 10)) and store.get(tid, 5).source == "interpolated"
    assert sorted(store.frames(tid)) == list(range(0, 11)) + [15]
    assert store.undo() and store.get(tid, 5).source == "tracker:csrt"
    assert interpolate_range(store, tid, 3, 6) == 3
