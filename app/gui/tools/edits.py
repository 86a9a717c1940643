"""The annotator's edits as store transactions: one undo group per user action.

Tools and actions call these; they never talk to the store themselves.  Every
edit that *draws or corrects* the object emits ``state.humanEdit`` so the
propagation controller can re-initialise its tracker from it.
"""
from __future__ import annotations

import numpy as np

from app.core.model import HUMAN, FrameAnnotation, decode_mask, encode_mask
from trackers.base import box_from_mask

Box = tuple[float, float, float, float]

# Distinct colours (Trubetskoy's list); object N gets PALETTE[N % len].
PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
           "#808000", "#ffd8b1", "#000075", "#a9a9a9"]


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """Clip to the frame; ``None`` when less than a pixel remains."""
    x, y, w, h = (float(v) for v in box)
    if w < 0:
        x, w = x + w, -w
    if h < 0:
        y, h = y + h, -h
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return (round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2))


class Editor:
    """Writes human annotations for the current project held by ``state``."""

    def __init__(self, state) -> None:
        self.state = state

    # -- helpers ---------------------------------------------------------------
    def _ready(self, track_id: int) -> bool:
        if self.state.store is None or self.state.video is None:
            self.state.message.emit("open a video first")
            return False
        if track_id < 0:
            self.state.message.emit("select or add an object first (N)")
            return False
        return True

    def _put_human(self, track_id: int, frame: int, ann: FrameAnnotation, label: str) -> None:
        store = self.state.store
        with store.group(label):
            store.put(track_id, frame, ann.with_(source=HUMAN), overwrite_human=True)
        self.state.humanEdit.emit(track_id, frame)

    def current_mask(self, track_id: int, frame: int) -> np.ndarray | None:
        ann = self.state.store.get(track_id, frame) if self.state.store is not None else None
        if ann is None or ann.mask_rle is None:
            return None
        return decode_mask(ann.mask_rle)

    # -- objects ---------------------------------------------------------------
    def add_object(self, category: str | None = None) -> int:
        """A new object (a fresh track id, never reused) becomes the current one."""
        store = self.state.store
        if store is None:
            self.state.message.emit("open a video first")
            return -1
        existing = store.objects()
        if category is None:
            current = next((o for o in existing if o.track_id == self.state.current_object), None)
            category = current.category if current is not None else "object"
        with store.group("add object"):
            track_id = store.add_object(category=category, color=PALETTE[len(existing) % len(PALETTE)],
                                        tracker=(existing[-1].tracker if existing else "csrt"))
        self.state.objectsChanged.emit()
        self.state.set_object(track_id)
        return track_id

    def ensure_object(self) -> int:
        if self.state.current_object >= 0:
            return self.state.current_object
        return self.add_object()

    def delete_object(self, track_id: int) -> None:
        store = self.state.store
        if store is None or track_id < 0:
            return
        with store.group("delete object"):
            store.delete_object(track_id)
        if self.state.current_object == track_id:
            remaining = [o.track_id for o in store.objects()]
            self.state.set_object(remaining[-1] if remaining else -1)
        self.state.objectsChanged.emit()

    # -- edits -----------------------------------------------------------------
    def set_box(self, track_id: int, frame: int, box: Box, label: str = "draw box") -> bool:
        """Draw or move a box.  An existing mask is clipped to the new box."""
        if not self._ready(track_id):
            return False
        video = self.state.video
        clipped = clip_box(box, video.width, video.height)
        if clipped is None:
            self.state.message.emit("box too small or outside the frame: not saved")
            return False
        old = self.state.store.get(track_id, frame)
        mask_rle = None
        if old is not None and old.mask_rle is not None:
            mask = decode_mask(old.mask_rle)
            x, y, w, h = clipped
            keep = np.zeros_like(mask)
            keep[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))] = True
            mask &= keep
            mask_rle = encode_mask(mask) if mask.any() else None
        self._put_human(track_id, frame, FrameAnnotation(box=clipped, mask_rle=mask_rle), label)
        return True

    def set_mask(self, track_id: int, frame: int, mask: np.ndarray, label: str = "paint mask") -> bool:
        """Replace the mask; the box follows the mask.  An empty mask keeps the box only."""
        if not self._ready(track_id):
            return False
        mask = np.asarray(mask, dtype=bool)
        box = box_from_mask(mask)
        if box is None:
            old = self.state.store.get(track_id, frame)
            if old is None:
                return False
            if old.box is None:        # erased everything that was there
                return self.delete_frame(track_id, frame)
            self._put_human(track_id, frame, FrameAnnotation(box=old.box), label)
            return True
        self._put_human(track_id, frame, FrameAnnotation(box=box, mask_rle=encode_mask(mask)), label)
        return True

    def toggle_absent(self, track_id: int, frame: int) -> bool | None:
        """Mark the object absent (out of view/occluded) here, or clear that mark.

        Returns the new absent flag, ``None`` when nothing was done.
        """
        if not self._ready(track_id):
            return None
        store = self.state.store
        old = store.get(track_id, frame)
        if old is not None and old.absent:
            with store.group("clear absent"):
                store.delete(track_id, frame)
            return False
        self._put_human(track_id, frame, FrameAnnotation(box=None, absent=True), "mark absent")
        return True

    def make_keyframe(self, track_id: int, frame: int) -> bool:
        """Accept the tracker's (or interpolated) result here as a human keyframe."""
        if not self._ready(track_id):
            return False
        old = self.state.store.get(track_id, frame)
        if old is None:
            self.state.message.emit("nothing on this frame to make a keyframe of; draw a box first")
            return False
        if old.is_human:
            self.state.message.emit(f"frame {frame} is already a keyframe")
            return False
        self._put_human(track_id, frame, old.with_(score=None), "make keyframe")
        return True

    def delete_frame(self, track_id: int, frame: int) -> bool:
        """Delete this object's annotation on THIS frame only."""
        if not self._ready(track_id):
            return False
        store = self.state.store
        if store.get(track_id, frame) is None:
            self.state.message.emit("no annotation on this frame")
            return False
        with store.group("delete frame annotation"):
            store.delete(track_id, frame)
        return True
