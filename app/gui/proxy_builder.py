"""View ▸ Build display proxy: writes ``VIDEO.taproxy`` on a worker thread, then the frame loader uses it.

Scrubbing a long H.264 video shows previews at once only from a display proxy
(see :mod:`app.core.proxy`).  Building one reads the whole video (minutes for
an hour of 1080p), so it runs on a ``QThread`` with its own decoder
(``video.clone()``) while the person keeps annotating; progress and a Cancel
button sit in the status bar.  When the proxy is complete the loader starts
using it (:meth:`FrameLoader.use_proxy`) without reopening the project.  A
cancelled or failed build leaves no file (``build_proxy`` renames a temporary
file only when complete).
"""
from __future__ import annotations

import logging
import math
import os
import threading

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from app.core.proxy_progress import build_with_progress, format_progress
from app.core.proxy import find_proxy, proxy_path_for

from .worker import describe_error

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1     # status-bar updates at most ~10 per second


class ProxyBuildWorker(QObject):
    """Builds the proxy of ``video`` (the worker's own decoder, closed at the end) when ``run`` is called.

    ``progress(done, total, fps, eta_s)`` now and then; ``finished()`` always,
    last, once, with the outcome in ``path`` (None if cancelled or failed) and
    ``error``.
    """

    progress = Signal(int, int, float, float)
    finished = Signal()

    def __init__(self, video) -> None:
        super().__init__()
        self.video_path = video.path
        self.path: str | None = None
        self.error: str | None = None
        self._video = video
        self._cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Thread-safe: the build stops before its next frame."""
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        try:
            self.path = build_with_progress(self._video, report=self.progress.emit, cancel=self._cancel.is_set,
                                            interval_s=PROGRESS_INTERVAL_S)
        except Exception as exc:  # nothing escapes the thread: a failure becomes a message
            self.error = describe_error(exc) if not isinstance(exc, OSError) else \
                f"{proxy_path_for(self.video_path)}: cannot write the proxy ({exc.strerror or exc})"
            log.warning("building the display proxy of %s failed: %s", self.video_path, self.error)
        finally:
            try:
                self._video.close()
            except Exception:
                log.exception("closing the proxy builder's video failed")
        self.finished.emit()


class _BuildJob(QObject):
    """A worker and its QThread, kept alive until the thread has ended; ``ended(self)`` arrives on the GUI thread."""

    ended = Signal(object)

    def __init__(self, worker: ProxyBuildWorker) -> None:
        super().__init__()
        self.worker, self.thread = worker, QThread()
        self.thread.setObjectName("proxy-builder")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        worker.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.thread.finished.connect(lambda: self.ended.emit(self))


class ProxyStatus(QWidget):
    """Status-bar part shown while a build runs: progress bar, rate/ETA, Cancel."""

    def __init__(self, on_cancel) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("display proxy")
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(160)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("stop building the display proxy (no file is left)")
        self.cancel_button.clicked.connect(on_cancel)
        for widget in (self.label, self.bar, self.cancel_button):
            layout.addWidget(widget)
        self.hide()

    def show_progress(self, done: int, total: int, fps: float, eta: float) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
        self.label.setText("display proxy: " + format_progress(done, total, fps, eta))


class ProxyBuilder(QObject):
    """The build action's logic; the window calls :meth:`start`, :meth:`cancel` and :meth:`shutdown`.

    ``ended(outcome, text)`` after each request, on the GUI thread: ``outcome``
    is ``"built"`` (the loader now uses the new proxy), ``"kept"`` (a fresh one
    was already there), ``"cancelled"`` or ``"failed"``.
    """

    runningChanged = Signal(bool)
    ended = Signal(str, str)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window, self.state = window, window.state
        self._job: _BuildJob | None = None
        self.status = ProxyStatus(self.cancel)
        window.statusBar().addPermanentWidget(self.status)
        self.state.projectOpened.connect(self._update_actions)
        self._update_actions()

    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        video = self.state.video
        if video is None or self.running:
            return
        existing = find_proxy(video)
        if existing is not None:
            existing.close()
            path = self._attach(video.path)
            return self._finish("kept", f"a fresh display proxy is already there and used: {path}")
        try:
            clone = video.clone()
        except Exception as exc:   # the file went away since it was opened
            return self._finish("failed", describe_error(exc))
        self._job = _BuildJob(ProxyBuildWorker(clone))
        self._job.worker.progress.connect(self.status.show_progress)
        self._job.ended.connect(self._on_job_ended)
        self.status.bar.setValue(0)
        self.status.label.setText("display proxy: starting")
        self.status.show()
        self._update_actions()
        self.runningChanged.emit(True)
        self.state.message.emit(f"building the display proxy of {os.path.basename(video.path)} in the background")
        self._job.thread.start(QThread.Priority.LowPriority)   # the GUI and the frame loader come first

    def cancel(self) -> None:
        if self._job is not None:
            self._job.worker.cancel()
            self.status.label.setText("display proxy: cancelling")

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel and wait for the thread (closing the window/project): no thread outlives its objects."""
        job, self._job = self._job, None
        if job is not None:
            job.worker.cancel()
            if not job.thread.wait(timeout_ms):
                log.error("the display proxy builder did not stop within %d ms", timeout_ms)
            self.status.hide()
            self._update_actions()
            self.runningChanged.emit(False)

    # -- internals ------------------------------------------------------------------
    @Slot(object)
    def _on_job_ended(self, job: _BuildJob) -> None:
        if job is not self._job:      # shut down meanwhile: already handled
            return
        self._job = None
        worker = job.worker
        self.status.hide()
        self._update_actions()
        self.runningChanged.emit(False)
        if worker.error is not None:
            self._finish("failed", worker.error)
        elif worker.path is not None:     # complete even if Cancel came after the last frame
            self._attach(worker.video_path)
            self._finish("built", f"display proxy built: {worker.path}; previews now come from it")
        else:
            self._finish("cancelled", "display proxy build cancelled; no file was written")

    def _attach(self, video_path: str) -> str:
        """Make the frame loader use the proxy now, if it still shows that video."""
        loader = getattr(self.window.frame_view, "loader", None)
        video = self.state.video
        if loader is not None and video is not None and os.path.abspath(video.path) == os.path.abspath(video_path):
            if not loader.use_proxy():
                log.warning("the display proxy of %s was built but the loader did not accept it", video_path)
        return proxy_path_for(video_path)

    def _finish(self, outcome: str, text: str) -> None:
        if outcome == "failed":
            self.window.report_error(text)
        else:
            self.state.message.emit(text)
        self.ended.emit(outcome, text)

    def _update_actions(self) -> None:
        actions = self.window.actions_by_name
        actions["build_proxy"].setEnabled(self.state.video is not None and not self.running)
        actions["cancel_proxy_build"].setEnabled(self.running)
