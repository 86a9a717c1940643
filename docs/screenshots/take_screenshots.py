"""Regenerate the README screenshots from a real window.

    xvfb-run -s "-screen 0 1600x1000x24" python docs/screenshots/take_screenshots.py

Opens a copy of the sample clip (so no project is written into resources/),
draws the target's box on frame 0, turns it into a mask with GrabCut,
propagates with CSRT and grabs the window; then re-runs the first 40 frames
with GSTP to show its maps in the docks and its motion heatmap over the frame.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
OUT = os.path.join(ROOT, "docs", "screenshots")


def wait(app, ms: int) -> None:
    loop_done = []
    QTimer.singleShot(ms, lambda: loop_done.append(1))
    while not loop_done:
        app.processEvents()


def propagate_and_wait(app, controller, stop: int) -> None:
    """Propagate forward to ``stop`` and keep the event loop running until the run ends."""
    done = []

    def on_finished(_cancelled) -> None:
        done.append(1)

    controller.finished.connect(on_finished)
    controller.propagate(+1, "range", stop=stop)
    while not done:
        wait(app, 50)
    controller.finished.disconnect(on_finished)   # only ours: the window's own slots stay connected


def save_small(widget, name: str, width: int = 1100) -> None:
    """Grab, shrink and save as a 256-colour PNG: the README should stay light."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    image = widget.grab().toImage()
    if image.width() > width:
        image = image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
    image = image.convertToFormat(QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.DiffuseDither)
    image.save(os.path.join(OUT, name), "PNG", 0)


def main() -> None:
    app = QApplication(sys.argv[:1])
    from app.gui.main_window import MainWindow

    work = tempfile.mkdtemp(prefix="ta_shots_")
    video = shutil.copy(os.path.join(ROOT, "resources", "samples", "sample.mp4"), work)
    w = MainWindow(QSettings(os.path.join(work, "settings.ini"), QSettings.Format.IniFormat))
    w.resize(1500, 920)
    w.show()
    assert w.open_path(video), w.errors
    wait(app, 300)
    first_box = tuple(float(v) for v in open(os.path.join(ROOT, "resources", "samples",
                                                          "sample.groundtruth.txt")).readline().split(","))
    w.frame_view.commit_box(first_box)
    w.objects_panel.set_category(w.state.current_object, "blob")
    w.objects_panel.set_colour(w.state.current_object, "#42d4f4")   # a colour the red blob does not have
    w.frame_view.box_to_mask()
    if w.controller is not None:
        propagate_and_wait(app, w.controller, 60)
    w.state.set_frame(45)
    wait(app, 500)
    save_small(w, "main_window.png")
    w.state.set_frame(0)
    w.actions_by_name["tool_brush"].trigger()
    wait(app, 400)
    w.frame_view.tool.hover(*(first_box[0] + first_box[2] / 2, first_box[1] + first_box[3] / 2))
    wait(app, 100)
    save_small(w.frame_view, "mask_editing.png", 800)
    if w.controller is not None:
        # What a tracker "sees": GSTP's whole-frame maps in the docks, its motion heatmap over the frame.
        w.actions_by_name["tool_box"].trigger()
        tid = w.state.current_object
        w.controller.set_tracker(tid, "gstp", "cpu")
        w.controller.set_overlay_map("motion_heatmap")
        propagate_and_wait(app, w.controller, 40)
        w.state.set_frame(38)
        wait(app, 800)
        save_small(w, "tracker_maps.png")
    w.close()
    print("wrote", os.listdir(OUT))


if __name__ == "__main__":
    main()
