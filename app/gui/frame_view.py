"""The frame view: the current frame, every object on it, and the editing tools.

Zoom with the wheel, pan by dragging with the middle button (or Space + drag),
fit with :meth:`fit`.  The left button belongs to the active tool (box, brush,
eraser, polygon).  Frames are decoded off the GUI thread by a
:class:`FrameLoader`; edits go through an :class:`Editor` into the store and
are drawn on the frame that is on screen.

While the exact frame is decoded (a seek in long-GOP video can take hundreds
of ms) the loader's PREVIEW is shown: the same frame from the display proxy,
or the nearest frame already decoded.  A preview is drawn at the original
frame's geometry (so frame coordinates line up) and marked "preview: ..." in
a corner until the exact frame replaces it.  It never becomes ``self.frame``
or ``self.shown_index``: pixel tools (GrabCut, brush) only ever see exact
frames, and edits wait for the exact frame.  Annotations are drawn only over
pixels of their own frame: over a proxy preview (the requested frame, read
only), not over a "nearest" preview (another frame's pixels).
"""
from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (QApplication, QCheckBox, QGraphicsRectItem, QHBoxLayout, QLabel, QSlider,
                               QSpinBox, QVBoxLayout, QWidget)

from .annotation_layer import AnnotationLayer
from .frame_loader import FrameLoader
from .tools.box_tool import BoxTool
from .tools.edits import Editor
from .tools.grabcut import box_to_mask
from .tools.mask_tools import BrushTool, PolygonTool

log = logging.getLogger(__name__)

PREVIEW_COLOUR = "#ffd040"


class PreviewMarker:
    """The "this is not the exact frame yet" marks: a label in the top-right corner and a dashed border."""

    def __init__(self, viewbox: pg.ViewBox) -> None:
        self.label = pg.TextItem("", color="#000000", fill=pg.mkBrush(QColor(PREVIEW_COLOUR)), anchor=(1, 0))
        self.border = QGraphicsRectItem()
        pen = QPen(QColor(PREVIEW_COLOUR))
        pen.setCosmetic(True)
        pen.setWidth(2)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.border.setPen(pen)
        for z, item in enumerate((self.border, self.label)):
            item.setZValue(40 + z)
            viewbox.addItem(item)
        self.hide()

    def show(self, text: str, width: int, height: int) -> None:
        self.label.setText(text)
        self.label.setPos(width, 0)
        self.border.setRect(QRectF(0, 0, width, height))
        self.label.show()
        self.border.show()

    def hide(self) -> None:
        self.label.hide()
        self.border.hide()

    @property
    def text(self) -> str:
        """The marker's text, "" while the exact frame is on screen."""
        return self.label.toPlainText() if self.label.isVisible() else ""


class AnnotationViewBox(pg.ViewBox):
    """Left button -> the active tool; middle button or Space+left -> pan."""

    def __init__(self, view: "FrameView") -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.view = view

    def _image_pos(self, scene_pos) -> tuple[float, float]:
        p = self.mapSceneToView(scene_pos)
        return float(p.x()), float(p.y())

    def mouseDragEvent(self, ev, axis=None):
        tool = self.view.tool
        if ev.button() == Qt.MouseButton.LeftButton and not self.view.space_down and tool is not None:
            ev.accept()
            if ev.isStart():
                tool.press(*self._image_pos(ev.buttonDownScenePos()), ev.modifiers())
            x, y = self._image_pos(ev.scenePos())
            tool.release(x, y) if ev.isFinish() else tool.move(x, y)
            return
        if ev.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self.view.space_used = True
            super().mouseDragEvent(ev, axis)
            return
        ev.ignore()

    def mouseClickEvent(self, ev):
        if self.view.tool is not None and ev.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            ev.accept()
            self.view.tool.click(*self._image_pos(ev.scenePos()), ev.button(), ev.double(), ev.modifiers())
            return
        super().mouseClickEvent(ev)


class FrameView(QWidget):
    toolChanged = Signal(str)
    frameShown = Signal(int)           # index of the frame now on screen

    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.editor = Editor(state)
        self.controller = None
        self.loader: FrameLoader | None = None
        self.shown_index = -1
        self.frame: np.ndarray | None = None
        # (requested, shown, kind) while a preview stands in for frame ``requested``; None when exact.
        self.preview: tuple[int, int, str] | None = None
        self.brush_radius = 8
        self.space_down = False
        self.space_used = False
        self._after_space: list = []
        self._objects = []

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#202020")
        self.vb = AnnotationViewBox(self)
        self.graphics.ci.addItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image_item)
        self.layer = AnnotationLayer(self.vb)
        self.preview_marker = PreviewMarker(self.vb)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

        self.tools = {t.name: t for t in (BoxTool(self), BrushTool(self), BrushTool(self, erase=True),
                                          PolygonTool(self))}
        self.tool = self.tools["box"]
        self.tool.activate()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self._build_overlay_bar())
        layout.addWidget(self.graphics, 1)

        self._redraw_timer = QTimer(self, singleShot=True, interval=0)
        self._redraw_timer.timeout.connect(self.redraw_now)
        state.projectOpened.connect(self._on_project_opened)
        state.frameChanged.connect(self._on_frame_changed)
        state.objectChanged.connect(lambda _tid: self.schedule_redraw())
        state.objectsChanged.connect(self._on_objects_changed)
        state.annotationsChanged.connect(self._on_annotations_changed)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)   # to see Space held down, wherever the focus is

    # -- overlay bar ------------------------------------------------------------
    def _build_overlay_bar(self) -> QWidget:
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(4, 0, 4, 0)
        self.map_check = QCheckBox("Map overlay")
        self.map_check.setToolTip("draw the current tracker's chosen map over the frame (H)")
        self.map_check.setChecked(True)
        self.map_check.toggled.connect(lambda _on: self.update_map_overlay())
        self.map_opacity = QSlider(Qt.Orientation.Horizontal)
        self.map_opacity.setRange(0, 100)
        self.map_opacity.setValue(50)
        self.map_opacity.setMaximumWidth(120)
        self.map_opacity.setToolTip("map overlay opacity")
        self.map_opacity.valueChanged.connect(lambda v: self.layer.map_item.setOpacity(v / 100))
        self.map_label = QLabel("")
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(1, 200)
        self.brush_spin.setValue(self.brush_radius)
        self.brush_spin.setPrefix("brush ")
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setToolTip("brush/eraser radius ([ and ])")
        self.brush_spin.valueChanged.connect(self._set_brush_radius)
        for w in (self.brush_spin, self.map_check, self.map_opacity):
            w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)    # keep single-key shortcuts for the view
        self.tool_label = QLabel("tool: box")
        self.pos_label = QLabel("")
        for w in (self.tool_label, self.brush_spin, self.map_check, self.map_opacity, self.map_label):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.pos_label)
        return bar

    def _set_brush_radius(self, radius: int) -> None:
        self.brush_radius = int(radius)

    def change_brush(self, delta: int) -> None:
        self.brush_spin.setValue(max(1, self.brush_radius + delta))

    # -- tools ------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        if name not in self.tools or self.tool is self.tools[name]:
            return
        self.tool.deactivate()
        self.tool = self.tools[name]
        self.tool.activate()
        self.graphics.setCursor(self.tool.cursor)
        self.tool_label.setText(f"tool: {self.tool.label.lower()}")
        self.schedule_redraw()          # handles only in box mode
        self.toolChanged.emit(name)

    def current_color(self) -> str:
        obj = next((o for o in self._objects if o.track_id == self.state.current_object), None)
        return obj.color if obj is not None else "#ffffff"

    def add_item(self, item) -> None:
        self.vb.addItem(item)

    def remove_item(self, item) -> None:
        self.vb.removeItem(item)

    def _editable(self) -> bool:
        """Edits go to ``shown_index``: refuse them while a preview shows other pixels."""
        if self.preview is not None:
            self.state.message.emit("a preview is on screen: edit when the exact frame has loaded")
            return False
        return self.frame is not None

    def commit_box(self, box, label: str = "draw box") -> bool:
        if not self._editable():
            return False
        track_id = self.editor.ensure_object()
        return track_id >= 0 and self.editor.set_box(track_id, self.shown_index, box, label)

    def working_mask(self) -> np.ndarray | None:
        """A copy of the current object's mask on the shown frame (zeros if none)."""
        if not self._editable():
            return None
        track_id = self.editor.ensure_object()
        if track_id < 0:
            return None
        self.layer.set_override_colour(self.current_color())
        mask = self.editor.current_mask(track_id, self.shown_index)
        return mask.copy() if mask is not None else np.zeros(self.frame.shape[:2], bool)

    def preview_mask(self, mask: np.ndarray | None) -> None:
        if mask is None:
            self.layer.show_masks()
        else:
            self.layer.show_masks({self.state.current_object: mask})

    def commit_mask(self, mask: np.ndarray, label: str) -> bool:
        track_id = self.state.current_object
        ok = self._editable() and self.editor.set_mask(track_id, self.shown_index, mask, label)
        if not ok:
            self.preview_mask(None)
        return ok

    def box_to_mask(self) -> bool:
        """GrabCut inside the current object's box; the mask replaces the old one."""
        track_id = self.state.current_object
        if not self._editable():
            return False
        ann = self.state.annotation(track_id, self.shown_index) if track_id >= 0 else None
        if ann is None or ann.box is None:
            self.state.message.emit("box -> mask needs a box on this frame")
            return False
        mask = box_to_mask(self.frame, ann.box)
        return self.editor.set_mask(track_id, self.shown_index, mask, "box to mask")

    def select_object_at(self, x: float, y: float) -> None:
        index = self._annotated_index()
        if index is None:
            return
        hits = []
        for obj in self._objects:
            ann = self.state.store.get(obj.track_id, index) if obj.visible else None
            if ann is not None and ann.box is not None and not ann.absent:
                bx, by, bw, bh = ann.box
                if bx <= x <= bx + bw and by <= y <= by + bh:
                    hits.append((bw * bh, obj.track_id))
        if hits:
            self.state.set_object(min(hits)[1])

    # -- frames -----------------------------------------------------------------
    def _on_project_opened(self) -> None:
        if self.loader is not None:
            self.loader.close()
            self.loader = None
        self.tool.cancel()
        self.frame, self.shown_index, self.preview = None, -1, None
        self.preview_marker.hide()
        self._objects = self.state.store.objects() if self.state.store is not None else []
        self.layer.clear()
        self.layer.show_map(None)
        if self.state.video is None:
            self.image_item.clear()
            return
        self.loader = FrameLoader(self.state.video, self)
        self.loader.frameReady.connect(self._on_frame_ready)
        self.loader.previewReady.connect(self._on_preview_ready)
        self.loader.failed.connect(lambda _i, msg: self.state.message.emit(msg))
        try:
            self.show_frame_now(self.state.current_frame)
        except Exception as exc:   # shown as a message; the person may still pick another frame
            self.state.error.emit(str(exc))
        self.fit()
        self.graphics.setFocus()

    def show_frame_now(self, index: int) -> None:
        """Decode synchronously (on open, in tests); errors propagate to the caller."""
        self._on_frame_ready(index, self.loader.read_now(index))

    def _on_frame_changed(self, index: int) -> None:
        if self.loader is not None:
            self.loader.request(index)

    def _on_frame_ready(self, index: int, frame) -> None:
        if self.state.video is None or index != self.state.current_frame:
            return                      # stale: the person moved on
        first = self.frame is None
        if self.shown_index != index:
            self.tool.cancel()          # a half-drawn polygon belongs to the old frame
        self.frame, self.shown_index, self.preview = frame, index, None
        self.preview_marker.hide()
        self.image_item.setImage(frame, autoLevels=False, levels=(0, 255))
        self.image_item.resetTransform()     # undo a preview's scaling: one image pixel = one frame pixel
        if first:
            self.fit()
        self.redraw_now()
        self.frameShown.emit(index)

    def _on_preview_ready(self, requested: int, shown: int, frame, kind: str) -> None:
        """Show a stand-in for frame ``requested`` until its exact frame arrives."""
        video = self.state.video
        if video is None or requested != self.state.current_frame:
            return                      # stale: the person moved on
        if self.preview is None and self.shown_index == requested:
            return                      # its exact frame is already on screen
        first = self.frame is None and self.preview is None
        self.tool.cancel()              # a half-drawn stroke belongs to the pixels it was drawn on
        self.preview = (requested, shown, kind)
        width, height = video.width, video.height
        self.image_item.setImage(frame, autoLevels=False, levels=(0, 255))
        # A proxy may be smaller than the original: stretch it so frame coordinates line up.
        self.image_item.setRect(QRectF(0, 0, width, height))
        self.preview_marker.show("preview: proxy" if kind == "proxy" else f"preview: frame {shown}", width, height)
        if first:
            self.fit()
        self.redraw_now()

    def _frame_shape(self) -> tuple[int, int] | None:
        """(height, width) of the video's frames, whether an exact frame or a preview is shown."""
        if self.frame is not None:
            return self.frame.shape[:2]
        video = self.state.video
        return (video.height, video.width) if video is not None and self.preview is not None else None

    def fit(self) -> None:
        shape = self._frame_shape()
        if shape is not None:
            h, w = shape
            self.vb.setRange(QRectF(0, 0, w, h), padding=0.02)

    # -- annotations --------------------------------------------------------------
    def set_controller(self, controller) -> None:
        self.controller = controller
        if hasattr(controller, "mapsReady"):
            controller.mapsReady.connect(self._on_maps_ready)

    def _on_objects_changed(self) -> None:
        self._objects = self.state.store.objects() if self.state.store is not None else []
        self.schedule_redraw()

    def _on_annotations_changed(self, track_id: int, frames: list) -> None:
        if self._annotated_index() in frames or not frames:
            self.schedule_redraw()

    def _on_maps_ready(self, track_id: int, frame: int) -> None:
        if track_id == self.state.current_object and frame == self._annotated_index():
            self.update_map_overlay()

    def schedule_redraw(self) -> None:
        # Coalesced and deferred: never delete the box handles inside their own signal.
        self._redraw_timer.start(100 if self.layer.busy else 0)

    def _annotated_index(self) -> int | None:
        """The frame whose annotations belong over the pixels on screen (None: another frame's pixels)."""
        if self.preview is not None:
            requested, _shown, kind = self.preview
            return requested if kind == "proxy" else None
        return self.shown_index if self.frame is not None and self.shown_index >= 0 else None

    def redraw_now(self) -> None:
        store = self.state.store
        shape = self._frame_shape()
        if store is None or shape is None:
            self.layer.clear()
            return
        if self.layer.busy:
            self.schedule_redraw()
            return
        index = self._annotated_index()
        entries = []
        for obj in self._objects if index is not None else ():
            ann = store.get(obj.track_id, index) if obj.visible else None
            if ann is not None:
                entries.append((obj, ann))
        self.layer.draw(shape, entries, self.state.current_object,
                        editable=self.tool.name == "box" and self.preview is None,
                        on_box_edited=lambda box: self.commit_box(box, "edit box"))
        self.update_map_overlay()

    def update_map_overlay(self) -> None:
        overlay = None
        tid = self.state.current_object
        index = self._annotated_index()
        if self.map_check.isChecked() and self.controller is not None and tid >= 0 and index is not None:
            try:
                overlay = self.controller.overlay(tid, index)
            except Exception:   # a map we cannot draw must not stop the frame from drawing
                log.exception("map overlay failed")
        self.layer.show_map(overlay)
        self.map_label.setText(f"map: {self.layer.map_name}" if self.layer.map_name else "")

    def toggle_map(self) -> None:
        self.map_check.setChecked(not self.map_check.isChecked())

    # -- input ----------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos) -> None:
        if self.frame is None:
            return
        p = self.vb.mapSceneToView(scene_pos)
        self.tool.hover(float(p.x()), float(p.y()))
        h, w = self.frame.shape[:2]
        if 0 <= p.x() < w and 0 <= p.y() < h:
            self.pos_label.setText(f"x {p.x():.0f}  y {p.y():.0f}")

    def keyPressEvent(self, event) -> None:
        if not self.tool.key(event.key()):
            if event.key() == Qt.Key.Key_Escape:
                self.tool.cancel()
            else:
                super().keyPressEvent(event)

    def after_space_release(self, callback) -> bool:
        """Run ``callback`` when Space is released without a pan; False if Space is not down."""
        if not self.space_down:
            return False
        self._after_space.append(callback)
        return True

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
                if kind == QEvent.Type.KeyRelease:
                    if self.space_down:
                        self.space_down = False
                        callbacks, self._after_space = self._after_space, []
                        if not self.space_used:
                            for cb in callbacks:
                                cb()
                elif not self.space_down:
                    self.space_down, self.space_used = True, False
        return False

    def close_project(self) -> None:
        if self.loader is not None:
            self.loader.close()
            self.loader = None
