"""Drive one propagation generator on a worker thread and report through signals.

The core's ``propagate`` / ``propagate_between`` are plain generators that read
frames, run the tracker and write each result to the store.  This worker pulls
them on a ``QThread`` so the window stays responsive, and turns each
:class:`FrameResult` into signals the GUI thread receives (queued):

``frameDone(track_id, frame)``     one per frame the generator reports
``mapsReady(track_id, frame)``     the frame's maps are in the map history (throttled: latest only)
``progress(done, total, fps, eta)`` at most ~10 per second, and once at the end
``failed(message)``                 a tracker/video error; the frames done so far are kept
``finished(cancelled)``             always last, exactly once

Nothing escapes :meth:`PropagationWorker.run`: an exception becomes ``failed``.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Callable, Iterator

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger(__name__)

# Emitting a Qt signal per frame is cheap, but the GUI repaints on some of them:
# progress and map updates are throttled so a fast tracker cannot flood the
# event loop (and PySide6 stays well within what it handles comfortably).
PROGRESS_INTERVAL_S = 0.1
MAPS_INTERVAL_S = 1 / 20

JobFactory = Callable[[object, object], Iterator]   # (video clone, cancel token) -> iterator of FrameResult


def limit_torch_threads() -> None:
    """One intra-op thread for inference while the GUI and a decoder share 2 cores.

    MACHINE-NOTES: with the other core busy, a 2-thread trunk ran 20x slower
    than a 1-thread one.  Only done if torch is already imported (by a deep
    tracker): importing torch here would cost seconds for nothing.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.set_num_threads(1)
        except RuntimeError:   # torch refuses once inter-op work started; the limit is then already set
            pass


def describe_error(exc: BaseException) -> str:
    """One readable line; the project's own errors already name the file/field."""
    from app.core.errors import TrackAssistError

    if isinstance(exc, TrackAssistError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _expected(exc: BaseException) -> bool:
    """Errors with a readable message of their own (bad start frame, missing weights): no traceback."""
    from app.core.errors import TrackAssistError
    from trackers.base import TrackerError

    return isinstance(exc, (TrackAssistError, TrackerError))


class PropagationWorker(QObject):
    frameDone = Signal(int, int)
    mapsReady = Signal(int, int)
    progress = Signal(int, int, float, float)
    failed = Signal(str)
    finished = Signal(bool)

    def __init__(self, track_id: int, job: JobFactory, video, cancel, total: int,
                 history=None, failed_frames: set | None = None, on_error: str = "stop") -> None:
        """``video`` must be the worker's own decoder (``state.video.clone()``); it is closed at the end."""
        super().__init__()
        self.track_id = int(track_id)
        self.cancel_token = cancel
        self.total = max(1, int(total))
        self.done = 0
        self.written: list[int] = []
        self.last_frame: int | None = None
        self.error: str | None = None
        self._job = job
        self._video = video
        self._history = history
        self._failed_frames = failed_frames
        self.on_error = on_error

    @Slot()
    def run(self) -> None:
        limit_torch_threads()
        results = None
        t0 = last_progress = last_maps = time.perf_counter()
        pending_maps: int | None = None
        try:
            results = self._job(self._video, self.cancel_token)
            for fr in results:
                self._record(fr)
                now = time.perf_counter()
                if fr.result is not None and fr.result.get("maps") and self._history is not None:
                    self._history.put(self.track_id, fr.index, fr.result["maps"])
                    pending_maps = fr.index
                if pending_maps is not None and now - last_maps >= MAPS_INTERVAL_S:
                    self.mapsReady.emit(self.track_id, pending_maps)
                    pending_maps, last_maps = None, now
                self.frameDone.emit(self.track_id, fr.index)
                if now - last_progress >= PROGRESS_INTERVAL_S:
                    self._emit_progress(now - t0)
                    last_progress = now
                if fr.error is not None and self.on_error == "stop":
                    self.error = fr.error if fr.error.startswith("frame") else f"frame {fr.index}: {fr.error}"
                    break
                # Stop within one frame of a cancel, whatever the generator does.
                if self.cancel_token.cancelled:
                    break
        except Exception as exc:  # the worker must never let an exception escape its thread
            self.error = describe_error(exc)
            if _expected(exc):
                log.warning("propagation of object %d failed: %s", self.track_id, self.error)
            else:
                log.exception("propagation of object %d failed", self.track_id)
        finally:
            if results is not None and hasattr(results, "close"):
                try:
                    results.close()
                except Exception:
                    log.exception("closing the propagation generator failed")
            try:
                self._video.close()
            except Exception:
                log.exception("closing the worker's video failed")
        if pending_maps is not None:
            self.mapsReady.emit(self.track_id, pending_maps)
        self._emit_progress(time.perf_counter() - t0)
        if self.error is not None:
            self.failed.emit(self.error)
        self.finished.emit(bool(self.cancel_token.cancelled))

    # -- helpers ------------------------------------------------------------------
    def _record(self, fr) -> None:
        self.done += 1
        self.last_frame = fr.index
        if fr.error is not None:
            if self._failed_frames is not None:
                self._failed_frames.add(fr.index)
        else:
            if self._failed_frames is not None:
                self._failed_frames.discard(fr.index)
            if getattr(fr, "written", False):
                self.written.append(fr.index)

    def _emit_progress(self, elapsed: float) -> None:
        total = max(self.total, self.done)
        fps = self.done / elapsed if elapsed > 0 else 0.0
        eta = (total - self.done) / fps if fps > 0 else float("nan")
        self.progress.emit(self.done, total, fps, eta)


class WorkerThread(QObject):
    """A worker plus its QThread; keeps both alive until the thread has ended.

    Lives in the GUI thread, so ``ended(self)`` is delivered there (queued), and
    carries which run ended: a late notice of an old run can never be taken for
    the current one.
    """

    ended = Signal(object)

    def __init__(self, worker: PropagationWorker) -> None:
        super().__init__()
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(f"propagation-{worker.track_id}")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        # quit from the worker's own thread, right after its last signal
        worker.finished.connect(self.thread.quit, Qt.DirectConnection)
        self.thread.finished.connect(self._on_thread_finished)

    @Slot()
    def _on_thread_finished(self) -> None:
        self.ended.emit(self)

    def start(self) -> None:
        self.thread.start()

    def wait(self, ms: int = 30000) -> bool:
        return self.thread.wait(ms)
