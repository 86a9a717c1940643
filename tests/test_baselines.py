import numpy as np
import pytest

import trackers
from trackers.base import TrackerError
from trackers.baselines.interpolation import interpolate_box
from trackers.data.synthetic import SyntheticClip


def iou(a, b):
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


@pytest.mark.parametrize("name,min_mean_iou", [("csrt", 0.6), ("kcf", 0.4)])
def test_opencv_baselines_follow_synthetic_target(name, min_mean_iou):
    clip = SyntheticClip(num_frames=40, seed=3, speed=2.0)
    t = trackers.create(name, device="cpu")
    t.init(clip.frame(0), clip.box(0))
    ious = []
    for i in range(1, len(clip)):
        r = t.track(clip.frame(i))
        assert 0.0 <= r["score"] <= 1.0
        ious.append(iou(r["box"], clip.box(i)))
    assert np.mean(ious) > min_mean_iou


def test_registry_lists_baselines_and_rejects_unknown():
    assert {"csrt", "kcf", "mil", "interpolation"} <= set(trackers.available())
    with pytest.raises(TrackerError, match="unknown tracker"):
        trackers.create("nope")


@pytest.mark.parametrize("box", [(0, 0, 0, 10), (1000, 1000, 10, 10), (float("nan"), 0, 5, 5), (-50, -50, 20, 20)])
def test_bad_init_boxes_are_refused(box):
    clip = SyntheticClip(num_frames=2)
    with pytest.raises(TrackerError):
        trackers.create("csrt").init(clip.frame(0), box)


def test_box_partly_outside_is_clipped():
    clip = SyntheticClip(num_frames=2)
    t = trackers.create("interpolation")
    t.init(clip.frame(0), (-10, -10, 30, 30), info={"frame_index": 0})
    assert t.track(clip.frame(1), {"frame_index": 1})["box"] == (0.0, 0.0, 20.0, 20.0)


def test_interpolation_between_keyframes():
    keys = {0: (0, 0, 10, 10), 10: (100, 50, 20, 30)}
    assert interpolate_box(keys, 5) == (50.0, 25.0, 15.0, 20.0)
    assert interpolate_box(keys, 20) == (100.0, 50.0, 20.0, 30.0)
    clip = SyntheticClip(num_frames=12)
    t = trackers.create("interpolation")
    t.init(clip.frame(0), keys[0], info={"frame_index": 0, "keyframes": keys})
    r = t.track(clip.frame(5), {"frame_index": 5})
    assert r["box"] == (50.0, 25.0, 15.0, 20.0) and r["score"] == 1.0
