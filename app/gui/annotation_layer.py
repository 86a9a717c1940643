"""Draws the annotations of one frame into the frame view's ViewBox.

Every visible object gets its box in its colour (solid = human keyframe,
dashed = tracker or interpolated), a label with its track id, category and
score, and its mask as a translucent tint.  The current object's box carries
handles (a :class:`BoxROI`) when the box tool is active.  Also draws the
tracker's chosen map (``controller.overlay``) as a colour-mapped image
stretched over the map's region.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from app.core.model import decode_mask

from .tools.box_tool import BoxROI

MASK_ALPHA, CURRENT_MASK_ALPHA = 90, 130


def _pen(color: str, human: bool, current: bool) -> QPen:
    pen = QPen(QColor(color))
    pen.setCosmetic(True)
    pen.setWidth(3 if current else 2)
    if not human:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


def _label(ann, obj) -> str:
    text = f"{obj.track_id} {obj.category}"
    if ann.absent:
        return text + " (absent)"
    if not ann.is_human:
        kind = "interp" if ann.source == "interpolated" else ann.source.split(":", 1)[-1]
        text += f"  {kind}" + ("" if ann.score is None else f" {ann.score:.2f}")
    return text


class AnnotationLayer:
    def __init__(self, viewbox: pg.ViewBox) -> None:
        self.vb = viewbox
        self.mask_item = pg.ImageItem(axisOrder="row-major")
        self.mask_item.setZValue(10)
        self.map_item = pg.ImageItem(axisOrder="row-major")
        self.map_item.setZValue(5)
        self.map_item.setOpacity(0.5)
        try:
            self.map_item.setLookupTable(pg.colormap.get("inferno").getLookupTable(nPts=256))
        except Exception:  # colormap files missing in a trimmed install: grey is still useful
            pass
        self.map_item.hide()
        for item in (self.mask_item, self.map_item):
            viewbox.addItem(item)
        self._items: list = []
        self.roi: BoxROI | None = None
        self.map_name: str | None = None
        self._shape: tuple[int, int] | None = None
        self._masks: dict[int, tuple[np.ndarray, str, bool]] = {}   # tid -> (mask, colour, current)

    # -- boxes and labels ----------------------------------------------------
    def clear(self) -> None:
        for item in self._items:
            self.vb.removeItem(item)
        self._items = []
        if self.roi is not None:
            self.vb.removeItem(self.roi)
            self.roi = None

    @property
    def busy(self) -> bool:
        """True while the person drags the box handles: redraw later."""
        return self.roi is not None and bool(getattr(self.roi, "isMoving", False))

    def draw(self, shape, entries, current: int, editable: bool, on_box_edited) -> None:
        """``entries``: [(TrackObject, FrameAnnotation)] for the visible objects."""
        self.clear()
        self._shape = shape
        self._masks = {}
        for obj, ann in entries:
            is_current = obj.track_id == current
            if ann.mask_rle is not None and not ann.absent:
                try:
                    self._masks[obj.track_id] = (decode_mask(ann.mask_rle), obj.color, is_current)
                except Exception:   # a corrupt mask must not hide the other objects
                    pass
            if ann.box is not None and not ann.absent:
                x, y, w, h = ann.box
                if is_current and editable:
                    self.roi = BoxROI(ann.box, obj.color)
                    self.roi.setZValue(30)
                    self.roi.sigRegionChangeFinished.connect(lambda roi: on_box_edited(roi.box()))
                    self.vb.addItem(self.roi)
                else:
                    rect = QGraphicsRectItem(QRectF(x, y, w, h))
                    rect.setPen(_pen(obj.color, ann.is_human, is_current))
                    rect.setZValue(20 + is_current)
                    self._add(rect)
                anchor_pos = (x, y)
            else:
                anchor_pos = (4, 4 + 18 * len(self._items))
            text = pg.TextItem(_label(ann, obj), color="#000000", fill=pg.mkBrush(QColor(obj.color)),
                               anchor=(0, 1) if ann.box is not None and not ann.absent else (0, 0))
            text.setPos(*anchor_pos)
            text.setZValue(25)
            self._add(text)
        self.show_masks()

    def _add(self, item) -> None:
        self.vb.addItem(item)
        self._items.append(item)

    # -- masks ---------------------------------------------------------------
    def show_masks(self, override: dict[int, np.ndarray | None] | None = None) -> None:
        """Composite every mask into one RGBA image; ``override`` previews a stroke."""
        masks = dict(self._masks)
        for tid, mask in (override or {}).items():
            colour, current = (masks[tid][1:] if tid in masks else (self._override_colour, True))
            if mask is None:
                masks.pop(tid, None)
            else:
                masks[tid] = (mask, colour, current)
        if not masks or self._shape is None:
            self.mask_item.hide()
            return
        rgba = np.zeros((*self._shape, 4), np.uint8)
        for mask, colour, current in masks.values():
            c = QColor(colour)
            rgba[mask] = (c.red(), c.green(), c.blue(), CURRENT_MASK_ALPHA if current else MASK_ALPHA)
        self.mask_item.setImage(rgba, levels=(0, 255), autoLevels=False)
        self.mask_item.setRect(QRectF(0, 0, self._shape[1], self._shape[0]))
        self.mask_item.show()

    _override_colour = "#ffffff"

    def set_override_colour(self, colour: str) -> None:
        self._override_colour = colour

    # -- the tracker's map ---------------------------------------------------
    def show_map(self, overlay) -> None:
        """``overlay``: ``(name, ScoreMap)`` or ``None``."""
        if overlay is None:
            self.map_item.hide()
            self.map_name = None
            return
        name, score_map = overlay
        data = np.nan_to_num(np.asarray(score_map.data, np.float32))
        lo, hi = float(data.min()), float(data.max())
        norm = (data - lo) / (hi - lo) if hi > lo else np.zeros_like(data)
        self.map_item.setImage(norm, levels=(0.0, 1.0), autoLevels=False)
        self.map_item.setRect(QRectF(*score_map.region))
        self.map_item.show()
        self.map_name = name
