"""The frame view shows the loader's previews: marked, at the original geometry, never as the frame tools edit."""
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QRectF

from app.core.model import FrameAnnotation
from app.core.proxy import build_proxy
from app.core.store import ProjectStore
from app.core.video import open_video
from app.gui.frame_view import FrameView
from app.gui.state import AppState
from trackers.data.synthetic import SyntheticClip

WIDTH, HEIGHT = 320, 240
BOX = (40, 30, 60, 50)


@pytest.fixture
def view(tmp_path, qtbot):
    path = SyntheticClip(width=WIDTH, height=HEIGHT, num_frames=60, seed=5).write_video(str(tmp_path / "clip.mp4"))
    video = open_video(path)
    build_proxy(video, max_height=120, quality=90)       # half resolution, like a 720-line proxy of 1440p
    store = ProjectStore.open(str(tmp_path / "p.taproj"), video_path=path)
    track_id = store.add_object("car")
    state = AppState()
    fv = FrameView(state)
    qtbot.addWidget(fv)
    fv.resize(640, 480)
    state.set_project(store, video)                      # shows frame 0 synchronously
    state.set_object(track_id)
    gates = []
    v = SimpleNamespace(state=state, store=store, track_id=track_id, fv=fv, video=video, gates=gates)
    try:
        yield v
    finally:
        for gate in gates:
            gate.set()
        fv.close_project()
        video.close()
        store.close()


def hold_decode(v, index):
    """The loader's decode of frame ``index`` waits until the returned event is set (a slow seek, on demand)."""
    gate = threading.Event()
    v.gates.append(gate)
    ours = v.fv.loader._video
    real = ours._decode
    ours._decode = lambda i, cancel: (gate.wait(5) if i == index else None, real(i, cancel))[1]
    return gate


def image_rect(fv):
    """Where the image item lies in frame coordinates."""
    return fv.image_item.mapRectToParent(fv.image_item.boundingRect())


def drawn_boxes(fv):
    return [(r.x(), r.y(), r.width(), r.height()) for r in (i.rect() for i in fv.layer._items if hasattr(i, "rect"))]


def test_proxy_preview_is_marked_read_only_and_replaced_by_the_exact_frame(view, qtbot):
    fv, state = view.fv, view.state
    view.store.put(view.track_id, 50, FrameAnnotation(box=BOX))
    first = fv.frame
    assert fv.loader.proxy is not None and fv.shown_index == 0 and fv.preview_marker.text == ""
    gate = hold_decode(view, 50)
    state.set_frame(50)
    qtbot.waitUntil(lambda: fv.preview is not None, timeout=5000)

    assert fv.preview == (50, 50, "proxy")
    assert fv.preview_marker.text == "preview: proxy"
    assert image_rect(fv) == QRectF(0, 0, WIDTH, HEIGHT)
    shown = fv.image_item.image
    assert np.array_equal(shown, fv.loader.proxy.read(50))
    # The tools' frame is still the exact frame 0, not the proxy's pixels.
    assert fv.shown_index == 0 and fv.frame is first and not np.array_equal(fv.frame, shown)
    # Frame 50's box is drawn over its proxy, read only; edits wait for the exact frame.
    assert drawn_boxes(fv) == [BOX] and fv.layer.roi is None
    assert not fv.commit_box((5, 5, 20, 20)) and fv.working_mask() is None
    assert view.store.get(view.track_id, 0) is None and view.store.get(view.track_id, 50).box == BOX

    gate.set()
    qtbot.waitUntil(lambda: fv.shown_index == 50, timeout=5000)
    assert fv.preview is None and fv.preview_marker.text == ""
    assert np.array_equal(fv.image_item.image, fv.frame) and np.array_equal(fv.frame, view.video.read(50))
    assert image_rect(fv) == QRectF(0, 0, WIDTH, HEIGHT)
    assert fv.layer.roi is not None and fv.layer.roi.box() == BOX      # editable again
    assert fv.commit_box((5, 5, 20, 20)) and view.store.get(view.track_id, 50).box == (5, 5, 20, 20)


def test_a_smaller_nearest_preview_is_stretched_and_shows_no_annotations(view, qtbot):
    fv, state = view.fv, view.state
    view.store.put(view.track_id, 40, FrameAnnotation(box=BOX))
    view.store.put(view.track_id, 12, FrameAnnotation(box=(1, 1, 9, 9)))
    hold_decode(view, 40)
    state.set_frame(40)
    small = np.full((HEIGHT // 2, WIDTH // 2, 3), 7, np.uint8)
    fv.loader.previewReady.emit(40, 12, small, "nearest")     # delivered at once: same thread

    assert fv.preview == (40, 12, "nearest")
    assert fv.preview_marker.text == "preview: frame 12"
    assert np.array_equal(fv.image_item.image, small) and image_rect(fv) == QRectF(0, 0, WIDTH, HEIGHT)
    assert fv.shown_index == 0 and fv.frame.shape == (HEIGHT, WIDTH, 3)
    # Another frame's pixels: neither frame 40's nor frame 12's boxes are drawn.
    assert drawn_boxes(fv) == [] and fv.layer.roi is None


def test_stale_and_late_previews_change_nothing(view, qtbot):
    fv, state = view.fv, view.state
    first = fv.frame
    junk = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    fv.loader.previewReady.emit(0, 0, junk, "proxy")          # frame 0 is already exact on screen
    fv.loader.previewReady.emit(33, 33, junk, "proxy")        # a frame the person is not on
    assert fv.preview is None and fv.preview_marker.text == "" and np.array_equal(fv.image_item.image, first)

    gate = hold_decode(view, 45)
    state.set_frame(45)
    fv.loader.previewReady.emit(44, 44, junk, "proxy")        # the person moved on from 44
    assert fv.preview is None and np.array_equal(fv.image_item.image, first)
    gate.set()
    qtbot.waitUntil(lambda: fv.shown_index == 45, timeout=5000)
    exact = fv.frame
    fv.loader.previewReady.emit(45, 45, junk, "proxy")        # after its exact frame
    qtbot.wait(50)
    assert fv.preview is None and fv.preview_marker.text == "" and np.array_equal(fv.image_item.image, exact)
