"""Map docks: one dock per map name, live updates during a run, recall of past frames from the history."""
import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QSettings
from PySide6.QtWidgets import QMainWindow

from app.core.model import FrameAnnotation
from app.core.store import ProjectStore
from app.core.video import open_video
from app.gui.map_docks import MapDocks
from app.gui.map_history import MapHistory
from app.gui.propagation_controller import PropagationController
from app.gui.state import AppState
from trackers.base import BoxSet, ScoreMap, Tracker, TrackResult
from trackers.data.synthetic import SyntheticClip


class MapsTracker(Tracker):
    """Follows the synthetic box and reports a response map and candidate boxes that encode the frame index."""

    name = "maps-fake"
    delay = 0.0

    def _init(self, frame, box, mask, info):
        self.box, self.count = box, 0

    def track(self, frame, info=None):
        time.sleep(self.delay)
        self.count += 1
        response = np.full((5, 7), float(self.count), np.float32)
        response[2, 3] = self.count + 10.0
        cands = BoxSet(np.array([self.box, self.box], np.float32), np.array([0.9, 0.1 * (self.count % 5)]))
        return TrackResult(self.box, 0.8, maps={"response": ScoreMap(response, self.box, "fake response"),
                                                "candidates": cands})


@pytest.fixture
def app_setup(tmp_path, qtbot):
    clip = SyntheticClip(num_frames=24)
    path = clip.write_video(str(tmp_path / "clip.mp4"))
    store = ProjectStore.open(str(tmp_path / "p.taproj"), video_path=path)
    video = open_video(path)
    state = AppState()
    tid = store.add_object("target")
    store.put(tid, 0, FrameAnnotation(box=clip.box(0)))
    state.set_project(store, video)
    state.set_object(tid)
    window = QMainWindow()
    qtbot.addWidget(window)
    controller = PropagationController(state, history=MapHistory(max_frames=10, max_mb=50))
    controller.tracker_factory = lambda name, device: MapsTracker()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    docks = MapDocks(state, controller, window, settings=settings)
    yield state, store, tid, controller, docks, window, settings
    controller.shutdown()
    video.close()
    store.close()


def test_docks_appear_live_and_recall_history(app_setup, qtbot):
    state, store, tid, controller, docks, window, settings = app_setup
    with qtbot.waitSignal(controller.finished, timeout=20000) as blocker:
        assert controller.propagate(+1, mode="to_end")
    assert blocker.args == [False]
    # one dock per map name, tabified in the window
    assert set(docks.docks) == {"response", "candidates"}
    assert all(d.parent() is window for d in docks.docks.values())
    assert window.tabifiedDockWidgets(docks.docks["response"]) == [docks.docks["candidates"]]
    assert settings.value("map_docks/names") == ["response", "candidates"]
    # the history keeps only the last 10 frames (bounded), the docks recall any of them
    assert controller.history.frames(tid) == list(range(14, 24))
    state.set_frame(16)
    response = docks.docks["response"]
    assert response.frame == 16 and response.kind == "score"
    shown = response.score_view.image.image
    np.testing.assert_array_equal(shown, controller.history.get(tid, 16)["response"].data)
    assert shown[0, 0] == 16.0                   # frame 16 is the tracker's 16th track() call
    assert "[16 … 26] at frame 16" in response.toolTip() and "range [16, 26]" in response.info.text()
    cands = docks.docks["candidates"]
    assert cands.kind == "boxes" and cands.box_view.table.rowCount() == 2
    assert cands.box_view.table.item(0, 1).text() == "0.900"
    assert "2 boxes at frame 16" in cands.toolTip() and "2 candidate boxes" in cands.info.text()
    # an evicted frame says so instead of showing a stale map
    state.set_frame(3)
    assert response.frame is None and "not tracked yet" in response.info.text()


def test_overlay_choice_and_colormap(app_setup, qtbot):
    state, store, tid, controller, docks, window, settings = app_setup
    with qtbot.waitSignal(controller.finished, timeout=20000):
        controller.propagate(+1, mode="range", stop=4)
    response = docks.docks["response"]
    assert controller.overlay(tid, 3) is None          # nothing chosen yet
    response.overlay_button.setChecked(True)
    name, item = controller.overlay(tid, 3)
    assert name == "response" and isinstance(item, ScoreMap) and item.data[0, 0] == 3.0
    assert settings.value("map_docks/overlay") == "response"
    assert not docks.docks["candidates"].overlay_button.isEnabled()   # a BoxSet cannot be overlaid
    controller.set_overlay_map(None)
    assert not response.overlay_button.isChecked()
    response.colormap_box.setCurrentText("inferno")
    assert settings.value("map_docks/colormap/response") == "inferno"
    # hover readout: the cell under the mouse, its value and the frame pixel it covers
    window.resize(900, 600)
    window.show()
    qtbot.waitExposed(window)
    state.set_frame(3)
    response.raise_()
    qtbot.wait(50)
    view = response.score_view.view
    text = response.score_view.readout(view.mapViewToScene(QPointF(3.5, 2.5)))
    x, y, w, h = controller.history.get(tid, 3)["response"].region
    assert text == f"cell (2, 3) = 13 · frame pixel ({x + 3.5 * w / 7:.0f}, {y + 2.5 * h / 5:.0f})"


def test_docks_follow_the_run_live(app_setup, qtbot):
    state, store, tid, controller, docks, window, settings = app_setup
    slow = MapsTracker()
    slow.delay = 0.05
    controller.tracker_factory = lambda name, device: slow
    shown_while_running = []

    def watch():
        dock = docks.docks.get("response")
        if controller.running and dock is not None and dock.frame is not None:
            shown_while_running.append(dock.frame)
        return len(set(shown_while_running)) >= 3

    controller.propagate(+1, mode="to_end")
    qtbot.waitUntil(watch, timeout=20000)          # the dock moved on at least twice during the run
    assert state.current_frame == 0                # ... while the person stayed on frame 0
    assert shown_while_running == sorted(shown_while_running) and shown_while_running[-1] < 23
    with qtbot.waitSignal(controller.finished, timeout=20000):
        pass
    # turning "live" off shows the current frame's maps (frame 0 is the human keyframe: none)
    docks.docks["response"].live_box.setChecked(False)
    assert not docks.follow_live and docks.docks["candidates"].live_box.isChecked() is False
    assert docks.docks["response"].frame is None


def test_map_history_bounds_and_settings(tmp_path):
    from app.gui.propagation_controller import history_from_settings

    history = MapHistory(max_frames=100, max_mb=1.0)        # 1 MB: room for four 250x250 float maps (250 kB)
    for f in range(5):
        history.put(7, f, {"big": ScoreMap(np.full((250, 250), f, np.float32), (0, 0, 10, 10))})
    assert history.frames(7) == [1, 2, 3, 4] and history.nbytes <= 1024 * 1024
    assert history.get(7, 0) is None and history.get(7, 3)["big"].data[0, 0] == 3
    history.get(7, 1)                                       # used: now the most recent
    history.put(7, 5, {"big": ScoreMap(np.zeros((250, 250), np.float32), (0, 0, 10, 10))})
    assert history.frames(7) == [1, 3, 4, 5]                # least recently used (2) went first
    history.discard(7, {3})
    assert history.frames(7) == [1, 4, 5]
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    settings.setValue("map_history/max_frames", 42)
    settings.setValue("map_history/max_mb", 12.5)
    h = history_from_settings(settings)
    assert (h.max_frames, h.max_bytes) == (42, int(12.5 * 1024 * 1024))
    settings.setValue("map_history/max_frames", "lots")
    assert history_from_settings(settings).max_frames == 300


def test_docks_say_when_the_active_object_has_no_such_map(app_setup, qtbot):
    state, store, tid, controller, docks, window, settings = app_setup
    with qtbot.waitSignal(controller.finished, timeout=20000):
        controller.propagate(+1, mode="range", stop=2)
    other = store.add_object("other")
    state.set_object(other)
    assert "tracker has produced no 'response' map" in docks.docks["response"].info.text()
    state.set_object(tid)
    state.set_frame(2)
    assert docks.docks["response"].frame == 2
