"""View ▸ Build display proxy: builds on a worker thread, the loader uses the proxy at once, Cancel leaves no file."""
import os
import threading

from app.core.proxy import ProxyFrames, find_proxy, proxy_path_for
from app.gui import proxy_builder
from shell_fixtures import clip, make_window, master_video, opened, video_path, window  # noqa: F401


def _menu_actions(window, title):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == title)
    return [a for a in menu.actions() if not a.isSeparator()]


def test_the_action_is_in_the_view_menu_and_disabled_without_a_video(window):
    build = window.actions_by_name["build_proxy"]
    assert build in _menu_actions(window, "&View")
    assert not build.isEnabled() and not window.actions_by_name["cancel_proxy_build"].isEnabled()
    build.trigger()                                   # a disabled action does nothing, and nothing breaks
    assert not window.proxy_builder.running and window.errors == []


def test_build_makes_a_valid_proxy_that_the_loader_uses_without_reopening(opened, qtbot, video_path):
    w = opened
    loader = w.frame_view.loader
    assert w.actions_by_name["build_proxy"].isEnabled() and loader.proxy is None
    with qtbot.waitSignal(w.proxy_builder.ended, timeout=15000) as ended:
        w.actions_by_name["build_proxy"].trigger()
        assert w.proxy_builder.running and not w.actions_by_name["build_proxy"].isEnabled()
    assert ended.args[0] == "built", ended.args
    path = proxy_path_for(video_path)
    with ProxyFrames(path) as proxy:                  # app.core.proxy's own validation of the file
        assert proxy.matches(w.state.video) and proxy.num_frames == len(w.state.video)
    assert w.frame_view.loader is loader              # same loader, project not reopened
    assert loader.proxy is not None and loader.proxy.path == path
    assert loader.proxy.read(5).shape == (w.state.video.height, w.state.video.width, 3)
    assert w.actions_by_name["build_proxy"].isEnabled() and not w.proxy_builder.running
    assert not w.proxy_builder.status.isVisible()
    assert w.errors == []

    # Asking again keeps the fresh proxy instead of reading the whole video again.
    mtime = os.stat(path).st_mtime_ns
    with qtbot.waitSignal(w.proxy_builder.ended, timeout=5000) as again:
        w.actions_by_name["build_proxy"].trigger()
    assert again.args[0] == "kept" and os.stat(path).st_mtime_ns == mtime


def test_cancel_leaves_no_file_and_re_enables_the_action(opened, qtbot, video_path, monkeypatch):
    w = opened
    started = threading.Event()
    real_build = proxy_builder.build_with_progress

    def build_after_cancel(video, cancel, **kwargs):
        """The real build, held at its start until Cancel is pressed: the cancel cannot come too late."""
        started.set()
        while not cancel():
            threading.Event().wait(0.005)
        return real_build(video, cancel=cancel, **kwargs)

    monkeypatch.setattr(proxy_builder, "build_with_progress", build_after_cancel)
    before = sorted(os.listdir(os.path.dirname(video_path)))
    w.actions_by_name["build_proxy"].trigger()
    assert started.wait(5)
    assert w.proxy_builder.status.isVisible()
    assert w.actions_by_name["cancel_proxy_build"].isEnabled() and not w.actions_by_name["build_proxy"].isEnabled()
    with qtbot.waitSignal(w.proxy_builder.ended, timeout=10000) as ended:
        w.actions_by_name["cancel_proxy_build"].trigger()
    assert ended.args[0] == "cancelled"
    assert sorted(os.listdir(os.path.dirname(video_path))) == before      # no proxy, no partial file
    assert find_proxy(w.state.video) is None and w.frame_view.loader.proxy is None
    assert w.actions_by_name["build_proxy"].isEnabled() and not w.actions_by_name["cancel_proxy_build"].isEnabled()


def test_closing_the_window_during_a_build_stops_it(qtbot, tmp_path, video_path, monkeypatch):
    w = make_window(qtbot, tmp_path)
    assert w.open_path(video_path), w.errors
    started = threading.Event()

    def wait_for_cancel(video, cancel, **kwargs):
        started.set()
        while not cancel():
            threading.Event().wait(0.005)
        return None

    monkeypatch.setattr(proxy_builder, "build_with_progress", wait_for_cancel)
    w.actions_by_name["build_proxy"].trigger()
    assert started.wait(5)
    job = w.proxy_builder._job
    w.close()                                         # close_project cancels and waits for the thread
    assert job.thread.isFinished() and not w.proxy_builder.running
    assert not os.path.exists(proxy_path_for(video_path))
