"""One dock per internal map of the active tracker: what the tracker *sees*.

Each name in ``track()["maps"]`` gets a :class:`MapDock` the first time it is
seen (tabified with the other map docks; Qt restores its place from the main
window's saved state, colour maps and the overlay choice live in QSettings).

``ScoreMap``: the colour-mapped array with a colour bar, its value range and
frame region in the title and tooltip, a hover readout (cell, value and the
frame pixel it covers) and a colour-map choice.  ``BoxSet``: the candidates'
count, a scatter of their centres coloured by score and a table sorted by score.

During a propagation the docks follow the latest frame (repaints are coalesced:
only the newest map per name is drawn); otherwise, and whenever "live" is off,
they show the maps of the current frame, recalled from the map history.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QHBoxLayout, QLabel, QStackedWidget,
                               QTableWidget, QTableWidgetItem, QToolButton, QVBoxLayout, QWidget)

from trackers.base import BoxSet, ScoreMap

COLORMAPS = ("viridis", "inferno", "turbo")
SETTINGS_GROUP = "map_docks"
REPAINT_MS = 50                 # at most ~20 dock repaints per second during a propagation
MAX_TABLE_ROWS = 100


class ScoreMapView(pg.GraphicsLayoutWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.view = self.addViewBox(row=0, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False,
                                        width=12)
        self.colorbar.setImageItem(self.image)
        self.addItem(self.colorbar, row=0, col=1)
        self.map: ScoreMap | None = None

    def show_map(self, item: ScoreMap) -> tuple[float, float]:
        data = item.data
        finite = data[np.isfinite(data)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1e-6
        self.map = item
        self.image.setImage(data, autoLevels=False)
        self.colorbar.setLevels((lo, hi))
        return lo, hi

    def set_colormap(self, name: str) -> None:
        self.colorbar.setColorMap(pg.colormap.get(name))

    def clear(self) -> None:
        self.map = None
        self.image.clear()

    def readout(self, scene_pos) -> str:
        """``row, col = value`` under the mouse and the frame pixel that cell covers."""
        if self.map is None or not self.view.sceneBoundingRect().contains(scene_pos):
            return ""
        p = self.view.mapSceneToView(scene_pos)
        rows, cols = self.map.data.shape
        c, r = int(np.floor(p.x())), int(np.floor(p.y()))
        if not (0 <= r < rows and 0 <= c < cols):
            return ""
        x, y, w, h = self.map.region
        fx, fy = x + (c + 0.5) * w / cols, y + (r + 0.5) * h / rows
        return f"cell ({r}, {c}) = {self.map.data[r, c]:.4g} · frame pixel ({fx:.0f}, {fy:.0f})"


class BoxSetView(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(self)
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setMinimumHeight(90)
        self.scatter = pg.ScatterPlotItem(size=8, pen=None)
        self.plot.addItem(self.scatter)
        self.table = QTableWidget(0, 6, self)
        self.table.setHorizontalHeaderLabels(["#", "score", "x", "y", "w", "h"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.table, 1)
        self.colormap = pg.colormap.get("viridis")
        self.boxes: BoxSet | None = None

    def show_boxes(self, item: BoxSet) -> None:
        self.boxes = item
        order = np.argsort(-item.scores, kind="stable")
        centres = item.boxes[:, :2] + item.boxes[:, 2:] / 2
        lo, hi = (float(item.scores.min()), float(item.scores.max())) if len(item.scores) else (0.0, 1.0)
        norm = (item.scores - lo) / (hi - lo) if hi > lo else np.ones_like(item.scores)
        brushes = [pg.mkBrush(self.colormap.map(float(v), mode="qcolor")) for v in norm]
        self.scatter.setData(pos=centres, brush=brushes, data=np.arange(len(centres)))
        shown = order[:MAX_TABLE_ROWS]
        self.table.setRowCount(len(shown))
        for row, i in enumerate(shown):
            values = [str(int(i)), f"{item.scores[i]:.3f}", *(f"{v:.1f}" for v in item.boxes[i])]
            for col, text in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(text))

    def set_colormap(self, name: str) -> None:
        self.colormap = pg.colormap.get(name)
        if self.boxes is not None:
            self.show_boxes(self.boxes)

    def clear(self) -> None:
        self.boxes = None
        self.scatter.clear()
        self.table.setRowCount(0)


class MapDock(QDockWidget):
    """One named map: a stacked ScoreMap view / BoxSet view, a colour-map combo, overlay and live toggles."""

    def __init__(self, name: str, docks: "MapDocks") -> None:
        super().__init__(name, docks.main_window)
        self.name, self.docks = name, docks
        self.setObjectName(f"map_dock_{name}")
        self.frame: int | None = None
        self.track_id: int | None = None
        self.kind: str | None = None          # "score" | "boxes"
        body = QWidget(self)
        self.colormap_box = QComboBox(body)
        self.colormap_box.addItems(COLORMAPS)
        self.colormap_box.setToolTip("Colour map")
        self.overlay_button = QToolButton(body, text="overlay", checkable=True)
        self.overlay_button.setToolTip("Draw this map over the frame")
        self.overlay_button.toggled.connect(self._on_overlay_toggled)
        self.live_box = QCheckBox("live", body)
        self.live_box.setToolTip("While propagating, show the newest frame's map (off: the current frame's)")
        self.live_box.setChecked(docks.follow_live)
        self.live_box.toggled.connect(docks.set_follow_live)
        self.info = QLabel("", body)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.score_view = ScoreMapView(body)
        self.box_view = BoxSetView(body)
        self.stack = QStackedWidget(body)
        self.stack.addWidget(self.score_view)
        self.stack.addWidget(self.box_view)
        self.score_view.scene().sigMouseMoved.connect(self._on_hover)
        bar = QHBoxLayout()
        for w in (self.colormap_box, self.overlay_button, self.live_box):
            bar.addWidget(w)
        bar.addStretch(1)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.info)
        self.setWidget(body)
        saved = docks.settings.value(f"{SETTINGS_GROUP}/colormap/{name}", "viridis")
        self.colormap_box.setCurrentText(saved if saved in COLORMAPS else "viridis")
        self.colormap_box.currentTextChanged.connect(self.set_colormap)
        self.set_colormap(self.colormap_box.currentText())

    def set_colormap(self, name: str) -> None:
        self.score_view.set_colormap(name)
        self.box_view.set_colormap(name)
        self.docks.settings.setValue(f"{SETTINGS_GROUP}/colormap/{self.name}", name)

    def show_item(self, track_id: int, frame: int, item) -> None:
        self.track_id, self.frame = track_id, frame
        if isinstance(item, ScoreMap):
            self.kind = "score"
            self.stack.setCurrentWidget(self.score_view)
            lo, hi = self.score_view.show_map(item)
            rows, cols = item.data.shape
            x, y, w, h = item.region
            region = f"region x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}"
            # the title stays the bare name: it is the tab's label, and tabs must stay readable
            self.setWindowTitle(self.name)
            self.info.setText(f"object {track_id} · frame {frame} · {rows}×{cols} · range [{lo:.4g}, {hi:.4g}] · {region}")
            self.setToolTip(f"{self.name}: {item.description or 'score map'}\n"
                            f"values [{lo:.4g} … {hi:.4g}] at frame {frame}\n{rows}×{cols} cells over the frame {region}")
        elif isinstance(item, BoxSet):
            self.kind = "boxes"
            self.stack.setCurrentWidget(self.box_view)
            self.box_view.show_boxes(item)
            n = len(item.scores)
            best = f", best score {item.scores.max():.3f}" if n else ""
            self.setWindowTitle(self.name)
            self.info.setText(f"object {track_id} · frame {frame} · {n} candidate boxes{best}")
            self.setToolTip(f"{self.name}: {item.description or 'candidate boxes'}\n{n} boxes at frame {frame}{best}")
        self.overlay_button.setEnabled(self.kind == "score")
        self.stack.setEnabled(True)

    def show_missing(self, track_id: int, frame: int, produced: bool = True) -> None:
        """Nothing to show; ``produced`` says whether this object's tracker ever made this map."""
        self.track_id, self.frame = track_id, None
        self.score_view.clear()
        self.box_view.clear()
        self.setWindowTitle(self.name)
        if produced:
            self.info.setText(f"no '{self.name}' for object {track_id} at frame {frame} "
                              "(not tracked yet, or older than the map history keeps)")
        else:
            self.info.setText(f"object {track_id}'s tracker has produced no '{self.name}' map")

    def _on_hover(self, scene_pos) -> None:
        text = self.score_view.readout(scene_pos)
        if text:
            self.info.setToolTip(text)
            self.score_view.setToolTip(text)

    def _on_overlay_toggled(self, checked: bool) -> None:
        ctl = self.docks.controller
        if checked:
            ctl.set_overlay_map(self.name)
        elif ctl.overlay_name == self.name:
            ctl.set_overlay_map(None)


class MapDocks(QObject):
    """Creates and feeds the map docks of ``main_window`` from the controller and the map history."""

    def __init__(self, state, controller, main_window, settings: QSettings | None = None) -> None:
        super().__init__(main_window)
        self.state, self.controller, self.main_window = state, controller, main_window
        self.settings = settings if settings is not None else QSettings("TrackAssist", "TrackAssist")
        self.docks: dict[str, MapDock] = {}
        self.follow_live = True
        self._pending: tuple[int, int] | None = None
        self._timer = QTimer(self, singleShot=True, interval=REPAINT_MS, timeout=self._flush)
        controller.mapsReady.connect(self._on_maps_ready)
        controller.overlayChanged.connect(self._on_overlay_changed)
        controller.finished.connect(self._on_run_finished)
        state.frameChanged.connect(lambda _f: self._on_view_changed())
        state.objectChanged.connect(lambda _t: self._on_view_changed())
        state.projectOpened.connect(self._on_project_opened)
        saved_overlay = self.settings.value(f"{SETTINGS_GROUP}/overlay", "")
        if saved_overlay and controller.overlay_name is None:
            controller.set_overlay_map(str(saved_overlay))

    # -- which object / frame --------------------------------------------------------------
    def active_track(self) -> int:
        cur = self.state.current_object
        return cur if cur >= 0 else self.controller.running_track

    def _live(self) -> bool:
        return (self.follow_live and self.controller.running
                and self.controller.running_track == self.active_track())

    def set_follow_live(self, on: bool) -> None:
        self.follow_live = bool(on)
        for dock in self.docks.values():
            dock.live_box.blockSignals(True)
            dock.live_box.setChecked(self.follow_live)
            dock.live_box.blockSignals(False)
        if not self._live():
            self.show_frame()

    # -- updates ---------------------------------------------------------------------------
    def _on_maps_ready(self, track_id: int, frame: int) -> None:
        if track_id != self.active_track():
            return
        if self._live() or frame == self.state.current_frame:
            self._pending = (track_id, frame)     # only the newest is drawn
            if not self._timer.isActive():
                self._timer.start()

    def _flush(self) -> None:
        if self._pending is not None:
            track_id, frame = self._pending
            self._pending = None
            self.show_maps(track_id, frame)

    def _on_run_finished(self, _cancelled: bool) -> None:
        # Draw the run's newest maps now; they stay until the person moves to another frame.
        self._timer.stop()
        self._flush()

    def _on_view_changed(self) -> None:
        if not self._live():
            self.show_frame()

    def show_frame(self) -> None:
        """Recall the current frame's maps of the active object from the history."""
        tid = self.active_track()
        if tid >= 0:
            self.show_maps(tid, self.state.current_frame)

    def show_maps(self, track_id: int, frame: int) -> None:
        history = self.controller.history
        maps = history.get(track_id, frame) or {}
        for name, item in maps.items():
            self.ensure_dock(name).show_item(track_id, frame, item)
        produced = set(history.names(track_id))
        for name, dock in self.docks.items():
            if name not in maps:
                dock.show_missing(track_id, frame, produced=name in produced)

    def ensure_dock(self, name: str) -> MapDock:
        dock = self.docks.get(name)
        if dock is not None:
            return dock
        dock = MapDock(name, self)
        dock.overlay_button.setChecked(self.controller.overlay_name == name)
        mw = self.main_window
        if not mw.restoreDockWidget(dock):
            mw.addDockWidget(Qt.RightDockWidgetArea, dock)
            first = next(iter(self.docks.values()), None)
            if first is not None:
                mw.tabifyDockWidget(first, dock)
        self.docks[name] = dock
        names = [str(n) for n in (self.settings.value(f"{SETTINGS_GROUP}/names", []) or [])]
        if name not in names:
            self.settings.setValue(f"{SETTINGS_GROUP}/names", names + [name])
        return dock

    def _on_overlay_changed(self, name: str) -> None:
        self.settings.setValue(f"{SETTINGS_GROUP}/overlay", name)
        for dock_name, dock in self.docks.items():
            dock.overlay_button.blockSignals(True)
            dock.overlay_button.setChecked(dock_name == name)
            dock.overlay_button.blockSignals(False)

    def _on_project_opened(self) -> None:
        self._pending = None
        for dock in self.docks.values():
            dock.show_missing(-1, self.state.current_frame)
