"""Decode frames for display off the GUI thread, "latest request wins".

While a person scrubs the timeline the GUI asks for many frames per second;
decoding each (a seek can cost 100+ ms on long-GOP H.264) on the GUI thread
would freeze the window.  The loader keeps ONE pending request: a new request
replaces an older one that has not started yet, so the decoder never works
through a backlog of frames nobody wants any more.
"""
from __future__ import annotations

import logging
import threading

import numpy as np
from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class FrameLoader(QObject):
    """Owns an independent decoder (``video.clone()``) and one worker thread.

    ``frameReady(index, frame)`` is emitted from the worker thread; Qt queues it
    onto the receiver's (GUI) thread.
    """

    frameReady = Signal(int, object)     # index, HxWx3 uint8 RGB
    failed = Signal(int, str)            # index, readable message

    def __init__(self, video, parent=None) -> None:
        super().__init__(parent)
        # A clone has its own decoder: scrubbing never contends with a
        # propagation worker that reads the same file sequentially.
        self._video = video.clone() if hasattr(video, "clone") else video
        self._cond = threading.Condition()
        self._pending: int | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="frame-loader", daemon=True)
        self._thread.start()

    def request(self, index: int) -> None:
        with self._cond:
            self._pending = int(index)       # replaces any stale request
            self._cond.notify()

    def read_now(self, index: int) -> np.ndarray:
        """Synchronous read (first frame on open, tests, screenshots)."""
        return self._video.read(int(index))

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._pending = None
            self._cond.notify()
        self._thread.join(timeout=5)
        try:
            self._video.close()
        except Exception:  # closing a broken decoder must not take the window down
            log.exception("closing the frame loader's video failed")

    # -- worker thread ---------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                index, self._pending = self._pending, None
            try:
                frame = self._video.read(index)
            except Exception as exc:  # a bad frame is shown as a message, the loader lives on
                log.warning("frame %d could not be read: %s", index, exc)
                self.failed.emit(index, f"frame {index} could not be read: {exc}")
                continue
            with self._cond:
                superseded = self._pending is not None or self._stopped
            if not superseded:
                self.frameReady.emit(index, frame)
