"""The main window: composes the frame view, objects panel, timeline and map docks.

It owns no business logic: it opens projects (``dialogs.open_dialog``), routes
actions to the widgets, the :class:`Editor` and the propagation controller,
and shows errors.  The propagation widgets are optional at import time so the
window still works for annotation when they are missing.
"""
from __future__ import annotations

import importlib
import logging
import os

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QToolBar

from app.core.errors import TrackAssistError

from .actions import MENUS, TOOLBAR, build_actions
from .dialogs.exchange import ExchangeDialog, export_project, import_into
from .dialogs.open_dialog import ask_folder, ask_video, open_project
from .dialogs.recent_files import RecentFiles
from .dialogs.shortcuts_dialog import ShortcutsDialog
from .frame_view import FrameView
from .objects_panel import ObjectsPanel
from .playback import Player, SimpleScrubber
from .proxy_builder import ProxyBuilder
from .state import AppState

log = logging.getLogger(__name__)


def _optional(module: str, name: str):
    """A class from the propagation helper's modules, or None when not installed/broken."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        log.warning("%s.%s unavailable: %s", module, name, exc)
        return None


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings("TrackAssist", "TrackAssist")
        self.errors: list[str] = []           # every error shown, newest last (tests read it)
        self.state = AppState(self)
        self.setWindowTitle("TrackAssist")
        self.setAcceptDrops(True)
        self.resize(1400, 900)

        controller_cls = _optional("app.gui.propagation_controller", "PropagationController")
        self.controller = controller_cls(self.state, self) if controller_cls is not None else None
        self.frame_view = FrameView(self.state)
        if self.controller is not None:
            self.frame_view.set_controller(self.controller)
            self.controller.failed.connect(self.report_error)
        self.editor = self.frame_view.editor
        self.player = Player(self.state, self)
        self.setCentralWidget(self.frame_view)

        self.objects_panel = ObjectsPanel(self.state, self.controller)
        self.docks = [self._dock("Objects", self.objects_panel, Qt.DockWidgetArea.RightDockWidgetArea)]
        timeline_cls = _optional("app.gui.timeline", "TimelineWidget")
        self.timeline = timeline_cls(self.state, self.controller) if timeline_cls is not None else None
        bottom = self.timeline if self.timeline is not None else SimpleScrubber(self.state)
        self.docks.append(self._dock("Timeline", bottom, Qt.DockWidgetArea.BottomDockWidgetArea))
        map_docks_cls = _optional("app.gui.map_docks", "MapDocks")
        self.map_docks = (map_docks_cls(self.state, self.controller, self)
                          if map_docks_cls is not None and self.controller is not None else None)

        self.actions_by_name = build_actions(self)
        self._build_tool_group()
        self.recent = RecentFiles(self.settings, self)
        self.recent.openRequested.connect(self.open_path)
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self.proxy_builder = ProxyBuilder(self)

        self._meta_timer = QTimer(self, singleShot=True, interval=800)
        self._meta_timer.timeout.connect(self.save_view_meta)
        self.state.error.connect(self.report_error)
        self.state.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.state.frameChanged.connect(self._on_frame_changed)
        self.state.objectChanged.connect(lambda _tid: self._meta_timer.start())
        # The store reports object-level changes (undo of an add/delete) with no frames.
        self.state.annotationsChanged.connect(lambda _tid, frames: None if frames else self.state.objectsChanged.emit())
        self.frame_view.toolChanged.connect(self._on_tool_changed)
        self.player.playingChanged.connect(lambda on: self.actions_by_name["play"].setIconText("Pause" if on else "Play"))
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
            self.restoreState(self.settings.value("window/state"))
        self._update_title()

    # -- construction ------------------------------------------------------------------
    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_tool_group(self) -> None:
        group = QActionGroup(self)
        group.setExclusive(True)
        for name in ("tool_box", "tool_brush", "tool_eraser", "tool_polygon"):
            group.addAction(self.actions_by_name[name])
        self.actions_by_name["tool_box"].setChecked(True)
        self.actions_by_name["map_overlay"].setCheckable(True)
        self.actions_by_name["map_overlay"].setChecked(self.frame_view.map_check.isChecked())
        self.frame_view.map_check.toggled.connect(self.actions_by_name["map_overlay"].setChecked)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        for title, names in MENUS:
            menu = bar.addMenu(title)
            for name in names:
                if name is None:
                    menu.addSeparator()
                elif name == "@recent":
                    menu.addMenu(self.recent.menu)
                elif name == "@docks":
                    menu.addSeparator()
                    for dock in self.docks:
                        menu.addAction(dock.toggleViewAction())
                else:
                    menu.addAction(self.actions_by_name[name])

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("toolbar_main")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for name in TOOLBAR:
            toolbar.addSeparator() if name is None else toolbar.addAction(self.actions_by_name[name])
        self.addToolBar(toolbar)

    def _build_status_bar(self) -> None:
        self.frame_label = QLabel("")
        status_cls = _optional("app.gui.propagation_controller", "PropagationStatusWidget")
        if status_cls is not None and self.controller is not None:
            self.statusBar().addPermanentWidget(status_cls(self.controller))
        self.statusBar().addPermanentWidget(self.frame_label)

    # -- projects ---------------------------------------------------------------------
    def open_path(self, path: str) -> bool:
        """Open a video, image folder or project; errors become a message, never a crash."""
        try:
            store, video = open_project(path)
        except TrackAssistError as exc:
            self.report_error(str(exc))
            return False
        except Exception as exc:   # an unexpected failure (codec, permissions): still a message
            log.exception("opening %s failed", path)
            self.report_error(f"{path}: cannot open: {exc}")
            return False
        old_store, old_video = self.state.store, self.state.video
        self.player.pause()
        if self.controller is not None:
            self.controller.shutdown()
        self.save_view_meta()
        self.state.set_project(store, video)
        for old in (old_store, old_video):
            if old is not None:
                old.close()
        self._restore_view_meta()
        self.recent.add(path)
        self._update_title()
        self.state.message.emit(f"opened {video.path}: {len(video)} frames, {video.width}x{video.height}; "
                                f"project {store.path}")
        return True

    def _restore_view_meta(self) -> None:
        store = self.state.store
        ids = [o.track_id for o in store.objects()]
        devices = store.get_meta("gui.devices", {}) or {}
        if self.controller is not None:
            for obj in store.objects():
                self.controller.set_tracker(obj.track_id, obj.tracker, devices.get(str(obj.track_id), "cpu"))
        last_object = store.get_meta("gui.last_object", -1)
        self.state.set_object(last_object if last_object in ids else (ids[0] if ids else -1))
        self.state.set_frame(int(store.get_meta("gui.last_frame", 0) or 0))
        self.objects_panel.refresh()

    def save_view_meta(self) -> None:
        store = self.state.store
        if store is None:
            return
        try:
            store.set_meta("gui.last_frame", int(self.state.current_frame))
            store.set_meta("gui.last_object", int(self.state.current_object))
        except TrackAssistError as exc:   # closed or read-only project: not worth a dialog
            log.warning("could not save the view position: %s", exc)

    def close_project(self) -> None:
        self.player.pause()
        self.proxy_builder.shutdown()
        if self.controller is not None:
            self.controller.shutdown()
        self.save_view_meta()
        self.frame_view.close_project()
        store, video = self.state.store, self.state.video
        self.state.store, self.state.video = None, None
        for obj in (store, video):
            if obj is not None:
                obj.close()

    # -- errors and title -----------------------------------------------------------------
    def report_error(self, text: str) -> None:
        self.errors.append(text)
        log.error("%s", text)
        self.statusBar().showMessage(text, 10000)
        box = QMessageBox(QMessageBox.Icon.Warning, "TrackAssist", text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()                        # not exec(): never block a worker's signal delivery

    def _update_title(self) -> None:
        video = self.state.video
        if video is None:
            self.setWindowTitle("TrackAssist")
            self.frame_label.setText("no video")
            return
        name = os.path.basename(os.path.normpath(video.path))
        self.setWindowTitle(f"{name} — frame {self.state.current_frame + 1}/{len(video)} — TrackAssist")
        self.frame_label.setText(f"frame {self.state.current_frame + 1} / {len(video)}")

    def _on_frame_changed(self, _index: int) -> None:
        self._update_title()
        self._meta_timer.start()

    def _on_tool_changed(self, name: str) -> None:
        self.actions_by_name[f"tool_{name}"].setChecked(True)

    # -- drag and drop -----------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def closeEvent(self, event) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.close_project()
        super().closeEvent(event)

    # -- file actions -------------------------------------------------------------------
    def _start_dir(self) -> str:
        recent = self.recent.paths()
        return os.path.dirname(recent[0]) if recent else os.getcwd()

    def open_dialog(self) -> None:
        path = ask_video(self, self._start_dir())
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = ask_folder(self, self._start_dir())
        if path:
            self.open_path(path)

    def save(self) -> None:
        if self.state.store is None:
            return
        self.save_view_meta()
        checkpoint = getattr(self.state.store, "checkpoint", None)
        if callable(checkpoint):
            checkpoint()
        self.state.message.emit(f"saved {self.state.store.path} (every edit is saved as you make it)")

    def export_dialog(self) -> None:
        if self.state.store is None:
            return self.state.message.emit("open a video first")
        stem = os.path.splitext(self.state.store.path)[0]
        dialog = ExchangeDialog(self, exporting=True, default_stem=stem)
        if dialog.exec() and dialog.path_edit.text().strip():
            self.run_export(dialog.format.key, dialog.path_edit.text().strip(), dialog.frames_check.isChecked())

    def run_export(self, key: str, path: str, write_frames: bool = False) -> bool:
        try:
            export_project(self.state.store, self.state.video, key, path, write_frames)
        except TrackAssistError as exc:
            self.report_error(str(exc))
            return False
        except OSError as exc:
            self.report_error(f"{path}: cannot write: {exc}")
            return False
        self.state.message.emit(f"exported {key} to {path}")
        return True

    def import_dialog(self) -> None:
        if self.state.store is None:
            return self.state.message.emit("open a video first")
        dialog = ExchangeDialog(self, exporting=False, default_stem=os.path.dirname(self.state.store.path))
        if dialog.exec() and dialog.path_edit.text().strip():
            self.run_import(dialog.format.key, dialog.path_edit.text().strip())

    def run_import(self, key: str, path: str) -> int:
        try:
            added, warning = import_into(self.state.store, self.state.video, key, path, self)
        except TrackAssistError as exc:
            self.report_error(str(exc))
            return 0
        except OSError as exc:
            self.report_error(f"{path}: cannot read: {exc}")
            return 0
        self.state.objectsChanged.emit()
        self.state.message.emit(f"imported {added} objects from {path}" + (f"; {warning}" if warning else ""))
        return added

    # -- edit actions -----------------------------------------------------------------------
    def undo(self) -> None:
        self._undo_redo("undo")

    def redo(self) -> None:
        self._undo_redo("redo")

    def _undo_redo(self, which: str) -> None:
        store = self.state.store
        if store is None:
            return
        label_fn = getattr(store, f"{which}_label", None)
        label = label_fn() if callable(label_fn) else None
        if getattr(store, which)():
            self.state.objectsChanged.emit()
            self.state.message.emit(f"{which}: {label}" if label else f"{which} done")
        else:
            self.state.message.emit(f"nothing to {which}")

    def make_keyframe(self) -> None:
        self.editor.make_keyframe(self.state.current_object, self.state.current_frame)

    def toggle_absent(self) -> None:
        absent = self.editor.toggle_absent(self.state.current_object, self.state.current_frame)
        if absent is not None:
            self.state.message.emit(f"object {self.state.current_object} {'absent' if absent else 'no longer absent'} "
                                    f"on frame {self.state.current_frame}")

    def delete_frame(self) -> None:
        self.editor.delete_frame(self.state.current_object, self.state.current_frame)

    def box_to_mask(self) -> None:
        self.frame_view.box_to_mask()

    # -- tools --------------------------------------------------------------------------------
    def tool_box(self) -> None:
        self.frame_view.set_tool("box")

    def tool_brush(self) -> None:
        self.frame_view.set_tool("brush")

    def tool_eraser(self) -> None:
        self.frame_view.set_tool("eraser")

    def tool_polygon(self) -> None:
        self.frame_view.set_tool("polygon")

    def brush_smaller(self) -> None:
        self.frame_view.change_brush(-2)

    def brush_bigger(self) -> None:
        self.frame_view.change_brush(+2)

    # -- objects --------------------------------------------------------------------------------
    def new_object(self) -> None:
        self.editor.add_object()

    def delete_object(self) -> None:
        self.editor.delete_object(self.state.current_object)

    def next_object(self) -> None:
        ids = [o.track_id for o in self.state.store.objects()] if self.state.store is not None else []
        if ids:
            pos = ids.index(self.state.current_object) if self.state.current_object in ids else -1
            self.state.set_object(ids[(pos + 1) % len(ids)])

    # -- tracking -------------------------------------------------------------------------------
    def _with_controller(self, fn_name: str, *args, **kwargs) -> None:
        if self.controller is None:
            self.state.message.emit("propagation is not available in this installation")
            return
        getattr(self.controller, fn_name)(*args, **kwargs)

    def track_one(self) -> None:
        self._with_controller("track_one_frame", +1)

    def track_one_back(self) -> None:
        self._with_controller("track_one_frame", -1)

    def propagate_forward(self) -> None:
        self._with_controller("propagate", +1, "to_keyframe")

    def propagate_backward(self) -> None:
        self._with_controller("propagate", -1, "to_keyframe")

    def propagate_between(self) -> None:
        self._with_controller("propagate_between_keyframes")

    def cancel(self) -> None:
        self.frame_view.tool.cancel()
        self.player.pause()
        if self.controller is not None and self.controller.running:
            self.controller.cancel()
            self.state.message.emit("cancelling the propagation; frames done so far are kept")

    # -- navigation -------------------------------------------------------------------------------
    def _step(self, delta: int) -> None:
        self.state.set_frame(self.state.current_frame + delta)

    def prev_frame(self) -> None:
        self._step(-1)

    def next_frame(self) -> None:
        self._step(+1)

    def back_10(self) -> None:
        self._step(-10)

    def forward_10(self) -> None:
        self._step(+10)

    def first_frame(self) -> None:
        self.state.set_frame(0)

    def last_frame(self) -> None:
        if self.state.video is not None:
            self.state.set_frame(len(self.state.video) - 1)

    def _keyframe_jump(self, forward: bool) -> None:
        if self.timeline is not None:
            (self.timeline.jump_next_keyframe if forward else self.timeline.jump_prev_keyframe)()
            return
        store, tid, cur = self.state.store, self.state.current_object, self.state.current_frame
        keys = store.keyframes(tid) if store is not None and tid >= 0 else []
        found = [k for k in keys if k > cur] if forward else [k for k in reversed(keys) if k < cur]
        if found:
            self.state.set_frame(found[0])
        else:
            self.state.message.emit(f"no {'later' if forward else 'earlier'} keyframe")

    def prev_keyframe(self) -> None:
        self._keyframe_jump(False)

    def next_keyframe(self) -> None:
        self._keyframe_jump(True)

    def next_low_score(self) -> None:
        if self.timeline is None:
            self.state.message.emit("the timeline is not available")
            return
        self.timeline.jump_next_low_score()

    def toggle_play(self) -> None:
        # Space held then dragged pans the view; only a plain press toggles playback.
        if not self.frame_view.after_space_release(self.player.toggle):
            self.player.toggle()

    # -- view / help -----------------------------------------------------------------------------
    def fit(self) -> None:
        self.frame_view.fit()

    def toggle_map(self) -> None:
        self.frame_view.toggle_map()

    def build_proxy(self) -> None:
        self.proxy_builder.start()

    def cancel_proxy_build(self) -> None:
        self.proxy_builder.cancel()

    def show_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self.actions_by_name, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
