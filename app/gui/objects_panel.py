"""The objects panel: the list of objects and the current object's settings.

Add/delete objects (track ids are never reused), category (editable), colour,
visibility, the absent flag on the current frame, and which tracker and
device propagate this object.  Everything is written through the store (and
the propagation controller for the tracker choice).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QCheckBox, QColorDialog, QComboBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

import trackers

from .tools.edits import Editor

DEFAULT_CATEGORIES = ["object", "person", "car", "animal", "bicycle", "ball"]
DEVICES = [("CPU", "cpu"), ("GPU", "cuda")]


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:   # no torch, or a broken CUDA install: CPU only
        return False


def colour_icon(colour: str) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(QColor(colour))
    return QIcon(pix)


class ObjectsPanel(QWidget):
    addRequested = Signal()

    def __init__(self, state, controller=None, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.controller = controller
        self.editor = Editor(state)
        self._updating = False
        self._has_cuda = cuda_available()

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["show", "id", "category", "tracker"])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 44)
        self.tree.setColumnWidth(1, 52)
        self.tree.itemSelectionChanged.connect(self._on_selection)
        self.tree.itemChanged.connect(self._on_item_changed)

        self.add_button = QPushButton("Add object (N)")
        self.add_button.clicked.connect(lambda: self.editor.add_object())
        self.delete_button = QPushButton("Delete object")
        self.delete_button.setToolTip("delete the object and all its frames (undoable)")
        self.delete_button.clicked.connect(lambda: self.editor.delete_object(self.state.current_object))
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.delete_button)

        self.details = QGroupBox("Current object")
        form = QFormLayout(self.details)
        self.category = QComboBox()
        self.category.setEditable(True)
        self.category.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.category.lineEdit().editingFinished.connect(self._on_category_edited)
        self.category.activated.connect(lambda _i: self._on_category_edited())
        self.colour_button = QPushButton("colour…")
        self.colour_button.clicked.connect(self._pick_colour)
        self.tracker_combo = QComboBox()
        self.tracker_combo.addItems(trackers.available())
        self.tracker_combo.activated.connect(lambda _i: self._on_tracker_changed())
        self.device_combo = QComboBox()
        for label, value in DEVICES:
            self.device_combo.addItem(label, value)
        if not self._has_cuda:
            self.device_combo.model().item(1).setEnabled(False)
            self.device_combo.setToolTip("no CUDA device found: CPU only")
        self.device_combo.activated.connect(lambda _i: self._on_tracker_changed())
        self.absent_check = QCheckBox("absent on this frame (O)")
        self.absent_check.clicked.connect(self._on_absent_clicked)
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        form.addRow("category", self.category)
        form.addRow("colour", self.colour_button)
        form.addRow("tracker", self.tracker_combo)
        form.addRow("device", self.device_combo)
        form.addRow(self.absent_check)
        form.addRow(self.info_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.details)

        # A propagation writes a frame at a time: count frames at most every 250 ms.
        self._info_timer = QTimer(self, singleShot=True, interval=250)
        self._info_timer.timeout.connect(self._refresh_frame_info)
        state.projectOpened.connect(self.refresh)
        state.objectsChanged.connect(self.refresh)
        state.objectChanged.connect(lambda _tid: self.refresh())
        state.frameChanged.connect(lambda _i: self._refresh_frame_info())
        state.annotationsChanged.connect(self._on_annotations_changed)
        self.refresh()

    # -- helpers -----------------------------------------------------------------
    def _objects(self):
        return self.state.store.objects() if self.state.store is not None else []

    def _current(self):
        return next((o for o in self._objects() if o.track_id == self.state.current_object), None)

    def device_of(self, track_id: int) -> str:
        devices = self.state.store.get_meta("gui.devices", {}) if self.state.store is not None else {}
        return devices.get(str(track_id), "cpu")

    # -- refresh -------------------------------------------------------------------
    def refresh(self) -> None:
        self._updating = True
        try:
            objects = self._objects()
            self.tree.clear()
            for obj in objects:
                item = QTreeWidgetItem(["", str(obj.track_id), obj.category, obj.tracker])
                item.setData(1, Qt.ItemDataRole.UserRole, obj.track_id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(0, Qt.CheckState.Checked if obj.visible else Qt.CheckState.Unchecked)
                item.setIcon(1, colour_icon(obj.color))
                self.tree.addTopLevelItem(item)
                if obj.track_id == self.state.current_object:
                    item.setSelected(True)
                    self.tree.setCurrentItem(item)
            current = self._current()
            self.details.setEnabled(current is not None)
            self.delete_button.setEnabled(current is not None)
            self.add_button.setEnabled(self.state.store is not None)
            categories = list(dict.fromkeys([o.category for o in objects] + DEFAULT_CATEGORIES))
            self.category.clear()
            self.category.addItems(categories)
            if current is not None:
                self.details.setTitle(f"Object {current.track_id}")
                self.category.setCurrentText(current.category)
                self.colour_button.setIcon(colour_icon(current.color))
                self.colour_button.setText(current.color)
                idx = self.tracker_combo.findText(current.tracker)
                self.tracker_combo.setCurrentIndex(max(idx, 0))
                self.device_combo.setCurrentIndex(max(self.device_combo.findData(self.device_of(current.track_id)), 0))
            else:
                self.details.setTitle("Current object (none)")
        finally:
            self._updating = False
        self._refresh_frame_info()

    def _on_annotations_changed(self, track_id: int, frames: list) -> None:
        if track_id == self.state.current_object:
            if self.state.current_frame in frames:
                self._refresh_frame_info()          # the person's own edit: show it at once
            elif not self._info_timer.isActive():
                self._info_timer.start()

    def _refresh_frame_info(self) -> None:
        tid, store = self.state.current_object, self.state.store
        if store is None or tid < 0:
            self.absent_check.setChecked(False)
            self.info_label.setText("")
            return
        ann = store.get(tid, self.state.current_frame)
        self.absent_check.setChecked(bool(ann is not None and ann.absent))
        keyframes = store.keyframes(tid)
        annotated = len(store.frames(tid))
        here = "nothing" if ann is None else ("absent" if ann.absent else ann.source)
        plural = "" if len(keyframes) == 1 else "s"
        self.info_label.setText(f"{len(keyframes)} keyframe{plural}, {annotated} annotated frames; this frame: {here}")

    # -- edits -----------------------------------------------------------------------
    def _on_selection(self) -> None:
        if self._updating:
            return
        items = self.tree.selectedItems()
        if items:
            self.state.set_object(int(items[0].data(1, Qt.ItemDataRole.UserRole)))

    def _on_item_changed(self, item, column: int) -> None:
        if self._updating or column != 0:
            return
        tid = int(item.data(1, Qt.ItemDataRole.UserRole))
        self.set_visible(tid, item.checkState(0) == Qt.CheckState.Checked)

    def set_visible(self, track_id: int, visible: bool) -> None:
        self.state.store.update_object(track_id, visible=bool(visible))
        self.state.objectsChanged.emit()

    def set_category(self, track_id: int, category: str) -> None:
        category = category.strip()
        if category:
            self.state.store.update_object(track_id, category=category)
            self.state.objectsChanged.emit()

    def set_colour(self, track_id: int, colour: str) -> None:
        self.state.store.update_object(track_id, color=colour)
        self.state.objectsChanged.emit()

    def set_tracker(self, track_id: int, name: str, device: str) -> None:
        store = self.state.store
        store.update_object(track_id, tracker=name)
        devices = dict(store.get_meta("gui.devices", {}) or {})
        devices[str(track_id)] = device
        store.set_meta("gui.devices", devices)
        if self.controller is not None:
            self.controller.set_tracker(track_id, name, device)
        self.state.message.emit(f"object {track_id}: tracker {name} on {device}")
        self.state.objectsChanged.emit()

    def _on_category_edited(self) -> None:
        current = self._current()
        if not self._updating and current is not None and self.category.currentText().strip() != current.category:
            self.set_category(current.track_id, self.category.currentText())

    def _pick_colour(self) -> None:
        current = self._current()
        if current is None:
            return
        colour = QColorDialog.getColor(QColor(current.color), self, f"Colour of object {current.track_id}")
        if colour.isValid():
            self.set_colour(current.track_id, colour.name())

    def _on_tracker_changed(self) -> None:
        current = self._current()
        if not self._updating and current is not None:
            self.set_tracker(current.track_id, self.tracker_combo.currentText(), self.device_combo.currentData())

    def _on_absent_clicked(self) -> None:
        self.editor.toggle_absent(self.state.current_object, self.state.current_frame)
        self._refresh_frame_info()
