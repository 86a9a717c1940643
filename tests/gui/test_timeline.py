"""Timeline: strips follow the store incrementally, navigation lands on the right frames, clicks seek."""
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from app.core.model import FrameAnnotation
from app.core.store import ProjectStore
from app.core.video import open_video
from app.gui.propagation_controller import PropagationController
from app.gui.state import AppState
from app.gui.timeline import FAILED, HUMAN, INTERP, LABEL_W, TRACKER, TRACKER_LOW, TimelineWidget
from trackers.data.synthetic import SyntheticClip


@pytest.fixture
def project(tmp_path, qtbot):
    path = SyntheticClip(num_frames=40).write_video(str(tmp_path / "clip.mp4"))
    store = ProjectStore.open(str(tmp_path / "p.taproj"), video_path=path)
    video = open_video(path)
    state = AppState()
    tid = store.add_object("car")
    state.set_project(store, video)
    state.set_object(tid)
    controller = PropagationController(state)
    timeline = TimelineWidget(state, controller)
    qtbot.addWidget(timeline)
    timeline.resize(800, 200)
    yield state, store, tid, timeline, controller
    controller.shutdown()
    video.close()
    store.close()


def tracker_ann(score):
    return FrameAnnotation(box=(10, 10, 20, 20), score=score, source="tracker:csrt")


def test_strips_update_incrementally_and_navigation(project, qtbot):
    state, store, tid, timeline, _ = project
    store.put(tid, 5, FrameAnnotation(box=(1, 1, 10, 10)))
    store.put(tid, 30, FrameAnnotation(box=(1, 1, 10, 10)))
    for f in range(6, 30):
        store.put(tid, f, tracker_ann(0.2 if f in (12, 13, 25) else 0.9))
    store.put(tid, 31, FrameAnnotation(box=(1, 1, 10, 10), source="interpolated"))
    strip = timeline.strips[0]
    # the store listener -> annotationsChanged -> strip codes, without a reload
    qtbot.waitUntil(lambda: strip.codes[31] == INTERP, timeout=2000)
    assert strip.codes[5] == HUMAN and strip.codes[30] == HUMAN and strip.codes[7] == TRACKER
    codes = strip.effective_codes(timeline.threshold, ())
    assert codes[12] == TRACKER_LOW and codes[14] == TRACKER

    assert timeline.jump_next_keyframe() == 5 and state.current_frame == 5
    assert timeline.jump_next_low_score() == 12
    state.set_frame(13)
    assert timeline.jump_next_low_score() == 25
    assert timeline.jump_next_keyframe() == 30
    assert timeline.jump_next_keyframe() is None and state.current_frame == 30
    assert timeline.jump_prev_keyframe() == 5
    # raising the threshold makes every tracker frame a review frame
    timeline.threshold_line.setValue(0.95)
    assert timeline.threshold == pytest.approx(0.95)
    state.set_frame(13)
    assert timeline.jump_next_low_score() == 14

    store.delete(tid, 31)
    qtbot.waitUntil(lambda: strip.codes[31] == 0, timeout=2000)


def test_failed_frames_are_review_frames(project, qtbot):
    state, store, tid, timeline, controller = project
    controller._failed[tid] = {17}
    state.set_frame(0)
    assert timeline.jump_next_low_score() == 17
    assert timeline.strips[0].effective_codes(0.5, controller.failed_frames(tid))[17] == FAILED


def test_click_and_drag_on_strips_seeks_and_scrubber_follows(project, qtbot):
    state, store, tid, timeline, _ = project
    timeline.show()
    view = timeline.strips_view
    qtbot.waitExposed(timeline)
    x = int(view.x_of(20))
    qtbot.mouseClick(view, Qt.LeftButton, pos=QPoint(x, 8))
    assert state.current_frame == 20
    assert timeline.slider.value() == 20 and timeline.spin.value() == 20
    assert timeline.playhead.value() == 20
    timeline.spin.setValue(33)
    assert state.current_frame == 33
    # a click in the score plot seeks to the frame under the mouse
    timeline.resize(900, 300)
    qtbot.wait(50)
    vb = timeline.plot.getPlotItem().getViewBox()
    vb.setXRange(0, 39, padding=0)
    qtbot.wait(20)
    scene_pos = vb.mapViewToScene(QPointF(12, 0.3))
    qtbot.mouseClick(timeline.plot.viewport(), Qt.LeftButton, pos=timeline.plot.mapFromScene(scene_pos))
    assert state.current_frame == 12
    # painting a long video stays column-based: the strip image is at most as wide as the widget
    img = timeline.strips[0].image(200, 0.5, ())
    assert img.width() <= 200
    assert LABEL_W < x < view.width()


def test_long_video_strip_keeps_single_frame_events_visible():
    from app.gui.timeline import ObjectStrip

    strip = ObjectStrip(1, 100_000, "#3cb44b")
    anns = {f: tracker_ann(0.9) for f in range(0, 100_000, 3)}
    anns[50_001] = FrameAnnotation(box=(1, 1, 5, 5))            # one human keyframe among 33k tracker frames
    strip.update(anns)
    codes = strip.effective_codes(0.5, {70_000})
    assert codes[50_001] == HUMAN and codes[70_000] == FAILED
    img = strip.image(500, 0.5, {70_000})
    assert img.width() == 500
    # the column holding the keyframe shows the human colour at full height (row 0 is only painted for human/failed)
    col_h, col_f = 50_001 * 500 // 100_000, 70_000 * 500 // 100_000
    assert img.pixelColor(col_h, 0).alpha() == 255 and img.pixelColor(col_h, 0).red() == 0x3c
    assert img.pixelColor(col_f, 0).red() == 230
    assert img.pixelColor(col_h + 3, 0).alpha() == 0        # plain tracker columns leave the top row empty
