"""Annotation effort: greedy interpolation keyframes and the simulated annotator, by hand."""
import numpy as np
import pytest

from trackers.base import Tracker, TrackResult
from trackers.baselines.interpolation import interpolate_box
from trackers.eval.effort import SimulatedAnnotator, interpolation_keyframes, per_100
from trackers.eval.metrics import iou


def track_of(points, size=10.0):
    return np.array([[x, y, size, size] for x, y in points], float)


def test_constant_velocity_needs_only_the_last_frame_beyond_the_first():
    gt = track_of([(10 + 5 * i, 20 + 2 * i) for i in range(30)])
    for tau in (0.5, 0.7):
        assert interpolation_keyframes(gt, np.ones(30, bool), tau) == [0, 29]


def test_one_sharp_turn_needs_exactly_one_extra_keyframe():
    points = [(5 * i, 0) for i in range(21)] + [(100, 5 * k) for k in range(1, 21)]
    gt = track_of(points)
    for tau in (0.5, 0.7):
        assert interpolation_keyframes(gt, np.ones(len(gt), bool), tau) == [0, 20, 40]


def test_static_target_needs_no_keyframe_beyond_the_first():
    gt = track_of([(50, 50)] * 12)
    assert interpolation_keyframes(gt, np.ones(12, bool), 0.7) == [0]


def test_absent_frames_are_not_scored_and_carry_no_keyframe():
    # constant velocity with a gap of unknown boxes: the gap changes nothing
    gt = track_of([(10 + 5 * i, 20) for i in range(20)])
    present = np.ones(20, bool)
    present[8:12] = False
    gt[~present] = np.nan
    assert interpolation_keyframes(gt, present, 0.7) == [0, 19]


def test_reappearing_elsewhere_costs_the_last_frame_before_the_gap_and_the_return():
    # still at (0,0), gone for frames 5..9, back still at (80,80): interpolating across the gap would
    # drag frames 1..4, so frame 4 is a keyframe (CVAT too needs an "outside" keyframe there), then 10
    gt = track_of([(0, 0)] * 10 + [(80, 80)] * 5)
    present = np.array([True] * 5 + [False] * 5 + [True] * 5)
    gt[~present] = np.nan
    assert interpolation_keyframes(gt, present, 0.5) == [0, 4, 10]


def test_greedy_keyframes_satisfy_tau_under_the_interpolation_tracker():
    rng = np.random.default_rng(1)
    steps = rng.normal(0, 3, (120, 2)).cumsum(0) + 100
    gt = np.c_[steps, 30 + rng.normal(0, 1, (120, 2)).cumsum(0)]
    present = np.ones(120, bool)
    for tau in (0.5, 0.7):
        keys = interpolation_keyframes(gt, present, tau)
        kf = {k: tuple(gt[k]) for k in keys}
        filled = np.array([interpolate_box(kf, i) for i in range(120)])
        assert np.all(iou(filled, gt) >= tau - 1e-9)
        # and no keyframe can be dropped by pushing the previous one farther: greedy is farthest-reaching
        for a, b in zip(keys, keys[1:]):
            later = [c for c in range(b + 1, 120)
                     if np.all(iou([interpolate_box({a: gt[a], c: gt[c]}, i) for i in range(a + 1, c)],
                                   gt[a + 1:c]) >= tau)]
            assert later == []


def test_per_100_leaves_the_first_frame_of_each_sequence_out():
    assert per_100(3, 31) == pytest.approx(10.0)
    assert per_100(3, 62, sequences=2) == pytest.approx(5.0)
    assert per_100(0, 1) is None


class ScriptedTracker(Tracker):
    """Returns the box it was last (re)initialised with, records every call."""

    def __init__(self, device="cpu", **params):
        super().__init__(device, **params)
        self.calls = []

    def _init(self, frame, box, mask, info):
        self.box = box
        self.calls.append(("init", info.get("frame_index"), box))

    def track(self, frame, info=None):
        return TrackResult(self.box, 1.0)


def run_annotator(gt, present, tau):
    frame = np.zeros((200, 300, 3), np.uint8)
    annotator = SimulatedAnnotator(ScriptedTracker(), tau)
    annotator.start(frame, gt[0])
    for i in range(1, len(gt)):
        annotator.step(frame, i, gt[i], bool(present[i]))
    return annotator


def test_annotator_corrects_a_box_holding_tracker_when_it_drifts_below_tau():
    gt = track_of([(10 + 2 * i, 10) for i in range(11)])     # 2 px per frame, 10 px boxes
    present = np.ones(11, bool)
    # one frame of drift: IoU 80/120 = 0.67; two frames: 60/140 = 0.43
    a = run_annotator(gt, present, 0.5)
    assert a.corrected_frames == [2, 4, 6, 8, 10]
    assert a.tracker.calls[1] == ("init", 2, tuple(gt[2]))   # reinit with the true box at that frame
    assert run_annotator(gt, present, 0.7).corrections == 10


def test_annotator_skips_absent_frames_and_pays_on_return():
    gt = track_of([(10 + 2 * i, 10) for i in range(11)])
    present = np.ones(11, bool)
    present[[5, 6]] = False
    assert run_annotator(gt, present, 0.5).corrected_frames == [2, 4, 7, 9]


def test_annotator_counts_missing_boxes_and_accepts_perfect_ones():
    frame = np.zeros((50, 50, 3), np.uint8)
    gt = (5.0, 5.0, 10.0, 10.0)
    a = SimulatedAnnotator(ScriptedTracker(), 0.5)
    a.start(frame, gt)
    assert a.step(frame, 1, gt, True, result={"box": None}) is True
    assert a.step(frame, 2, gt, True, result={"box": gt}) is False
    assert a.step(frame, 3, gt, False, result={"box": None}) is False
    assert a.corrections == 1
