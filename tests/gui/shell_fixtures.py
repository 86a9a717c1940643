"""Fixtures shared by the shell tests (tests/gui/test_shell_*.py)."""
import shutil

import pytest
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtTest import QTest

from trackers.data.synthetic import SyntheticClip

CLIP_ARGS = dict(width=320, height=240, num_frames=24, seed=3)


@pytest.fixture(scope="session")
def clip():
    return SyntheticClip(**CLIP_ARGS)


@pytest.fixture(scope="session")
def master_video(tmp_path_factory, clip):
    return clip.write_video(str(tmp_path_factory.mktemp("shell_clip") / "clip.mp4"))


@pytest.fixture
def video_path(tmp_path, master_video):
    """A fresh copy per test: the project lives next to the video."""
    path = tmp_path / "clip.mp4"
    shutil.copy(master_video, path)
    return str(path)


def make_window(qtbot, tmp_path):
    from app.gui.main_window import MainWindow

    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


@pytest.fixture
def opened(window, video_path):
    assert window.open_path(video_path), window.errors
    return window


def view_point(window, x, y):
    """Widget coordinates (of the graphics viewport) of image pixel (x, y)."""
    fv = window.frame_view
    scene = fv.vb.mapViewToScene(QPointF(x, y))
    return fv.graphics.mapFromScene(scene)


def drag(qtbot, window, start, end, steps=6):
    """A real left-button drag on the frame view, from image pixel ``start`` to ``end``."""
    vp = window.frame_view.graphics.viewport()
    p0, p1 = view_point(window, *start), view_point(window, *end)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p0)
    for i in range(1, steps + 1):
        t = i / steps
        p = p0 + (p1 - p0) * t
        QTest.mouseMove(vp, p.toPoint() if hasattr(p, "toPoint") else p)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p1)
