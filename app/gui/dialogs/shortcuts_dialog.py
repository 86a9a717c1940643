"""The keyboard shortcuts help (? or F1), built from the live actions."""
from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget


class ShortcutsDialog(QDialog):
    def __init__(self, actions: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = []
        for action in actions.values():
            keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
            if keys:
                rows.append((keys, action.text().replace("&", ""), action.toolTip()))
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["keys", "action"])
        table.verticalHeader().setVisible(False)
        for r, (keys, text, tip) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(keys))
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            table.setItem(r, 1, item)
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(480, 560)
