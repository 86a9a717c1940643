"""Recently opened videos/projects, persisted with QSettings, shown as a menu."""
from __future__ import annotations

import os

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QMenu

KEY = "recent_files"
MAX_RECENT = 10


class RecentFiles(QObject):
    openRequested = Signal(str)

    def __init__(self, settings: QSettings, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.menu = QMenu("Open &recent")
        self.menu.aboutToShow.connect(self._rebuild)

    def paths(self) -> list[str]:
        value = self.settings.value(KEY, [])
        if isinstance(value, str):        # QSettings returns a bare string for one entry
            value = [value]
        return [str(v) for v in (value or [])]

    def add(self, path: str) -> None:
        path = os.path.abspath(path)
        paths = [path] + [p for p in self.paths() if p != path]
        self.settings.setValue(KEY, paths[:MAX_RECENT])

    def clear(self) -> None:
        self.settings.setValue(KEY, [])

    def _rebuild(self) -> None:
        self.menu.clear()
        paths = self.paths()
        for path in paths:
            action = self.menu.addAction(os.path.basename(path.rstrip(os.sep)) + "   " + os.path.dirname(path))
            action.setEnabled(os.path.exists(path))
            action.triggered.connect(lambda _checked=False, p=path: self.openRequested.emit(p))
        if not paths:
            self.menu.addAction("(none)").setEnabled(False)
        else:
            self.menu.addSeparator()
            self.menu.addAction("Clear list", self.clear)
