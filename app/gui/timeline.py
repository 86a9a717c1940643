"""The timeline under the frame: scrubber, one strip per object, the score plot.

Strips are painted, not built from items: a video may have 100k frames.  Each
object keeps a per-frame *kind* code and score in numpy arrays, updated
incrementally from ``state.annotationsChanged``; painting reduces them to one
value per pixel column (the most important kind wins: failed > human > absent >
low score > tracker > interpolated) and draws that as a small image, so a
repaint costs O(width), and an update O(frames changed).

Styles (shape as well as colour, so they read without colour vision):
human keyframes full height in the object's colour with a white marker on top,
tracker frames a thick band, tracker frames under the score threshold the same
band in amber, interpolated frames a thin band in a lighter tint, absent frames
a thin grey line, failed frames full height in red.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (QDoubleSpinBox, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QSlider,
                               QSpinBox, QToolButton, QVBoxLayout, QWidget)

NONE, INTERP, TRACKER, TRACKER_LOW, ABSENT, HUMAN, FAILED = range(7)
KIND_NAMES = ("none", "interpolated", "tracker", "low score", "absent", "human", "failed")
ROW_H, ROW_GAP, LABEL_W = 14, 3, 84
BAND_ROWS = 6                      # the strip image is 6 rows high; kinds cover different rows
# rows each kind covers (of 0..5): the band's thickness is part of the style
_COVER = {INTERP: (2, 3), TRACKER: (1, 2, 3, 4), TRACKER_LOW: (1, 2, 3, 4), ABSENT: (3,),
          HUMAN: tuple(range(6)), FAILED: tuple(range(6))}
MAX_VISIBLE_ROWS = 6               # more objects scroll
REFRESH_MS = 80                    # coalesce bursts of annotationsChanged into one repaint


def kind_of(ann) -> int:
    if ann is None:
        return NONE
    if ann.source == "human":
        return HUMAN
    if ann.absent:
        return ABSENT
    if ann.source == "interpolated":
        return INTERP
    return TRACKER


class ObjectStrip:
    """Per-frame kind codes and scores of one object, and its strip image for one width."""

    def __init__(self, track_id: int, num_frames: int, color: str) -> None:
        self.track_id = track_id
        self.color = QColor(color)
        self.codes = np.zeros(num_frames, np.int8)
        self.scores = np.full(num_frames, np.nan, np.float32)
        self._image: QImage | None = None
        self._image_key = None

    def load(self, store) -> None:
        self.codes[:] = NONE
        self.scores[:] = np.nan
        self.update(store.frames(self.track_id))

    def update(self, anns: dict, frames=()) -> None:
        """Set the given annotations; ``frames`` not in ``anns`` were deleted."""
        n = len(self.codes)
        for f in frames:
            if 0 <= f < n and f not in anns:
                self.codes[f], self.scores[f] = NONE, np.nan
        for f, ann in anns.items():
            if 0 <= f < n:
                self.codes[f] = kind_of(ann)
                self.scores[f] = np.nan if ann.score is None or ann.is_human else ann.score
        self._image = None

    def effective_codes(self, threshold: float, failed) -> np.ndarray:
        codes = self.codes.copy()
        with np.errstate(invalid="ignore"):
            codes[(codes == TRACKER) & (self.scores < threshold)] = TRACKER_LOW
        if failed:
            idx = np.fromiter(failed, np.int64)
            idx = idx[(idx >= 0) & (idx < len(codes))]
            codes[idx[codes[idx] != HUMAN]] = FAILED
        return codes

    def image(self, width: int, threshold: float, failed) -> QImage:
        key = (width, threshold, frozenset(failed))
        if self._image is not None and self._image_key == key:
            return self._image
        codes = self.effective_codes(threshold, failed)
        n = len(codes)
        if n > width > 0:
            # most important kind per pixel column: a run shorter than a pixel still shows
            starts = np.unique((np.arange(width, dtype=np.int64) * n) // width)
            codes = np.maximum.reduceat(codes, starts)
        self._image = _strip_image(codes, self._lut())
        self._image_key = key
        return self._image

    def _lut(self) -> np.ndarray:
        c = self.color
        rgba = {INTERP: (*_lighter(c), 200), TRACKER: (c.red(), c.green(), c.blue(), 235),
                TRACKER_LOW: (255, 170, 0, 255), ABSENT: (150, 150, 150, 255),
                HUMAN: (c.red(), c.green(), c.blue(), 255), FAILED: (230, 30, 30, 255)}
        lut = np.zeros((7, BAND_ROWS, 4), np.uint8)
        for kind, rows in _COVER.items():
            lut[kind, list(rows)] = rgba[kind]
        return lut


def _lighter(c: QColor) -> tuple[int, int, int]:
    return tuple(int(v + (255 - v) * 0.55) for v in (c.red(), c.green(), c.blue()))


def _strip_image(codes: np.ndarray, lut: np.ndarray) -> QImage:
    pixels = np.ascontiguousarray(lut[codes].transpose(1, 0, 2))   # (rows, columns, 4)
    h, w = pixels.shape[:2]
    return QImage(pixels.data, w, h, w * 4, QImage.Format_RGBA8888).copy()


class StripsWidget(QWidget):
    """One painted row per object; click or drag to seek, click a label to select the object."""

    def __init__(self, timeline: "TimelineWidget") -> None:
        super().__init__(timeline)
        self.timeline = timeline
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(600, self._height())

    def _height(self) -> int:
        return max(1, len(self.timeline.strips)) * (ROW_H + ROW_GAP) + ROW_GAP

    def refresh_size(self) -> None:
        self.setFixedHeight(self._height())
        self.update()

    def frame_at(self, x: float) -> int:
        n = self.timeline.num_frames
        span = max(1, self.width() - LABEL_W - 4)
        return int(np.clip((x - LABEL_W) * n / span, 0, max(0, n - 1)))

    def x_of(self, frame: int) -> float:
        n = max(1, self.timeline.num_frames)
        return LABEL_W + (frame + 0.5) * (self.width() - LABEL_W - 4) / n

    def paintEvent(self, event) -> None:
        tl = self.timeline
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(36, 36, 40))
        span = max(1, self.width() - LABEL_W - 4)
        for row, strip in enumerate(tl.strips):
            y = ROW_GAP + row * (ROW_H + ROW_GAP)
            selected = strip.track_id == tl.state.current_object
            p.fillRect(QRectF(LABEL_W, y, span, ROW_H), QColor(58, 58, 64) if selected else QColor(48, 48, 52))
            p.setPen(strip.color.lighter(130) if selected else strip.color)
            p.drawText(QRectF(4, y, LABEL_W - 8, ROW_H), Qt.AlignVCenter | Qt.AlignLeft, tl.labels.get(strip.track_id, ""))
            failed = tl.controller.failed_frames(strip.track_id) if tl.controller is not None else ()
            p.drawImage(QRectF(LABEL_W, y, span, ROW_H), strip.image(span, tl.threshold, failed))
            self._draw_keyframe_marks(p, strip, y)
        if tl.num_frames:
            x = self.x_of(tl.state.current_frame)
            p.setPen(QPen(QColor(255, 255, 255), 1.5))
            p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        p.end()

    def _draw_keyframe_marks(self, p: QPainter, strip: ObjectStrip, y: float) -> None:
        keys = np.flatnonzero(strip.codes == HUMAN)
        if not len(keys):
            return
        xs = np.unique(np.round([self.x_of(int(k)) for k in keys[:: max(1, len(keys) // 2000)]]))
        p.setPen(QPen(QColor(20, 20, 20), 1))
        p.setBrush(QColor(255, 255, 255))
        for x in xs:
            p.drawPolygon(QPolygonF([QPointF(x - 3, y), QPointF(x + 3, y), QPointF(x, y + 4)]))

    def _row_at(self, y: float) -> ObjectStrip | None:
        row = int((y - ROW_GAP) // (ROW_H + ROW_GAP))
        strips = self.timeline.strips
        return strips[row] if 0 <= row < len(strips) else None

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        strip = self._row_at(pos.y())
        if strip is not None:
            self.timeline.state.set_object(strip.track_id)
        if pos.x() >= LABEL_W:
            self.timeline.state.set_frame(self.frame_at(pos.x()))

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if event.buttons() & Qt.LeftButton and pos.x() >= LABEL_W:
            self.timeline.state.set_frame(self.frame_at(pos.x()))
        self.setToolTip(self._describe(pos))

    def _describe(self, pos) -> str:
        strip = self._row_at(pos.y())
        if strip is None or pos.x() < LABEL_W:
            return ""
        f = self.frame_at(pos.x())
        kind = KIND_NAMES[int(strip.effective_codes(self.timeline.threshold, self.timeline.failed(strip.track_id))[f])]
        score = strip.scores[f]
        return f"frame {f}: {kind}" + ("" if np.isnan(score) else f", score {score:.2f}")


class TimelineWidget(QWidget):
    """Scrubber + per-object strips + the current object's score plot with a threshold line."""

    def __init__(self, state, controller=None, parent=None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self.strips: list[ObjectStrip] = []
        self.labels: dict[int, str] = {}
        self._by_id: dict[int, ObjectStrip] = {}
        self.threshold = 0.5
        self._dirty: set[int] = set()
        self._changed: dict[int, set[int]] = {}      # track id -> frames changed since the last refresh
        self._refresh = QTimer(self, singleShot=True, interval=REFRESH_MS, timeout=self._apply_refresh)
        self._build()
        state.projectOpened.connect(self.reload)
        state.objectsChanged.connect(self.reload_objects)
        state.frameChanged.connect(self._on_frame)
        state.objectChanged.connect(lambda _tid: (self.strips_view.update(), self._update_plot()))
        state.annotationsChanged.connect(self._on_annotations)
        if controller is not None:
            controller.frameDone.connect(lambda tid, _f: self._mark_dirty(tid))
            controller.finished.connect(lambda _c: self._mark_dirty(self.state.current_object))
        self.reload()

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        self.prev_key_button = self._button("◆◀", "Previous human keyframe", self.jump_prev_keyframe)
        self.next_key_button = self._button("▶◆", "Next human keyframe", self.jump_next_keyframe)
        self.low_button = self._button("next low score", "Next frame whose tracker score is below the threshold "
                                       "(or that failed): the frames to review", self.jump_next_low_score)
        self.slider = QSlider(Qt.Horizontal, self)
        self.slider.valueChanged.connect(self.state.set_frame)
        self.spin = QSpinBox(self)
        self.spin.setToolTip("Current frame")
        self.spin.valueChanged.connect(self.state.set_frame)
        self.threshold_spin = QDoubleSpinBox(self, minimum=0.0, maximum=1.0, singleStep=0.05, decimals=2)
        self.threshold_spin.setValue(self.threshold)
        self.threshold_spin.setToolTip("Score threshold: tracker frames below it are marked for review")
        self.threshold_spin.valueChanged.connect(self.set_threshold)
        top = QHBoxLayout()
        for w in (self.prev_key_button, self.next_key_button, self.slider, self.spin, self.low_button,
                  QLabel("threshold", self), self.threshold_spin):
            top.addWidget(w)
        top.setStretch(2, 1)
        self.strips_view = StripsWidget(self)
        self.scroll = scroll = QScrollArea(self)
        scroll.setWidget(self.strips_view)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.NoFrame)
        self.plot = pg.PlotWidget(self)
        self.plot.setMinimumHeight(70)
        self.plot.setYRange(0, 1.05, padding=0)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getPlotItem().setDownsampling(auto=True, mode="peak")
        self.plot.getPlotItem().setClipToView(True)
        self.plot.getPlotItem().hideButtons()
        self.plot.setLabel("left", "score")
        self.curve = self.plot.plot([], [], connect="finite")
        self.threshold_line = pg.InfiniteLine(self.threshold, angle=0, movable=True, bounds=(0, 1),
                                              pen=pg.mkPen((255, 170, 0), width=1.5),
                                              label="threshold {value:.2f}", labelOpts={"position": 0.05})
        self.threshold_line.sigPositionChanged.connect(lambda line: self.set_threshold(line.value()))
        self.playhead = pg.InfiniteLine(0, angle=90, movable=True, pen=pg.mkPen("w"))
        self.playhead.sigPositionChanged.connect(lambda line: self.state.set_frame(int(round(line.value()))))
        self.plot.scene().sigMouseClicked.connect(self._on_plot_clicked)
        self.plot.addItem(self.threshold_line)
        self.plot.addItem(self.playhead)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(scroll)
        lay.addWidget(self.plot, 1)      # spare height goes to the plot, not to empty strip rows

    def _on_plot_clicked(self, event) -> None:
        """A click in the score plot seeks to that frame (dragging the lines is handled by the lines)."""
        if event.button() != Qt.LeftButton or event.isAccepted():
            return
        vb = self.plot.getPlotItem().getViewBox()
        if vb.sceneBoundingRect().contains(event.scenePos()):
            self.state.set_frame(int(round(vb.mapSceneToView(event.scenePos()).x())))

    def _button(self, text: str, tip: str, slot) -> QToolButton:
        b = QToolButton(self)
        b.setText(text)
        b.setToolTip(tip)
        b.clicked.connect(lambda: slot())
        return b

    # -- data ----------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return len(self.state.video) if self.state.video is not None else 0

    def reload(self) -> None:
        n = self.num_frames
        for w in (self.slider, self.spin):
            w.blockSignals(True)
            w.setRange(0, max(0, n - 1))
            w.setValue(self.state.current_frame)
            w.blockSignals(False)
        self._by_id.clear()
        self._changed.clear()
        self.reload_objects()

    def reload_objects(self) -> None:
        store, n = self.state.store, self.num_frames
        objects = store.objects() if store is not None and n else []
        by_id = {}
        for obj in objects:
            strip = self._by_id.get(obj.track_id)
            if strip is None or len(strip.codes) != n:
                strip = ObjectStrip(obj.track_id, n, obj.color)
                strip.load(store)
            elif strip.color != QColor(obj.color):
                strip.color = QColor(obj.color)
                strip.update({})
            by_id[obj.track_id] = strip
            self.labels[obj.track_id] = f"#{obj.track_id} {obj.category}"
        self._by_id = by_id
        self.strips = [by_id[k] for k in sorted(by_id)]
        self.strips_view.refresh_size()
        rows = min(max(1, len(self.strips)), MAX_VISIBLE_ROWS)
        self.scroll.setFixedHeight(rows * (ROW_H + ROW_GAP) + ROW_GAP + 2)
        self._update_plot()

    def _on_annotations(self, track_id: int, frames: list) -> None:
        # A propagation commits every frame: collect the frames and read the store
        # once per refresh instead of once per signal (keeps the GUI thread free).
        if track_id not in self._by_id:
            self.reload_objects()
            return
        self._changed.setdefault(track_id, set()).update(frames)
        self._mark_dirty(track_id)

    def _mark_dirty(self, track_id: int) -> None:
        self._dirty.add(track_id)
        if not self._refresh.isActive():
            self._refresh.start()

    def _apply_refresh(self) -> None:
        store = self.state.store
        changed, self._changed = self._changed, {}
        for tid, frames in changed.items():
            strip = self._by_id.get(tid)
            if strip is None or store is None or not frames:
                continue
            lo, hi = min(frames), max(frames)
            if hi - lo < 20000:
                strip.update(store.frames(tid, lo, hi + 1), frames)
            else:
                strip.load(store)
        if self.state.current_object in self._dirty:
            self._update_plot()
        self._dirty.clear()
        self.strips_view.update()

    def failed(self, track_id: int) -> set:
        return self.controller.failed_frames(track_id) if self.controller is not None else set()

    def _update_plot(self) -> None:
        strip = self._by_id.get(self.state.current_object)
        if strip is None:
            self.curve.setData([], [])
            return
        self.curve.setData(np.arange(len(strip.scores)), strip.scores, connect="finite",
                           pen=pg.mkPen(strip.color, width=1.5))

    # -- playhead, threshold --------------------------------------------------------------
    def _on_frame(self, index: int) -> None:
        for w in (self.slider, self.spin):
            w.blockSignals(True)
            w.setValue(index)
            w.blockSignals(False)
        self.playhead.blockSignals(True)
        self.playhead.setValue(index)
        self.playhead.blockSignals(False)
        self.strips_view.update()

    def set_threshold(self, value: float) -> None:
        value = float(np.clip(value, 0.0, 1.0))
        if abs(value - self.threshold) < 1e-9:
            return
        self.threshold = value
        for w, setter in ((self.threshold_line, self.threshold_line.setValue),
                          (self.threshold_spin, self.threshold_spin.setValue)):
            w.blockSignals(True)
            setter(value)
            w.blockSignals(False)
        self.strips_view.update()

    # -- navigation ---------------------------------------------------------------------
    def _targets(self) -> list[ObjectStrip]:
        if self._changed:
            self._apply_refresh()      # navigate on what the store holds now, not on the last repaint
        strip = self._by_id.get(self.state.current_object)
        return [strip] if strip is not None else list(self.strips)

    def _jump(self, candidates: list[int], what: str) -> int | None:
        if not candidates:
            self.state.message.emit(f"no {what}")
            return None
        self.state.set_frame(candidates[0])
        return candidates[0]

    def jump_next_keyframe(self) -> int | None:
        cur = self.state.current_frame
        found = [int(np.flatnonzero(s.codes[cur + 1:] == HUMAN)[0]) + cur + 1
                 for s in self._targets() if np.any(s.codes[cur + 1:] == HUMAN)]
        return self._jump(sorted(found), "later keyframe")

    def jump_prev_keyframe(self) -> int | None:
        cur = self.state.current_frame
        found = [int(np.flatnonzero(s.codes[:cur] == HUMAN)[-1]) for s in self._targets()
                 if np.any(s.codes[:cur] == HUMAN)]
        return self._jump(sorted(found, reverse=True), "earlier keyframe")

    def jump_next_low_score(self) -> int | None:
        """The next frame a person should review: tracker score below the threshold, or failed."""
        cur = self.state.current_frame
        found = []
        for s in self._targets():
            codes = s.effective_codes(self.threshold, self.failed(s.track_id))[cur + 1:]
            with np.errstate(invalid="ignore"):
                low = (codes == TRACKER_LOW) | (codes == FAILED) | ((codes == INTERP) & (s.scores[cur + 1:] < self.threshold))
            hits = np.flatnonzero(low)
            if len(hits):
                found.append(int(hits[0]) + cur + 1)
        return self._jump(sorted(found), "later frame below the score threshold")
