"""Mask tools: brush, eraser and polygon.  Each stroke/polygon is one undo step."""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from .base import Tool


def _cosmetic_pen(color: str, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(color))
    pen.setCosmetic(True)
    pen.setWidth(2)
    pen.setStyle(style)
    return pen


class BrushTool(Tool):
    """Paint (or erase) the current object's mask with a round brush."""

    def __init__(self, view, erase: bool = False) -> None:
        super().__init__(view)
        self.erase = erase
        self.name = "eraser" if erase else "brush"
        self.label = "Eraser" if erase else "Brush"
        self._mask: np.ndarray | None = None
        self._last: tuple[int, int] | None = None
        self._cursor: QGraphicsEllipseItem | None = None

    def activate(self) -> None:
        self._cursor = QGraphicsEllipseItem()
        self._cursor.setPen(_cosmetic_pen("#ffffff", Qt.PenStyle.DotLine))
        self._cursor.setZValue(1000)
        self.view.add_item(self._cursor)

    def deactivate(self) -> None:
        self.cancel()
        if self._cursor is not None:
            self.view.remove_item(self._cursor)
            self._cursor = None

    def hover(self, x, y) -> None:
        if self._cursor is not None:
            r = self.view.brush_radius
            self._cursor.setRect(QRectF(x - r, y - r, 2 * r, 2 * r))

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """Paint a whole stroke at once (used by scripts and tests)."""
        if not points:
            return
        self.press(*points[0], Qt.KeyboardModifier.NoModifier)
        for p in points[1:]:
            self.move(*p)
        self.release(*points[-1])

    def press(self, x, y, modifiers) -> None:
        self._mask = self.view.working_mask()
        if self._mask is None:
            return
        self._last = None
        self.move(x, y)

    def move(self, x, y) -> None:
        self.hover(x, y)
        if self._mask is None:
            return
        r = max(1, int(round(self.view.brush_radius)))
        p = (int(round(x)), int(round(y)))
        canvas = self._mask.view(np.uint8)
        value = 0 if self.erase else 1
        if self._last is not None:
            cv2.line(canvas, self._last, p, value, thickness=2 * r)
        cv2.circle(canvas, p, r, value, thickness=-1)
        self._last = p
        self.view.preview_mask(self._mask)

    def release(self, x, y) -> None:
        if self._mask is None:
            return
        mask, self._mask, self._last = self._mask, None, None
        self.view.commit_mask(mask, "erase mask" if self.erase else "paint mask")

    def cancel(self) -> None:
        if self._mask is not None:
            self._mask, self._last = None, None
            self.view.preview_mask(None)


class PolygonTool(Tool):
    """Click vertices; double-click, right-click or Enter closes (adds to the mask).

    Hold Shift while closing to cut the polygon out of the mask instead.
    Backspace removes the last vertex, Esc drops the polygon.
    """

    name = "polygon"
    label = "Polygon"

    def __init__(self, view) -> None:
        super().__init__(view)
        self.points: list[tuple[float, float]] = []
        self._path: QGraphicsPathItem | None = None
        self._hover: tuple[float, float] | None = None

    def click(self, x, y, button, double, modifiers) -> None:
        if button == Qt.MouseButton.RightButton or double:
            self.close(subtract=bool(modifiers & Qt.KeyboardModifier.ShiftModifier))
            return
        if button == Qt.MouseButton.LeftButton:
            self.points.append((x, y))
            self._redraw()

    def press(self, x, y, modifiers) -> None:   # a drag adds a vertex where it starts
        self.points.append((x, y))
        self._redraw()

    def hover(self, x, y) -> None:
        self._hover = (x, y)
        if self.points:
            self._redraw()

    def key(self, key) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.close()
            return True
        if key == Qt.Key.Key_Backspace and self.points:
            self.points.pop()
            self._redraw()
            return True
        if key == Qt.Key.Key_Escape and self.points:
            self.cancel()
            return True
        return False

    def close(self, subtract: bool = False) -> None:
        points, self.points = self.points, []
        self._redraw()
        if len(points) < 3:
            if points:
                self.view.state.message.emit("a polygon needs at least 3 points")
            return
        mask = self.view.working_mask()
        if mask is None:
            return
        poly = np.array([[int(round(px)), int(round(py))] for px, py in points], np.int32)
        canvas = mask.view(np.uint8)
        cv2.fillPoly(canvas, [poly], 0 if subtract else 1)
        self.view.commit_mask(mask, "cut polygon" if subtract else "add polygon")

    def cancel(self) -> None:
        self.points = []
        self._redraw()

    def _redraw(self) -> None:
        if not self.points:
            if self._path is not None:
                self.view.remove_item(self._path)
                self._path = None
            return
        if self._path is None:
            self._path = QGraphicsPathItem()
            self._path.setPen(_cosmetic_pen(self.view.current_color()))
            self._path.setZValue(1000)
            self.view.add_item(self._path)
        path = QPainterPath(QPointF(*self.points[0]))
        for p in self.points[1:]:
            path.lineTo(QPointF(*p))
        if self._hover is not None:
            path.lineTo(QPointF(*self._hover))
        self._path.setPath(path)
