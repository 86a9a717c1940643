"""The GUI under failure: a tracker crash is shown and the window lives on; a killed GUI loses no edit.

Uses only the main window's public surface (``open_path``, ``editor``,
``controller``, ``errors``); nothing in app/gui is changed for the test.
"""
import random
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest
from PySide6.QtCore import QSettings

from crash_harness import ENV, ROOT, integrity, kill_after
from app.core.store import ProjectStore
from trackers.base import Tracker, TrackResult
from trackers.data.synthetic import SyntheticClip

N = 24


class FailsOnFourthFrame(Tracker):
    name = "fails-on-fourth"

    def _init(self, frame, box, mask, info):
        self.box, self.calls = box, 0

    def track(self, frame, info=None):
        self.calls += 1
        if self.calls == 4:
            raise RuntimeError("tracker crashed on purpose")
        return TrackResult(self.box, 0.8)


class HoldBox(FailsOnFourthFrame):
    def track(self, frame, info=None):
        return TrackResult(self.box, 0.8)


@pytest.fixture(scope="module")
def master_video(tmp_path_factory):
    return SyntheticClip(num_frames=N, seed=8).write_video(str(tmp_path_factory.mktemp("gui_rel") / "clip.mp4"))


def test_main_window_shows_a_tracker_crash_and_keeps_working(qtbot, tmp_path, master_video):
    from app.gui.main_window import MainWindow

    video = str(tmp_path / "clip.mp4")
    shutil.copy(master_video, video)
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    assert window.open_path(video), window.errors
    controller, store = window.controller, window.state.store
    tid = window.editor.add_object("target")
    assert window.editor.set_box(tid, 0, (40.0, 40.0, 30.0, 30.0))
    controller.tracker_factory = lambda name, device: FailsOnFourthFrame()
    with qtbot.waitSignal(controller.failed, timeout=30000):
        assert controller.propagate(+1, mode="to_end")
    qtbot.waitUntil(lambda: not controller.running, timeout=30000)
    assert window.isVisible()
    assert any("tracker crashed on purpose" in e and "frame 4" in e for e in window.errors), window.errors
    assert sorted(store.frames(tid)) == [0, 1, 2, 3]           # the good prefix, nothing after the failure
    # The window still works: an edit and a healthy run afterwards.
    assert window.editor.set_box(tid, 10, (50.0, 40.0, 30.0, 30.0))
    controller.tracker_factory = lambda name, device: HoldBox()
    with qtbot.waitSignal(controller.finished, timeout=30000) as finished:
        assert controller.propagate(+1, mode="to_end")
    assert finished.args == [False]
    assert sorted(store.frames(tid)) == list(range(N)) and store.keyframes(tid) == [0, 10]


GUI_SESSION = textwrap.dedent("""
    import sys, time
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from app.gui.main_window import MainWindow
    video, settings = sys.argv[1], sys.argv[2]
    w = MainWindow(QSettings(settings, QSettings.Format.IniFormat))
    w.show()
    assert w.open_path(video), w.errors
    target = w.editor.add_object("target")
    w.editor.set_box(target, 0, (40.0, 40.0, 30.0, 30.0))
    w.controller.propagate(+1, mode="to_end")
    other = w.editor.add_object("other")
    print("ready", w.state.store.path, flush=True)
    for k in range(10 ** 6):          # a person editing while the tracker runs, until the kill
        frame = k %% %(frames)d
        w.editor.set_box(other, frame, (float(k %% 200), 10.0, 20.0, 20.0))
        print("edit", frame, k %% 200, flush=True)
        app.processEvents()
        time.sleep(0.01)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("seed", range(1))
def test_killed_gui_keeps_every_acknowledged_edit(tmp_path, master_video, seed):
    video = str(tmp_path / "clip.mp4")
    shutil.copy(master_video, video)
    script = tmp_path / "session.py"
    script.write_text(GUI_SESSION % {"frames": N})
    env = {**ENV, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, str(script), video, str(tmp_path / "settings.ini")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert line.startswith("ready"), line
    project = line.split(maxsplit=1)[1].strip()
    last_edit = {}   # frame -> x of the last edit the GUI returned from (and announced)
    editing = threading.Event()

    def collect():
        for text in proc.stdout:
            parts = text.split()
            if parts[:1] == ["edit"]:
                last_edit[int(parts[1])] = float(parts[2])
                editing.set()
    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    editing.wait(timeout=60)
    kill_after(proc, random.Random(seed).uniform(0.1, 1.5))
    reader.join(timeout=10)
    proc.stdout.close()
    assert last_edit, "the GUI made no edit before the kill"
    assert integrity(project) == "ok"
    with ProjectStore.open(project, create=False) as store:
        target, other = [o.track_id for o in store.objects()]
        assert store.get(target, 0).box == (40.0, 40.0, 30.0, 30.0)
        tracked = sorted(f for f in store.frames(target) if f != 0)
        assert tracked == list(range(1, 1 + len(tracked)))
        stored = store.frames(other)
        for frame, x in last_edit.items():   # every acknowledged edit is on disk (or the next one of that frame)
            assert stored[frame].is_human, frame
            assert stored[frame].box[0] in (x, float((int(x) + N) % 200)), (frame, x, stored[frame])
