"""Box tool: drag on the frame to draw a box; the current object's box gets handles.

Dragging on empty frame draws a new box for the current object (an object is
created when none is selected).  Clicking inside another object's box selects
that object.  The handles live in :class:`BoxROI`, which the frame view shows
on the current object's box in this mode.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from .base import Tool


class BoxROI(pg.ROI):
    """A rectangle with 8 scale handles (corners and sides), each anchored opposite."""

    def __init__(self, box, color: str) -> None:
        x, y, w, h = box
        pen = pg.mkPen(QColor(color), width=2)
        super().__init__((x, y), (w, h), pen=pen, hoverPen=pg.mkPen("w", width=2),
                         handlePen=pg.mkPen(QColor(color)), handleHoverPen=pg.mkPen("w"),
                         movable=True, rotatable=False, resizable=False, removable=False,
                         invertible=True)
        for hx, hy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            self.addScaleHandle([hx, hy], [1 - hx, 1 - hy])
        for hx, hy in ((0.5, 0), (0.5, 1), (0, 0.5), (1, 0.5)):
            self.addScaleHandle([hx, hy], [1 - hx if hx != 0.5 else 0.5, 1 - hy if hy != 0.5 else 0.5])

    def box(self) -> tuple[float, float, float, float]:
        (x, y), (w, h) = self.pos(), self.size()
        if w < 0:
            x, w = x + w, -w
        if h < 0:
            y, h = y + h, -h
        return (float(x), float(y), float(w), float(h))


class BoxTool(Tool):
    name = "box"
    label = "Box"

    def __init__(self, view) -> None:
        super().__init__(view)
        self._start: tuple[float, float] | None = None
        self._band: QGraphicsRectItem | None = None

    def press(self, x, y, modifiers) -> None:
        self._start = (x, y)
        self._band = QGraphicsRectItem()
        pen = QPen(QColor(self.view.current_color()))
        pen.setCosmetic(True)
        pen.setWidth(2)
        pen.setStyle(Qt.PenStyle.DashLine)
        self._band.setPen(pen)
        self.view.add_item(self._band)
        self.move(x, y)

    def move(self, x, y) -> None:
        if self._start is None or self._band is None:
            return
        x0, y0 = self._start
        self._band.setRect(QRectF(min(x0, x), min(y0, y), abs(x - x0), abs(y - y0)))

    def release(self, x, y) -> None:
        if self._start is None:
            return
        x0, y0 = self._start
        self.cancel()
        self.view.commit_box((min(x0, x), min(y0, y), abs(x - x0), abs(y - y0)), "draw box")

    def click(self, x, y, button, double, modifiers) -> None:
        if button == Qt.MouseButton.LeftButton:
            self.view.select_object_at(x, y)

    def cancel(self) -> None:
        if self._band is not None:
            self.view.remove_item(self._band)
        self._band, self._start = None, None
