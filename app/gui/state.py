"""The state the widgets share: open project, video, current frame and object.

Widgets never talk to each other directly; they read and change this object
and listen to its signals.  It holds references only (the store and video are
app.core objects) and owns no business logic.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core.model import FrameAnnotation


class AppState(QObject):
    projectOpened = Signal()                 # store/video replaced (or closed: both None)
    frameChanged = Signal(int)               # current frame index
    objectChanged = Signal(int)              # current track id (-1 = none)
    annotationsChanged = Signal(int, list)   # track id, frame indices (after a committed change)
    objectsChanged = Signal()                # objects added/removed/renamed/recoloured
    humanEdit = Signal(int, int)             # track id, frame: a person drew/corrected this frame
    message = Signal(str)                    # one-line status message for the status bar
    error = Signal(str)                      # readable error for a message box

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.store = None        # app.core.store.ProjectStore | None
        self.video = None        # app.core.video.VideoSource | None
        self.current_frame = 0
        self.current_object = -1
        # (track_id, frame) -> {name: ScoreMap | BoxSet}, bounded, filled by the propagation controller
        self.map_history = None

    # -- setters that emit only on change ------------------------------------
    def set_frame(self, index: int) -> None:
        if self.video is None:
            return
        index = max(0, min(int(index), len(self.video) - 1))
        if index != self.current_frame:
            self.current_frame = index
            self.frameChanged.emit(index)

    def set_object(self, track_id: int) -> None:
        if track_id != self.current_object:
            self.current_object = track_id
            self.objectChanged.emit(track_id)

    def set_project(self, store, video) -> None:
        self.store, self.video = store, video
        self.current_frame = 0
        self.current_object = -1
        if store is not None:
            # Store listeners may fire on a worker thread; re-emit through the
            # signal so Qt queues the delivery onto the GUI thread.
            store.add_listener(lambda tid, frames: self.annotationsChanged.emit(tid, list(frames)))
        self.projectOpened.emit()

    # -- convenience -----------------------------------------------------------
    def annotation(self, track_id: int | None = None, frame: int | None = None) -> FrameAnnotation | None:
        if self.store is None:
            return None
        tid = self.current_object if track_id is None else track_id
        idx = self.current_frame if frame is None else frame
        return self.store.get(tid, idx) if tid >= 0 else None
