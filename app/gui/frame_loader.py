"""Decode frames for display off the GUI thread: latest request wins, previews at once, read-ahead.

While a person scrubs the timeline the GUI asks for many frames per second;
decoding each (a seek can cost 100+ ms on long-GOP H.264) on the GUI thread
would freeze the window.  The loader keeps ONE pending request: a new request
replaces an older one that has not started yet, and cancels the decode of one
that has (between two decoded frames), so the decoder never works through a
backlog of frames nobody wants any more.

Two threads, so that what can be shown at once never waits for a decode:

* the FAST thread never decodes video.  It delivers a frame already in the
  cache, or, for a frame that needs a seek, a PREVIEW: the same frame from the
  video's display proxy (``VIDEO.taproxy``, JPEG quality, one JPEG decode
  away, see :mod:`app.core.proxy`) if there is one, else the nearest frame
  already decoded (another frame, and labelled with its own index);
* the DECODE thread decodes the exact frame, then reads ahead.

A frame is emitted only while it is still the latest request, the exact frame
at most once per request, and never a preview after its exact frame.

Between requests the loader reads ahead: the next ``read_ahead`` frames
(the decoder is positioned there, so they cost a decode each) and, once the
person has stayed on the frame for ``READ_BEHIND_AFTER_S``, the
``read_behind`` frames before it (one seek), into the video's bounded cache,
so arrow-key stepping and playback find their frames decoded.  Read-ahead
stops at the next request; the wait before reading behind keeps its seek
(which OpenCV cannot interrupt) from competing with the next preview while
a person jumps around quickly.
"""
from __future__ import annotations

import logging
import threading

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.core.video import ReadCancelled

log = logging.getLogger(__name__)

READ_AHEAD = 25        # one second at 25 fps
READ_BEHIND = 16
READ_BEHIND_AFTER_S = 0.3
# Reading through this many frames is quick enough that a preview would only flicker.
PREVIEW_IF_MORE_THAN = 4
# The decode thread waits at most this long for the fast thread's proxy preview before seeking.
PREVIEW_HEAD_START_S = 0.05


class FrameLoader(QObject):
    """Owns an independent decoder (``video.clone()``), a fast thread and a decode thread.

    ``frameReady(index, frame)`` carries the exact frame ``index`` of the
    original video.  ``previewReady(requested, shown, frame, kind)`` carries a
    stand-in shown while frame ``requested`` is decoded: ``kind`` is
    ``"proxy"`` (frame ``shown == requested`` from the display proxy) or
    ``"nearest"`` (the decoded frame ``shown`` nearest to it, another frame).
    Signals are emitted from the worker threads; Qt queues them onto the
    receiver's thread in the order they were emitted.
    """

    frameReady = Signal(int, object)                 # index, HxWx3 uint8 RGB
    previewReady = Signal(int, int, object, str)     # requested index, shown index, frame, "proxy" | "nearest"
    failed = Signal(int, str)                        # index, readable message

    def __init__(self, video, parent=None, proxy="auto", read_ahead: int = READ_AHEAD,
                 read_behind: int = READ_BEHIND) -> None:
        super().__init__(parent)
        # A clone has its own decoder: scrubbing never contends with a
        # propagation worker that reads the same file sequentially.
        self._video = video.clone() if hasattr(video, "clone") else video
        self.proxy = self._find_proxy() if proxy == "auto" else proxy
        self._retired_proxies: list = []        # replaced by use_proxy(), closed with the loader
        self.read_ahead, self.read_behind = self._window(read_ahead, read_behind)
        self._cond = threading.Condition()
        self._pending: int | None = None        # for the decode thread
        self._fast_pending: int | None = None   # for the fast thread
        self._stopped = False
        # Emission bookkeeping, one lock so "check, then emit" is atomic across the two threads.
        self._emit_lock = threading.Lock()
        self._latest: int | None = None         # the newest request
        self._delivered: int | None = None      # its exact frame has been emitted
        self._fast_done = threading.Event()     # the fast thread has handled the newest request
        self._threads = [threading.Thread(target=self._run_decode, name="frame-loader", daemon=True),
                         threading.Thread(target=self._run_fast, name="frame-loader-fast", daemon=True)]
        for thread in self._threads:
            thread.start()

    def _find_proxy(self):
        from app.core.proxy import find_proxy

        try:
            return find_proxy(self._video)
        except Exception:  # a broken proxy costs speed, never the video
            log.exception("looking for a display proxy failed")
            return None

    def use_proxy(self, proxy="auto") -> bool:
        """Look for the proxy again (``"auto"``, e.g. after one was built) or use ``proxy``; True if one is used.

        The threads read ``self.proxy`` once per frame, so swapping the
        reference is enough; a replaced proxy is closed only with the loader,
        since a preview may still be reading from it.
        """
        new = self._find_proxy() if proxy == "auto" else proxy
        old, self.proxy = self.proxy, new
        if old is not None and old is not new:
            self._retired_proxies.append(old)
        return new is not None

    def _window(self, ahead: int, behind: int) -> tuple[int, int]:
        """Read-ahead never fills more than half the video's cache (the rest keeps recent frames)."""
        budget = getattr(self._video, "cache_budget_bytes", None)
        width, height = getattr(self._video, "width", 0), getattr(self._video, "height", 0)
        if not budget or not width or not height:
            return ahead, behind
        fit = max(0, budget // (2 * width * height * 3))
        ahead = min(ahead, fit)
        return ahead, min(behind, fit - ahead)

    def request(self, index: int) -> None:
        index = int(index)
        with self._emit_lock:
            self._latest, self._delivered = index, None
            self._fast_done.clear()
        with self._cond:
            self._pending = self._fast_pending = index   # replaces stale requests, cancels running work
            self._cond.notify_all()

    def read_now(self, index: int) -> np.ndarray:
        """Synchronous read (first frame on open, tests, screenshots)."""
        return self._video.read(int(index))

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._pending = self._fast_pending = None
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
        try:
            self._video.close()
            for proxy in [self.proxy, *self._retired_proxies]:
                if proxy is not None:
                    proxy.close()
        except Exception:  # closing a broken decoder must not take the window down
            log.exception("closing the frame loader's video failed")

    # -- emission (either thread) ------------------------------------------------
    def _emit_exact(self, index: int, frame) -> bool:
        with self._emit_lock:
            if self._stopped or index != self._latest or self._delivered == index:
                return False
            self._delivered = index
            self.frameReady.emit(index, frame)
            return True

    def _emit_preview(self, index: int, shown: int, frame, kind: str) -> None:
        with self._emit_lock:
            if not self._stopped and index == self._latest and self._delivered != index:
                self.previewReady.emit(index, shown, frame, kind)

    def _superseded(self) -> bool:
        return self._pending is not None or self._stopped

    def _wait(self, attribute: str) -> int | None:
        with self._cond:
            while getattr(self, attribute) is None and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            index = getattr(self, attribute)
            setattr(self, attribute, None)
            return index

    # -- fast thread: the cache and the proxy, never a video decode -----------------
    def _run_fast(self) -> None:
        video = self._video
        while (index := self._wait("_fast_pending")) is not None:
            try:
                self._show_fast(index)
            finally:
                if index == self._latest:
                    self._fast_done.set()

    def _show_fast(self, index: int) -> None:
        video = self._video
        frame = video.peek(index) if hasattr(video, "peek") else None
        if frame is not None:
            self._emit_exact(index, frame)
            return
        if not self._needs_preview(index):
            return
        proxy = self.proxy          # read once: use_proxy() may swap it meanwhile
        if proxy is not None:
            try:
                self._emit_preview(index, index, proxy.read(index), "proxy")
                return
            except Exception as exc:  # fall back to the nearest decoded frame
                log.warning("proxy frame %d could not be read: %s", index, exc)
        nearest = video.nearest_cached(index) if hasattr(video, "nearest_cached") else None
        if nearest is not None:
            self._emit_preview(index, nearest[0], nearest[1], "nearest")

    def _needs_preview(self, index: int) -> bool:
        distance = self._video.frames_to_reach(index) if hasattr(self._video, "frames_to_reach") else 0
        return distance is None or distance > PREVIEW_IF_MORE_THAN

    # -- decode thread: exact frames, then read-ahead ----------------------------------
    def _run_decode(self) -> None:
        while (index := self._wait("_pending")) is not None:
            if self._serve(index) and self._read_ahead(index) and self._still_here(READ_BEHIND_AFTER_S):
                self._read_behind(index)

    def _still_here(self, seconds: float) -> bool:
        """Wait ``seconds`` for a new request; True if none came."""
        with self._cond:
            return not self._cond.wait_for(self._superseded, timeout=seconds)

    def _serve(self, index: int) -> bool:
        """Emit the exact frame ``index``; False if it failed or was superseded."""
        video = self._video
        frame = video.peek(index) if hasattr(video, "peek") else None
        if frame is None:
            if self.proxy is not None:
                # Let the proxy preview decode first: on 2 cores a seek beside it doubles its latency.
                self._fast_done.wait(PREVIEW_HEAD_START_S)
            try:
                frame = video.read(index, cancel=self._superseded) if hasattr(video, "peek") else video.read(index)
            except ReadCancelled:
                return False
            except Exception as exc:  # a bad frame is shown as a message, the loader lives on
                log.warning("frame %d could not be read: %s", index, exc)
                self.failed.emit(index, f"frame {index} could not be read: {exc}")
                return False
        if self._superseded():
            return False
        self._emit_exact(index, frame)
        return True

    def _read_ahead(self, index: int) -> bool:
        return self._fill(range(index + 1, min(len(self._video) - 1, index + self.read_ahead) + 1))

    def _read_behind(self, index: int) -> bool:
        # Oldest first, so one seek is followed by cheap sequential decodes.
        return self._fill(range(max(0, index - self.read_behind), index))

    def _fill(self, indices) -> bool:
        """Decode ``indices`` into the cache until the next request; True if all were done."""
        video = self._video
        if not hasattr(video, "peek"):
            return False
        for j in indices:
            if self._superseded():
                return False
            if video.peek(j) is not None:
                continue
            try:
                video.read(j, cancel=self._superseded)
            except Exception:  # cancelled, or a bad frame: it is reported if someone asks for it
                return False
        return True
