"""Start, cancel and correct propagations from the GUI; one run at a time.

The controller turns a user action ("propagate forward to the next keyframe",
"blend between the keyframes around here", ...) into a job for the core's
propagation generators, runs it on a :class:`~app.gui.worker.PropagationWorker`
thread and re-emits the worker's signals.

Corrections: when a person edits a frame (``state.humanEdit``) of the object
being propagated, the run is cancelled and restarted from the corrected frame
in the same direction.  The object's tracker instance is kept alive across runs
and re-initialised with ``reinit`` (online trackers keep what they learned from
the first frame), never created afresh.  Tracker frames after the correction
are overwritten; human frames never are (the store refuses).
"""
from __future__ import annotations

import bisect
import logging
import threading
from dataclasses import dataclass, replace

from PySide6.QtCore import QCoreApplication, QObject, QSettings, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

import trackers
from trackers.base import ScoreMap, Tracker, TrackerError

from .map_history import DEFAULT_MAX_FRAMES, DEFAULT_MAX_MB, MapHistory
from .worker import PropagationWorker, WorkerThread

log = logging.getLogger(__name__)

MODES = ("to_keyframe", "to_end", "range")


@dataclass
class Job:
    """One run: either ``propagate`` from ``start`` or ``between`` two keyframes."""

    kind: str                   # "propagate" | "between"
    track_id: int
    start: int = 0
    direction: int = 1
    stop: int | None = None     # inclusive, for mode "range"
    mode: str = "to_keyframe"
    first: int = 0              # "between": the two human keyframes
    last: int = 0
    step_after: bool = False    # track_one_frame: move the current frame onto the result


class ReusedTracker(Tracker):
    """Delegates to a long-lived tracker; ``init`` becomes ``reinit`` once it has been initialised.

    The core's generator calls ``init`` at its start frame.  Passing it this
    proxy lets the same tracker instance be corrected across runs (and keeps the
    instance when the generator ``close()``s its tracker).
    """

    def __init__(self, inner: Tracker) -> None:
        super().__init__(device=inner.device)
        self.inner = inner
        self.name = inner.name
        self.produces_masks = inner.produces_masks

    def init(self, frame, box=None, mask=None, info=None) -> None:
        if self.inner.initialized:
            self.inner.reinit(frame, box=box, mask=mask, info=info)
        else:
            self.inner.init(frame, box=box, mask=mask, info=info)
        self.initialized, self.frame_shape = True, self.inner.frame_shape

    def _init(self, frame, box, mask, info) -> None:  # pragma: no cover - init() is overridden
        raise NotImplementedError

    def reinit(self, frame, box=None, mask=None, info=None) -> None:
        self.inner.reinit(frame, box=box, mask=mask, info=info)
        self.initialized, self.frame_shape = True, self.inner.frame_shape

    def track(self, frame, info=None):
        return self.inner.track(frame, info)

    def close(self) -> None:
        """The controller owns the inner tracker's lifetime."""


def history_from_settings(settings: QSettings | None = None) -> MapHistory:
    """Map history sized by ``map_history/max_frames`` and ``map_history/max_mb`` (defaults 300 / 200 MB)."""
    s = settings if settings is not None else QSettings("TrackAssist", "TrackAssist")
    try:
        return MapHistory(int(s.value("map_history/max_frames", DEFAULT_MAX_FRAMES)),
                          float(s.value("map_history/max_mb", DEFAULT_MAX_MB)))
    except (TypeError, ValueError) as exc:
        log.warning("ignoring bad map history settings: %s", exc)
        return MapHistory()


class PropagationController(QObject):
    started = Signal()
    progress = Signal(int, int, float, float)   # done, total, frames/s, ETA seconds (nan = unknown)
    frameDone = Signal(int, int)                # track id, frame
    mapsReady = Signal(int, int)                # track id, frame (maps are in self.history)
    failed = Signal(str)
    finished = Signal(bool)                     # cancelled by the user
    restarted = Signal(int, int)                # track id, corrected frame the run restarted from
    overlayChanged = Signal(str)                # chosen overlay map name ("" = none)

    def __init__(self, state, parent=None, history: MapHistory | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.history = history if history is not None else history_from_settings()
        state.map_history = self.history
        # (name, device) -> Tracker; tests replace it to inject a fake tracker.
        self.tracker_factory = lambda name, device: trackers.create(name, device=device)
        self.on_error = "stop"
        self.overlay_name: str | None = None
        self._settings: dict[int, tuple[str, str]] = {}
        self._trackers: dict[int, tuple[str, str, Tracker]] = {}
        self._trackers_lock = threading.Lock()
        self._failed: dict[int, set[int]] = {}
        self._run: WorkerThread | None = None
        self._job: Job | None = None
        self._queue: list[Job] = []
        self._restarting = False
        state.humanEdit.connect(self._on_human_edit)
        state.projectOpened.connect(self._on_project_opened)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- properties -----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._run is not None

    @property
    def running_track(self) -> int:
        return self._job.track_id if self._run is not None and self._job is not None else -1

    @property
    def worker(self) -> PropagationWorker | None:
        return self._run.worker if self._run is not None else None

    def failed_frames(self, track_id: int) -> set[int]:
        return set(self._failed.get(track_id, ()))

    # -- trackers per object ------------------------------------------------------------
    def set_tracker(self, track_id: int, name: str, device: str = "auto") -> bool:
        """Choose the tracker for an object; applies from the next run.

        An unknown name is refused with a message on ``state.error`` (returns False)
        rather than an exception: projects may name trackers this install lacks.
        """
        try:
            trackers.info(name)
        except TrackerError as exc:
            self.state.error.emit(f"object {track_id}: {exc}")
            return False
        self._settings[track_id] = (name, device)
        store = self.state.store
        if store is not None and any(o.track_id == track_id and o.tracker != name for o in store.objects()):
            store.update_object(track_id, tracker=name)     # only a real change becomes an undo step
        with self._trackers_lock:
            old = self._trackers.get(track_id)
            if old is not None and (old[0], old[1]) != (name, device) and self.running_track != track_id:
                self._drop_tracker(track_id)
        return True

    def tracker_for(self, track_id: int) -> tuple[str, str]:
        """(tracker name, device) an object propagates with."""
        if track_id in self._settings:
            return self._settings[track_id]
        name = "csrt"
        store = self.state.store
        if store is not None:
            for obj in store.objects():
                if obj.track_id == track_id and obj.tracker:
                    name = obj.tracker
        return name, "auto"

    def _tracker_instance(self, track_id: int, name: str, device: str) -> Tracker:
        """The object's live tracker (created on first use, in the worker thread: loading weights is slow)."""
        with self._trackers_lock:
            held = self._trackers.get(track_id)
            if held is not None and (held[0], held[1]) == (name, device):
                return held[2]
            if held is not None:
                self._drop_tracker(track_id)
            tracker = self.tracker_factory(name, device)
            self._trackers[track_id] = (name, device, tracker)
            return tracker

    def _drop_tracker(self, track_id: int) -> None:
        held = self._trackers.pop(track_id, None)
        if held is not None:
            try:
                held[2].close()
            except Exception:
                log.exception("closing tracker %s failed", held[0])

    # -- overlay -----------------------------------------------------------------------
    def set_overlay_map(self, name: str | None) -> None:
        name = name or None
        if name != self.overlay_name:
            self.overlay_name = name
            self.overlayChanged.emit(name or "")
            # Views that redraw their overlay on mapsReady pick up the new choice at once.
            tid, frame = self.state.current_object, self.state.current_frame
            if tid >= 0 and (tid, frame) in self.history:
                self.mapsReady.emit(tid, frame)

    def overlay(self, track_id: int, frame: int) -> tuple[str, ScoreMap] | None:
        """The chosen map of this object at this frame, if it is a ScoreMap still in the history."""
        if self.overlay_name is None:
            return None
        maps = self.history.get(track_id, frame)
        item = maps.get(self.overlay_name) if maps else None
        return (self.overlay_name, item) if isinstance(item, ScoreMap) else None

    # -- starting runs ----------------------------------------------------------------
    def propagate(self, direction: int = +1, mode: str = "to_keyframe", stop: int | None = None) -> bool:
        """Propagate the current object from the current frame; False (with a message) if it cannot start."""
        if mode not in MODES:
            raise ValueError(f"unknown propagation mode {mode!r}; use one of {', '.join(MODES)}")
        if mode == "range" and stop is None:
            raise ValueError("mode 'range' needs a stop frame")
        tid = self._ready_object()
        if tid is None:
            return False
        direction = 1 if direction >= 0 else -1
        return self._start(Job("propagate", tid, start=self.state.current_frame, direction=direction,
                               stop=stop, mode=mode))

    def track_one_frame(self, direction: int = +1) -> bool:
        tid = self._ready_object()
        if tid is None:
            return False
        d = 1 if direction >= 0 else -1
        cur = self.state.current_frame
        if not 0 <= cur + d < len(self.state.video):
            self.state.message.emit("no frame to track in that direction")
            return False
        return self._start(Job("propagate", tid, start=cur, direction=d, stop=cur + d, mode="range",
                               step_after=True))

    def propagate_between_keyframes(self) -> bool:
        """Forward from the human keyframe at/before the current frame, backward from the next one; blend."""
        tid = self._ready_object()
        if tid is None:
            return False
        keys = self.state.store.keyframes(tid)
        cur = self.state.current_frame
        pos = bisect.bisect_right(keys, cur)
        if pos == 0 or pos == len(keys):
            self.state.message.emit("propagating both ways needs a human keyframe on each side of the current frame")
            return False
        first, last = keys[pos - 1], keys[pos]
        return self._start(Job("between", tid, start=first, first=first, last=last))

    def cancel(self) -> None:
        """Stop the run within one frame; frames done so far are kept.  Thread-safe."""
        self._queue = []
        run = self._run
        if run is not None:
            run.worker.cancel_token.cancel()

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel and wait for the worker thread (window closing, project switching)."""
        run = self._run
        self.cancel()
        if run is not None and run.wait(timeout_ms):
            self._on_run_ended(run)    # now, not when the event loop gets to it: the caller moves on

    def _ready_object(self) -> int | None:
        st = self.state
        if st.store is None or st.video is None:
            st.message.emit("open a video first")
            return None
        if st.current_object < 0:
            st.message.emit("select an object to propagate")
            return None
        if self.running:
            st.message.emit("a propagation is already running; cancel it first")
            return None
        return st.current_object

    def _start(self, job: Job, internal: bool = False) -> bool:
        from app.core import propagation as core

        st = self.state
        ann = st.store.get(job.track_id, job.start)
        if ann is None or ann.absent or (ann.box is None and ann.mask_rle is None):
            st.message.emit(f"frame {job.start} has no box or mask for object {job.track_id} to start from")
            return False
        if job.kind == "propagate" and self._planned(job) == 0:
            st.message.emit(f"nothing to propagate from frame {job.start}: the next frame is a keyframe or the end")
            return False
        cancel = core.CancelToken()
        worker = PropagationWorker(job.track_id, self._job_factory(job), st.video.clone(), cancel,
                                   total=self._estimate_total(job), history=self.history,
                                   failed_frames=self._failed.setdefault(job.track_id, set()),
                                   on_error=self.on_error)
        run = WorkerThread(worker)
        worker.frameDone.connect(self.frameDone)
        worker.mapsReady.connect(self.mapsReady)
        worker.progress.connect(self.progress)
        worker.failed.connect(self._on_failed)
        run.ended.connect(self._on_run_ended)
        self._run, self._job = run, job
        if not internal:
            self.started.emit()
        run.start()
        return True

    def _job_factory(self, job: Job):
        store = self.state.store
        name, device = self.tracker_for(job.track_id)
        request = self._request(job) if job.kind == "propagate" else None

        def make(video, cancel):
            from app.core import propagation as core

            if job.kind == "between":
                return core.propagate_between(video, store, job.track_id, job.first, job.last,
                                              tracker=name, device=device, cancel=cancel)
            tracker = ReusedTracker(self._tracker_instance(job.track_id, name, device))
            return core.propagate(video, store, request, cancel=cancel, tracker=tracker)

        return make

    def _estimate_total(self, job: Job) -> int:
        """Frames the run will report (the core plans them; a failing plan fails in the worker)."""
        if job.kind == "between":
            return max(1, 2 * (job.last - job.first - 1))     # a forward pass, then the fused backward pass
        return max(1, self._planned(job) or 0)

    def _planned(self, job: Job) -> int | None:
        """Frames a propagate job will visit; None when the core refuses the request (the worker reports why)."""
        from app.core import propagation as core

        try:
            return len(core.planned_frames(self.state.video, self.state.store, self._request(job)))
        except Exception:
            return None

    def _request(self, job: Job):
        from app.core import propagation as core

        name, device = self.tracker_for(job.track_id)
        return core.PropagationRequest(
            track_id=job.track_id, start=job.start, direction=job.direction,
            stop=job.stop if job.mode == "range" else None, until_keyframe=job.mode == "to_keyframe",
            tracker=name, device=device, on_error=self.on_error)

    # -- run events ------------------------------------------------------------------------
    def _on_failed(self, message: str) -> None:
        self._queue = []
        self.failed.emit(message)
        self.state.message.emit(f"propagation failed: {message}")

    def _on_run_ended(self, run: WorkerThread) -> None:
        if run is not self._run:
            return              # already handled (shutdown() handles it synchronously)
        job = self._job
        self._run = None
        worker = run.worker
        cancelled = worker.cancel_token.cancelled
        run.thread.deleteLater()
        if worker.error is not None and job is not None:
            # A tracker that failed may be in any state: the next run starts with a fresh one.
            with self._trackers_lock:
                self._drop_tracker(job.track_id)
        if self._queue and worker.error is None and (self._restarting or not cancelled):
            self._restarting = False
            nxt = self._queue.pop(0)
            if self._start(nxt, internal=True):
                self.restarted.emit(nxt.track_id, nxt.start if nxt.kind == "propagate" else nxt.first)
                return
        self._restarting = False
        self._queue = []
        user_cancelled = cancelled
        if job is not None and job.step_after and worker.error is None and not cancelled and worker.written:
            self.state.set_frame(worker.written[-1])
        self.finished.emit(bool(user_cancelled))

    def _on_human_edit(self, track_id: int, frame: int) -> None:
        """A person corrected ``frame``: restart a running propagation of this object from it."""
        self._failed.get(track_id, set()).discard(frame)
        job = self._job
        if self._run is None or job is None or job.track_id != track_id:
            return  # the next run starts from the store's annotation and re-initialises the tracker
        if job.kind == "between":
            if not job.first < frame < job.last:
                return
            parts = [Job("between", track_id, start=a, first=a, last=b)
                     for a, b in ((job.first, frame), (frame, job.last)) if b - a > 1]
            if not parts:
                return
            self._queue = parts
        else:
            if (frame - job.start) * job.direction <= 0:
                return  # behind the run's start: not part of this run
            if job.mode == "range" and job.stop is not None and (job.stop - frame) * job.direction < 0:
                return
            front = self._run.worker.last_frame
            front = job.start if front is None else front
            if (frame - front) * job.direction >= 2:
                # Not reached yet: the run will meet the human frame and re-initialise
                # the tracker there itself (the core's rule), nothing to redo.
                return
            self._queue = [replace(job, start=frame)]
        self._restarting = True
        self._run.worker.cancel_token.cancel()

    def _on_project_opened(self) -> None:
        self.shutdown()
        with self._trackers_lock:
            for tid in list(self._trackers):
                self._drop_tracker(tid)
        self._settings.clear()
        self._failed.clear()
        self.history.clear()


class PropagationStatusWidget(QWidget):
    """Status-bar piece: progress bar, frames/s and ETA, and a Cancel button (hidden when idle)."""

    def __init__(self, controller: PropagationController, parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.bar = QProgressBar(self)
        self.bar.setMaximumWidth(160)
        self.bar.setTextVisible(True)
        self.label = QLabel("", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop the propagation; frames done so far are kept (Esc)")
        self.cancel_button.clicked.connect(controller.cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.label, self.bar, self.cancel_button):
            lay.addWidget(w)
        controller.started.connect(self._on_started)
        controller.progress.connect(self._on_progress)
        controller.finished.connect(self._on_finished)
        controller.failed.connect(lambda msg: self.label.setText(f"failed: {msg}"))
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.bar.setVisible(running)
        self.cancel_button.setVisible(running)

    def _on_started(self) -> None:
        self.bar.setRange(0, 0)   # busy until the first progress report
        self.label.setText("propagating…")
        self._set_running(True)

    def _on_progress(self, done: int, total: int, fps: float, eta: float) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(min(done, total))
        eta_text = "–" if eta != eta else f"{int(eta) // 60}:{int(eta) % 60:02d}"
        self.label.setText(f"{done}/{total} · {fps:.1f} frames/s · ETA {eta_text}")

    def _on_finished(self, cancelled: bool) -> None:
        self._set_running(False)
        if not self.label.text().startswith("failed"):
            self.label.setText(self.label.text().split(" · ETA")[0] + (" · cancelled" if cancelled else " · done"))
