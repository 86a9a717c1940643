"""Shell: opening, reopening, broken files, export/import, the objects panel, frame loading, errors."""
import os
import sys

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app.core.errors import VideoError
from app.core import formats
from app.core.formats import coco
from app.gui.application import error_text, install_excepthook
from app.gui.dialogs.recent_files import RecentFiles
from app.gui.frame_loader import FrameLoader
from shell_fixtures import clip, make_window, master_video, opened, video_path, window  # noqa: F401


def test_open_creates_the_project_beside_the_video_and_shows_frame_0(opened, video_path, clip):
    w = opened
    assert w.state.store.path == video_path + ".taproj" and os.path.exists(video_path + ".taproj")
    assert w.frame_view.shown_index == 0
    frame = w.frame_view.frame
    assert frame.shape == (240, 320, 3)
    assert np.abs(frame.astype(int) - clip.frame(0).astype(int)).mean() < 12   # RGB, not BGR
    assert video_path in w.recent.paths()[0]


def test_reopening_finds_annotations_frame_and_object(qtbot, tmp_path, video_path):
    w = make_window(qtbot, tmp_path)
    assert w.open_path(video_path)
    w.frame_view.commit_box((10, 10, 30, 30))
    first = w.state.current_object
    w.new_object()
    w.state.set_frame(7)
    w.frame_view.show_frame_now(7)
    w.frame_view.commit_box((60, 40, 20, 25))
    second = w.state.current_object
    w.objects_panel.set_category(second, "car")
    w.close()

    w2 = make_window(qtbot, tmp_path)
    assert w2.open_path(video_path + ".taproj")          # the project file opens too
    store = w2.state.store
    assert [o.track_id for o in store.objects()] == [first, second]
    assert store.get(first, 0).box == (10.0, 10.0, 30.0, 30.0)
    assert store.get(second, 7).box == (60.0, 40.0, 20.0, 25.0)
    assert w2.state.current_frame == 7 and w2.state.current_object == second
    assert store.objects()[1].category == "car"


def test_a_broken_video_shows_an_error_and_the_window_lives_on(window, tmp_path, video_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video at all" * 100)
    assert not window.open_path(str(bad))
    assert window.errors and "broken.mp4" in window.errors[-1]
    assert window.state.store is None and not os.path.exists(str(bad) + ".taproj")
    assert not window.open_path(str(tmp_path / "missing.mp4"))
    assert "missing.mp4" in window.errors[-1]
    assert window.open_path(video_path)                    # still usable afterwards


def test_export_coco_through_the_core_and_import_it_back(qtbot, tmp_path, opened, clip):
    w = opened
    fv = w.frame_view
    fv.commit_box(clip.box(0))
    fv.box_to_mask()
    tid = w.state.current_object
    w.state.set_frame(3)
    fv.show_frame_now(3)
    fv.commit_box(clip.box(3))
    w.objects_panel.set_category(tid, "blob")
    out = str(tmp_path / "out.coco.json")
    assert w.run_export("coco", out)
    videos = coco.read(out)
    assert len(videos) == 1 and videos[0].num_frames == 24
    (obj,) = videos[0].objects
    assert obj.category == "blob" and sorted(obj.frames) == [0, 3]
    assert np.allclose(obj.frames[3].box, clip.box(3), atol=0.5)
    assert obj.frames[0].mask_rle is not None

    # import into a fresh project of a copy of the same clip
    other = tmp_path / "other"
    other.mkdir()
    copy = other / "clip.mp4"
    copy.write_bytes(open(w.state.video.path, "rb").read())
    w2 = make_window(qtbot, other)
    assert w2.open_path(str(copy))
    assert w2.run_import("coco", out) == 1
    (imported,) = w2.state.store.objects()
    assert imported.category == "blob"
    assert np.allclose(w2.state.store.get(imported.track_id, 3).box, clip.box(3), atol=0.5)
    assert w2.objects_panel.tree.topLevelItemCount() == 1


@pytest.mark.parametrize("key, name", [("youtube-vis", "out.json"), ("got10k", "seq")])
def test_export_other_formats_through_the_core(opened, tmp_path, clip, key, name):
    w = opened
    w.frame_view.commit_box(clip.box(0))
    out = str(tmp_path / name)
    assert w.run_export(key, out), w.errors
    (va,) = formats.get(key).read(out)
    boxes = [ann.box for obj in va.objects for f, ann in obj.frames.items() if f == 0]
    assert len(boxes) == 1 and np.allclose(boxes[0], clip.box(0), atol=0.5)


def test_a_malformed_import_is_reported_and_changes_nothing(opened, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"videos": 5}')
    assert opened.run_import("coco", str(bad)) == 0
    assert "bad.json" in opened.errors[-1]
    assert opened.state.store.objects() == []


def test_objects_panel_sets_category_colour_visibility_and_tracker(opened):
    w = opened
    w.new_object()
    tid = w.state.current_object
    panel = w.objects_panel
    panel.set_colour(tid, "#123456")
    panel.set_visible(tid, False)
    panel.set_tracker(tid, "kcf", "cpu")
    obj = w.state.store.objects()[0]
    assert (obj.color, obj.visible, obj.tracker) == ("#123456", False, "kcf")
    assert panel.device_of(tid) == "cpu"
    if w.controller is not None:
        assert w.controller.tracker_for(tid)[0] == "kcf"
    import torch
    assert panel.device_combo.model().item(1).isEnabled() == torch.cuda.is_available()
    # hidden objects are not drawn
    w.frame_view.commit_box((10, 10, 30, 30))
    w.frame_view.redraw_now()
    assert w.frame_view.layer.roi is None


def test_frame_loader_drops_stale_requests(qtbot, video_path):
    from app.core.video import open_video

    video = open_video(video_path)
    loader = FrameLoader(video)
    shown = []
    loader.frameReady.connect(lambda i, f: shown.append(i))
    try:
        with loader._cond:            # a burst the worker cannot start on before it ends (scrubbing)
            for i in range(0, 24):
                loader.request(i)
        qtbot.waitUntil(lambda: bool(shown), timeout=5000)
        qtbot.wait(50)
        assert shown == [23]          # the stale requests were dropped, the newest won
    finally:
        loader.close()
        video.close()


def test_recent_files_persist_in_settings(tmp_path):
    settings = QSettings(str(tmp_path / "r.ini"), QSettings.Format.IniFormat)
    recent = RecentFiles(settings)
    for name in ("a.mp4", "b.mp4", "a.mp4"):
        recent.add(str(tmp_path / name))
    again = RecentFiles(QSettings(str(tmp_path / "r.ini"), QSettings.Format.IniFormat))
    assert [os.path.basename(p) for p in again.paths()] == ["a.mp4", "b.mp4"]


def test_uncaught_exceptions_become_messages_not_exits(window):
    old_hook = sys.excepthook
    try:
        install_excepthook(lambda: window)
        try:
            raise RuntimeError("slot blew up")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
        assert "slot blew up" in window.errors[-1]
        assert window.isVisible()
    finally:
        sys.excepthook = old_hook
    assert error_text(VideoError, VideoError("x.mp4: bad"), None) == "x.mp4: bad"
    assert "out of memory" in error_text(MemoryError, MemoryError(), None)


def test_the_chosen_map_is_drawn_over_its_region(opened):
    from trackers.base import ScoreMap

    class FakeController:
        def overlay(self, track_id, frame):
            return ("response", ScoreMap(np.arange(12, dtype=np.float32).reshape(3, 4), (40, 30, 80, 60)))

    w = opened
    w.frame_view.commit_box((50, 40, 30, 30))
    w.frame_view.controller = FakeController()
    w.frame_view.update_map_overlay()
    item = w.frame_view.layer.map_item
    assert item.isVisible() and w.frame_view.map_label.text() == "map: response"
    rect = item.mapRectToParent(item.boundingRect())
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == (40, 30, 80, 60)
    w.toggle_map()
    assert not item.isVisible()


def test_play_advances_frames_and_stops_at_the_end(opened, qtbot):
    w = opened
    w.state.set_frame(20)
    w.player.play()
    qtbot.waitUntil(lambda: not w.player.playing, timeout=5000)
    assert w.state.current_frame == 23
