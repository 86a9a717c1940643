"""GUI latency benchmark (not a test): scrubbing and event-loop lateness while propagating.

Runs the real main window (offscreen) on a synthetic 720p clip:

1. **Scrub latency**: ``state.set_frame(i)`` until that frame is decoded by the
   shell's off-thread ``FrameLoader``, shown by the ``FrameView`` and the whole
   window has repainted (timeline, docks included).  Sequential (i, i+1, ...)
   and random jumps; p50/p95/max in ms.
2. **UI event latency while propagating**: a ``QTimer`` set to fire every
   10 ms; its lateness (actual interval - 10 ms) p50/p95/max while a CSRT
   propagation runs on the worker thread, and idle for comparison.

    QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 python benchmarks/gui_latency.py

Figures depend on machine load: note ``os.getloadavg()`` printed with them.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.core.model import FrameAnnotation  # noqa: E402
from trackers.data.synthetic import SyntheticClip  # noqa: E402


def stats(values_ms: list[float]) -> str:
    a = np.asarray(values_ms)
    return f"p50 {np.percentile(a, 50):6.1f} ms · p95 {np.percentile(a, 95):6.1f} ms · max {a.max():6.1f} ms (n={len(a)})"


def wait_until(app: QApplication, condition, timeout_s: float = 10.0) -> bool:
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            return False
        app.processEvents()
        time.sleep(0.0005)
    return True


def scrub(app, win, indices: list[int], parts: dict | None = None) -> list[float]:
    """ms from ``set_frame`` to the frame on screen and the window repainted; ``parts`` gets the split."""
    state, view = win.state, win.frame_view
    out = []
    for i in indices:
        t0 = time.perf_counter()
        state.set_frame(i)
        if not wait_until(app, lambda: view.shown_index == i):
            raise RuntimeError(f"frame {i} was never shown")
        t1 = time.perf_counter()
        if win.timeline is not None:
            win.timeline.repaint()
        t2 = time.perf_counter()
        win.repaint()               # synchronous repaint of the window and every child
        t3 = time.perf_counter()
        out.append((t3 - t0) * 1000)
        if parts is not None:
            for key, dt in (("decode+show", t1 - t0), ("timeline repaint", t2 - t1), ("window repaint", t3 - t2)):
                parts.setdefault(key, []).append(dt * 1000)
    return out


def timer_lateness(app, seconds: float | None, until=None, interval_ms: int = 10) -> list[float]:
    """Lateness of a 10 ms QTimer, for ``seconds`` or until ``until()`` is true."""
    clock = QElapsedTimer()
    clock.start()
    stamps: list[int] = []
    timer = QTimer(interval=interval_ms)
    timer.setTimerType(timer.timerType().PreciseTimer)
    timer.timeout.connect(lambda: stamps.append(clock.nsecsElapsed()))
    timer.start()
    t_end = time.perf_counter() + (seconds or 1e9)
    while time.perf_counter() < t_end and not (until is not None and until()):
        app.processEvents()
        time.sleep(0.0005)   # an idle event loop would sleep in select(); do not spin a core
    timer.stop()
    gaps = np.diff(np.asarray(stamps, dtype=np.float64)) / 1e6
    return list(np.maximum(0.0, gaps - interval_ms))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=240, help="length of the synthetic clip")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--scrubs", type=int, default=150, help="frame changes per scrub pattern")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    w, h = (int(v) for v in a.size.split("x"))
    tmp = tempfile.mkdtemp(prefix="gui_latency_")
    clip = SyntheticClip(width=w, height=h, num_frames=a.frames, seed=a.seed, target_size=(140, 100), speed=4.0)
    t0 = time.perf_counter()
    video_path = clip.write_video(os.path.join(tmp, "clip.mp4"))
    print(f"wrote {a.frames} frames {w}x{h} in {time.perf_counter() - t0:.1f} s")

    from app.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    win = MainWindow(QSettings(os.path.join(tmp, "settings.ini"), QSettings.IniFormat))
    win.resize(1600, 1000)
    win.show()
    if not win.open_path(video_path):
        raise SystemExit(f"cannot open {video_path}: {win.errors}")
    wait_until(app, lambda: win.frame_view.shown_index == 0)
    rng = random.Random(a.seed)
    n = len(win.state.video)

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for label, indices in (("sequential (+1 frame)", list(range(1, min(n, a.scrubs + 1)))),
                           ("random jumps", [rng.randrange(n) for _ in range(a.scrubs)])):
        parts: dict[str, list[float]] = {}
        print(f"scrub {label + ':':28s}{stats(scrub(app, win, indices, parts))}")
        for key, values in parts.items():
            print(f"    {key:30s}{stats(values)}")

    idle = timer_lateness(app, 2.0)
    print(f"10 ms timer lateness, idle:       {stats(idle)}")

    store, state, ctl = win.state.store, win.state, win.controller
    tid = store.add_object("target", tracker="csrt")
    store.put(tid, 0, FrameAnnotation(box=clip.box(0)))
    state.set_object(tid)
    state.set_frame(0)
    done = []
    ctl.finished.connect(lambda c: done.append(c))
    t0 = time.perf_counter()
    if not ctl.propagate(+1, mode="to_end"):
        raise SystemExit("propagation did not start")
    busy = timer_lateness(app, None, until=lambda: bool(done))
    elapsed = time.perf_counter() - t0
    tracked = sum(1 for ann in store.frames(tid).values() if not ann.is_human)
    print(f"10 ms timer lateness, CSRT propagating: {stats(busy)}")
    print(f"  (CSRT propagated {tracked} frames in {elapsed:.1f} s = {tracked / elapsed:.1f} frames/s with the GUI live)")

    # scrubbing while the tracker runs: the person reviews frames already done
    state.set_frame(0)
    tid2 = store.add_object("target2", tracker="csrt")
    store.put(tid2, 0, FrameAnnotation(box=clip.box(0)))
    state.set_object(tid2)
    done.clear()
    ctl.propagate(+1, mode="to_end")
    during = scrub(app, win, [rng.randrange(n) for _ in range(a.scrubs // 2)])
    ctl.cancel()
    wait_until(app, lambda: bool(done), 60)
    print(f"scrub random jumps while propagating: {stats(during)}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
