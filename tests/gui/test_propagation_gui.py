"""Background propagation from the GUI: forward/backward with CSRT, cancel, corrections, failures."""
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.core.model import FrameAnnotation
from app.core.store import ProjectStore
from app.core.video import open_video
from app.gui.propagation_controller import PropagationController, PropagationStatusWidget
from app.gui.state import AppState
import trackers
from trackers.base import Tracker, TrackResult
from trackers.data.synthetic import SyntheticClip

N = 30


def iou(a, b):
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


class HoldTracker(Tracker):
    """Reports the box it was (re)initialised with; counts init/reinit calls; optionally slow or failing."""

    name = "hold"

    def __init__(self, delay=0.0, fail_at=None, gate_at=None):
        super().__init__()
        self.delay, self.fail_at = delay, fail_at
        self.inits = self.reinits = self.calls = 0
        # With gate_at, the call after that many calls waits until the test opens
        # the gate (after its correction), so no test depends on thread timing.
        self.gate_at, self.gate = gate_at, threading.Event()

    def _init(self, frame, box, mask, info):
        self.inits += 1
        self.box = box

    def reinit(self, frame, box=None, mask=None, info=None):
        self.reinits += 1
        self.box = tuple(float(v) for v in box)

    def track(self, frame, info=None):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("tracker exploded on purpose")
        if self.gate_at is not None and self.calls == self.gate_at + 1:
            self.gate.wait(timeout=20)
        time.sleep(self.delay)
        return TrackResult(self.box, 0.7)


class SlowTracker(Tracker):
    """A real CSRT slowed down, so a correction reliably lands while the run is going."""

    def __init__(self, delay):
        super().__init__()
        self.inner, self.delay = trackers.create("csrt"), delay

    def _init(self, frame, box, mask, info):
        self.inner.init(frame, box, mask, info)

    def reinit(self, frame, box=None, mask=None, info=None):
        self.inner.reinit(frame, box, mask, info)

    def track(self, frame, info=None):
        time.sleep(self.delay)
        return self.inner.track(frame, info)


@pytest.fixture
def setup(tmp_path, qtbot):
    clip = SyntheticClip(num_frames=N)
    path = clip.write_video(str(tmp_path / "clip.mp4"))
    store = ProjectStore.open(str(tmp_path / "p.taproj"), video_path=path)
    video = open_video(path)
    state = AppState()
    tid = store.add_object("target", tracker="csrt")
    state.set_project(store, video)
    state.set_object(tid)
    controller = PropagationController(state)
    yield clip, state, store, tid, controller
    controller.shutdown()
    video.close()
    store.close()


def tracker_frames(store, tid):
    return {f: a for f, a in store.frames(tid).items() if not a.is_human}


def test_forward_csrt_writes_tracked_frames(setup, qtbot):
    clip, state, store, tid, controller = setup
    store.put(tid, 0, FrameAnnotation(box=clip.box(0)))
    done, progress = [], []
    controller.frameDone.connect(lambda t, f: done.append(f))
    controller.progress.connect(lambda *a: progress.append(a))
    status = PropagationStatusWidget(controller)
    qtbot.addWidget(status)
    with qtbot.waitSignal(controller.started, timeout=2000):
        assert controller.propagate(+1, mode="to_end")
    assert controller.running and not status.cancel_button.isHidden()
    with qtbot.waitSignal(controller.finished, timeout=60000) as blocker:
        pass
    assert blocker.args == [False] and not controller.running
    frames = tracker_frames(store, tid)
    assert sorted(frames) == list(range(1, N)) == done
    assert all(a.source == "tracker:csrt" for a in frames.values())
    ious = [iou(frames[f].box, clip.box(f)) for f in frames]
    assert np.mean(ious) > 0.5, ious
    assert store.get(tid, 0).is_human
    assert progress[-1][0] == N - 1 and progress[-1][2] > 0          # final report: all done, a real fps
    assert status.cancel_button.isHidden() and "done" in status.label.text()


def test_backward_to_keyframe_stops_before_the_human_frame(setup, qtbot):
    clip, state, store, tid, controller = setup
    store.put(tid, 0, FrameAnnotation(box=clip.box(0)))
    store.put(tid, N - 1, FrameAnnotation(box=clip.box(N - 1)))
    state.set_frame(N - 1)
    with qtbot.waitSignal(controller.finished, timeout=60000):
        assert controller.propagate(-1, mode="to_keyframe")
    frames = tracker_frames(store, tid)
    assert sorted(frames) == list(range(1, N - 1))
    assert store.get(tid, 0).box == pytest.approx(clip.box(0))    # the human keyframe is untouched
    assert np.mean([iou(frames[f].box, clip.box(f)) for f in frames]) > 0.5


def test_cancel_keeps_done_frames_and_writes_nothing_after(setup, qtbot):
    clip, state, store, tid, controller = setup
    store.put(tid, 0, FrameAnnotation(box=clip.box(0)))
    seen = []

    def on_worker_frame(t, f):      # runs in the worker thread: cancel exactly after the 5th frame
        seen.append(f)
        if len(seen) == 5:
            controller.cancel()

    controller.started.connect(lambda: controller.worker.frameDone.connect(on_worker_frame, Qt.DirectConnection))
    with qtbot.waitSignal(controller.finished, timeout=60000) as blocker:
        controller.propagate(+1, mode="to_end")
    assert blocker.args == [True]
    assert sorted(tracker_frames(store, tid)) == [1, 2, 3, 4, 5] == seen


def test_correction_while_running_restarts_from_the_corrected_frame(setup, qtbot):
    clip, state, store, tid, controller = setup
    hold = HoldTracker(delay=0.01, gate_at=10)
    controller.tracker_factory = lambda name, device: hold
    first, corrected = (20.0, 20.0, 30.0, 30.0), (60.0, 50.0, 40.0, 30.0)
    store.put(tid, 0, FrameAnnotation(box=first))
    finished, restarted = [], []
    controller.finished.connect(finished.append)
    controller.restarted.connect(lambda t, f: restarted.append(f))

    def correct_at_tenth(t, f):          # GUI thread: the person fixes frame 6 while the run continues
        if f == 10:
            store.put(tid, 6, FrameAnnotation(box=corrected))
            state.humanEdit.emit(tid, 6)
            hold.gate.set()

    controller.frameDone.connect(correct_at_tenth)
    controller.propagate(+1, mode="to_end")
    qtbot.waitUntil(lambda: bool(finished), timeout=60000)
    qtbot.wait(50)
    assert finished == [False] and restarted == [6]
    frames = store.frames(tid)
    assert frames[6].is_human and frames[6].box == corrected
    assert all(frames[f].box == first for f in range(1, 6))
    assert all(frames[f].box == corrected and not frames[f].is_human for f in range(7, N))
    assert hold.inits == 1 and hold.reinits == 1          # the same tracker instance, corrected with reinit


def test_correction_after_run_reinitialises_on_next_start(setup, qtbot):
    clip, state, store, tid, controller = setup
    hold = HoldTracker()
    controller.tracker_factory = lambda name, device: hold
    store.put(tid, 0, FrameAnnotation(box=(20.0, 20.0, 30.0, 30.0)))
    with qtbot.waitSignal(controller.finished, timeout=20000):
        controller.propagate(+1, mode="to_end")
    store.put(tid, 12, FrameAnnotation(box=(40.0, 40.0, 20.0, 20.0)))
    state.humanEdit.emit(tid, 12)
    assert not controller.running
    state.set_frame(12)
    with qtbot.waitSignal(controller.finished, timeout=20000):
        controller.propagate(+1, mode="to_end")
    frames = store.frames(tid)
    assert all(frames[f].box == (40.0, 40.0, 20.0, 20.0) for f in range(12, N))
    assert all(frames[f].box == (20.0, 20.0, 30.0, 30.0) for f in range(1, 12))
    assert hold.inits == 1 and hold.reinits == 1


def test_failing_tracker_reports_and_gui_survives(setup, qtbot):
    clip, state, store, tid, controller = setup
    store.put(tid, 0, FrameAnnotation(box=clip.box(0)))
    controller.tracker_factory = lambda name, device: HoldTracker(fail_at=4)
    with qtbot.waitSignal(controller.failed, timeout=20000) as failed:
        controller.propagate(+1, mode="to_end")
    qtbot.waitUntil(lambda: not controller.running, timeout=20000)
    assert "exploded" in failed.args[0]
    assert sorted(tracker_frames(store, tid)) == [1, 2, 3]          # what was done before the failure is kept
    assert 4 in controller.failed_frames(tid)
    # an unknown tracker fails cleanly too, and the controller is usable afterwards
    controller.tracker_factory = lambda name, device: __import__("trackers").create("no-such-tracker")
    with qtbot.waitSignal(controller.failed, timeout=20000) as failed:
        controller.propagate(+1, mode="to_end")
    assert "no-such-tracker" in failed.args[0]
    qtbot.waitUntil(lambda: not controller.running, timeout=20000)
    controller.tracker_factory = lambda name, device: HoldTracker()
    with qtbot.waitSignal(controller.finished, timeout=20000) as blocker:
        assert controller.propagate(+1, mode="to_end")
    assert blocker.args == [False] and sorted(tracker_frames(store, tid)) == list(range(1, N))


def test_track_one_frame_and_between_keyframes(setup, qtbot):
    clip, state, store, tid, controller = setup
    store.put(tid, 0, FrameAnnotation(box=clip.box(0)))
    store.put(tid, 16, FrameAnnotation(box=clip.box(16)))
    with qtbot.waitSignal(controller.finished, timeout=20000):
        assert controller.track_one_frame(+1)
    assert sorted(tracker_frames(store, tid)) == [1] and state.current_frame == 1
    state.set_frame(8)
    with qtbot.waitSignal(controller.finished, timeout=60000) as blocker:
        assert controller.propagate_between_keyframes()
    assert blocker.args == [False]
    frames = tracker_frames(store, tid)
    assert sorted(frames) == list(range(1, 16))
    assert np.mean([iou(frames[f].box, clip.box(f)) for f in frames]) > 0.5
    # the next frame is a keyframe: nothing to do, said in a message, no run started
    state.set_frame(15)
    with qtbot.waitSignal(state.message, timeout=1000) as msg:
        assert not controller.propagate(+1, mode="to_keyframe")
    assert "nothing to propagate" in msg.args[0] and not controller.running
    # no keyframe after frame 20: "both ways" refuses with a message instead of starting
    state.set_frame(20)
    with qtbot.waitSignal(state.message, timeout=1000):
        assert not controller.propagate_between_keyframes()


def test_set_tracker_per_object(setup, qtbot):
    clip, state, store, tid, controller = setup
    store.put(tid, 0, FrameAnnotation(box=clip.box(0)))
    with qtbot.waitSignal(state.error, timeout=1000) as err:
        assert not controller.set_tracker(tid, "no-such-tracker", "cpu")
    assert "no-such-tracker" in err.args[0]
    assert controller.set_tracker(tid, "kcf", "cpu")
    assert controller.tracker_for(tid) == ("kcf", "cpu")
    assert [o.tracker for o in store.objects() if o.track_id == tid] == ["kcf"]
    with qtbot.waitSignal(controller.finished, timeout=20000):
        controller.propagate(+1, mode="range", stop=3)
    assert {a.source for a in tracker_frames(store, tid).values()} == {"tracker:kcf"}


def test_correction_ahead_of_the_run_is_picked_up_without_restart(setup, qtbot):
    clip, state, store, tid, controller = setup
    hold = HoldTracker(delay=0.01, gate_at=3)
    controller.tracker_factory = lambda name, device: hold
    first, corrected = (20.0, 20.0, 30.0, 30.0), (60.0, 50.0, 40.0, 30.0)
    store.put(tid, 0, FrameAnnotation(box=first))
    restarted = []
    controller.restarted.connect(lambda t, f: restarted.append(f))

    def correct_ahead(t, f):
        if f == 3:
            store.put(tid, 24, FrameAnnotation(box=corrected))
            state.humanEdit.emit(tid, 24)
            hold.gate.set()

    controller.frameDone.connect(correct_ahead)
    with qtbot.waitSignal(controller.finished, timeout=60000):
        controller.propagate(+1, mode="to_end")
    frames = store.frames(tid)
    assert restarted == [] and hold.reinits == 1      # the run re-initialised on the human frame itself
    assert all(frames[f].box == first for f in range(1, 24))
    assert frames[24].is_human and all(frames[f].box == corrected for f in range(25, N))


def test_correction_during_between_run_splits_it_at_the_corrected_frame(setup, qtbot):
    clip, state, store, tid, controller = setup
    store.put(tid, 0, FrameAnnotation(box=clip.box(0)))
    store.put(tid, 16, FrameAnnotation(box=clip.box(16)))
    restarted, finished = [], []
    controller.restarted.connect(lambda t, f: restarted.append(f))
    controller.finished.connect(finished.append)

    controller.tracker_factory = lambda name, device: SlowTracker(0.05)

    def correct(t, f):
        if f == 3 and not restarted:
            store.put(tid, 9, FrameAnnotation(box=clip.box(9)))
            state.humanEdit.emit(tid, 9)

    controller.frameDone.connect(correct)
    state.set_frame(5)
    assert controller.propagate_between_keyframes()
    qtbot.waitUntil(lambda: bool(finished), timeout=90000)
    assert finished == [False] and restarted == [0, 9]     # [0, 9] then [9, 16]
    frames = store.frames(tid)
    assert [f for f, a in frames.items() if a.is_human] == [0, 9, 16]
    assert sorted(f for f, a in frames.items() if not a.is_human) == [*range(1, 9), *range(10, 16)]
