"""Shell: drawing and editing boxes and masks, undo/redo, absent, delete-one-frame, box -> mask."""
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.core.model import decode_mask
from shell_fixtures import clip, drag, make_window, master_video, opened, video_path, window  # noqa: F401


def test_mouse_drag_draws_a_human_box_and_undo_redo_work(opened, qtbot):
    w = opened
    w.new_object()
    tid = w.state.current_object
    with qtbot.waitSignal(w.state.humanEdit, timeout=3000) as edit:
        drag(qtbot, w, (40, 50), (120, 110))
    assert edit.args == [tid, 0]
    ann = w.state.store.get(tid, 0)
    assert ann.source == "human" and not ann.absent
    x, y, bw, bh = ann.box
    assert abs(x - 40) < 2 and abs(y - 50) < 2 and abs(bw - 80) < 3 and abs(bh - 60) < 3
    assert w.state.store.keyframes(tid) == [0]
    w.undo()
    assert w.state.store.get(tid, 0) is None
    w.redo()
    assert w.state.store.get(tid, 0).box == ann.box
    # the current object's box gets handles once the view redraws
    qtbot.waitUntil(lambda: w.frame_view.layer.roi is not None, timeout=2000)
    assert w.frame_view.layer.roi.box() == ann.box


def test_drawing_without_an_object_creates_one_with_a_fresh_id(opened):
    w = opened
    assert w.state.current_object == -1
    assert w.frame_view.commit_box((10, 10, 30, 30))
    first = w.state.current_object
    assert first >= 0 and w.state.store.get(first, 0) is not None
    w.delete_object()
    w.new_object()
    assert w.state.current_object not in (-1, first)     # track ids are never reused


def test_editing_the_box_handles_writes_one_undo_step(opened, qtbot):
    w = opened
    w.frame_view.commit_box((20, 20, 40, 40))
    tid = w.state.current_object
    qtbot.waitUntil(lambda: w.frame_view.layer.roi is not None, timeout=2000)
    roi = w.frame_view.layer.roi
    roi.setSize((60, 50))            # emits sigRegionChangeFinished like a handle drag
    assert w.state.store.get(tid, 0).box == (20.0, 20.0, 60.0, 50.0)
    w.undo()
    assert w.state.store.get(tid, 0).box == (20.0, 20.0, 40.0, 40.0)


def test_delete_removes_the_annotation_on_this_frame_only(opened, qtbot):
    w = opened
    fv, store = w.frame_view, w.state.store
    fv.commit_box((10, 10, 30, 30))
    tid = w.state.current_object
    w.state.set_frame(5)
    fv.show_frame_now(5)
    fv.commit_box((50, 50, 30, 30))
    assert sorted(store.frames(tid)) == [0, 5]
    w.actions_by_name["delete_frame"].trigger()
    assert store.get(tid, 5) is None
    assert store.get(tid, 0) is not None and [o.track_id for o in store.objects()] == [tid]
    w.undo()
    assert store.get(tid, 5) is not None


def test_absent_flag_toggles_on_the_current_frame(opened):
    w = opened
    w.frame_view.commit_box((10, 10, 30, 30))
    tid = w.state.current_object
    w.actions_by_name["absent"].trigger()
    ann = w.state.store.get(tid, 0)
    assert ann.absent and ann.box is None and ann.source == "human"
    assert w.objects_panel.absent_check.isChecked()
    w.actions_by_name["absent"].trigger()
    assert w.state.store.get(tid, 0) is None
    assert not w.objects_panel.absent_check.isChecked()


def test_box_to_mask_stays_inside_the_box_and_finds_the_target(opened, clip):
    w = opened
    x, y, bw, bh = clip.box(0)
    box = (x - 4, y - 4, bw + 8, bh + 8)
    w.frame_view.commit_box(box)
    tid = w.state.current_object
    w.actions_by_name["box_to_mask"].trigger()
    ann = w.state.store.get(tid, 0)
    mask = decode_mask(ann.mask_rle)
    ys, xs = np.nonzero(mask)
    assert len(xs) > 0
    assert xs.min() >= int(box[0]) and xs.max() < box[0] + box[2] + 1
    assert ys.min() >= int(box[1]) and ys.max() < box[1] + box[3] + 1
    truth = clip.mask(0)
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.6, iou
    assert ann.box == (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1))


def test_brush_eraser_and_polygon_edit_the_mask(opened):
    w = opened
    fv = w.frame_view
    w.actions_by_name["tool_brush"].trigger()
    assert fv.tool.name == "brush"
    fv.tool.stroke([(50, 50), (90, 50)])                   # creates the object on demand
    tid = w.state.current_object
    mask = decode_mask(w.state.store.get(tid, 0).mask_rle)
    assert mask[50, 70] and not mask[80, 70]
    area_painted = mask.sum()
    w.actions_by_name["tool_eraser"].trigger()
    fv.tool.stroke([(70, 40), (70, 60)])
    mask = decode_mask(w.state.store.get(tid, 0).mask_rle)
    assert not mask[50, 70] and mask[50, 50] and mask.sum() < area_painted
    w.actions_by_name["tool_polygon"].trigger()
    for px, py in ((150, 100), (200, 100), (200, 150)):
        fv.tool.click(px, py, Qt.MouseButton.LeftButton, False, Qt.KeyboardModifier.NoModifier)
    fv.tool.key(Qt.Key.Key_Return)
    mask = decode_mask(w.state.store.get(tid, 0).mask_rle)
    assert mask[110, 190] and not mask[140, 160] and mask[50, 50]   # triangle added, earlier paint kept
    w.undo()
    assert not decode_mask(w.state.store.get(tid, 0).mask_rle)[110, 190]


def test_keyboard_shortcuts_navigate_and_edit(opened, qtbot):
    w = opened
    w.activateWindow()
    w.frame_view.graphics.setFocus()
    qtbot.waitUntil(lambda: w.isActiveWindow(), timeout=2000)
    QTest.keyClick(w.frame_view.graphics, Qt.Key.Key_D)
    QTest.keyClick(w.frame_view.graphics, Qt.Key.Key_D)
    assert w.state.current_frame == 2
    QTest.keyClick(w.frame_view.graphics, Qt.Key.Key_A)
    assert w.state.current_frame == 1
    QTest.keyClick(w.frame_view.graphics, Qt.Key.Key_N)
    assert w.state.current_object >= 0
    qtbot.waitUntil(lambda: w.frame_view.shown_index == 1, timeout=3000)   # decoded off the GUI thread
    w.frame_view.commit_box((30, 30, 40, 40))
    QTest.keyClick(w.frame_view.graphics, Qt.Key.Key_Delete)
    assert w.state.store.get(w.state.current_object, 1) is None
    QTest.keyClick(w.frame_view.graphics, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.state.store.get(w.state.current_object, 1) is not None
