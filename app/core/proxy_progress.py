"""Building the display proxy with a progress report (rate and ETA), shared by the CLI and the GUI.

Qt-free: the GUI's worker passes a signal's ``emit`` as ``report``.
"""
from __future__ import annotations

import math
import time

from .proxy import DEFAULT_MAX_HEIGHT, DEFAULT_QUALITY, build_proxy

REPORT_INTERVAL_S = 0.5


class _ReadCounter:
    """The video, counting frame reads: ``build_proxy`` reports progress only every 500 frames,
    too seldom for a rate and an ETA; it reads each frame exactly once, in order."""

    def __init__(self, video, on_read) -> None:
        self._video, self._on_read = video, on_read

    def __len__(self) -> int:
        return len(self._video)

    def __getattr__(self, name):
        return getattr(self._video, name)

    def read(self, index, *args, **kwargs):
        frame = self._video.read(index, *args, **kwargs)
        self._on_read(int(index) + 1)
        return frame


def build_with_progress(video, max_height: int = DEFAULT_MAX_HEIGHT, quality: int = DEFAULT_QUALITY,
                        report=None, cancel=None, interval_s: float | None = None) -> str | None:
    """``build_proxy`` with ``report(done, total, fps, eta_s)`` at most every ``interval_s`` and once at the end.

    Returns the proxy's path, or None if ``cancel()`` became true (no file is left).
    """
    interval_s = REPORT_INTERVAL_S if interval_s is None else interval_s
    total = len(video)
    t0 = time.perf_counter()
    last = [t0]       # the first report after one interval: a rate over one frame means little

    def on_read(done: int) -> None:
        now = time.perf_counter()
        if report is not None and (now - last[0] >= interval_s or done == total):
            last[0] = now
            fps = done / (now - t0) if now > t0 else 0.0
            report(done, total, fps, (total - done) / fps if fps > 0 else math.nan)

    return build_proxy(_ReadCounter(video, on_read), max_height=max_height, quality=quality, cancel=cancel)


def format_progress(done: int, total: int, fps: float, eta: float) -> str:
    eta_text = "?" if math.isnan(eta) else f"{int(eta) // 60}:{int(eta) % 60:02d}"
    return f"{done}/{total} frames ({100 * done / max(1, total):.0f}%), {fps:.0f} frames/s, ETA {eta_text}"
