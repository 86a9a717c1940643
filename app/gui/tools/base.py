"""What every frame-view tool implements.  Positions are image pixels (x right, y down).

The view translates mouse events into these calls and offers the tools a few
services (``view.add_item``, ``view.commit_box``, ``view.commit_mask``,
``view.working_mask``, ``view.preview_mask``); tools never touch the store.
"""
from __future__ import annotations

from PySide6.QtCore import Qt


class Tool:
    name = "tool"
    label = "Tool"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, view) -> None:
        self.view = view

    def activate(self) -> None:
        """The tool became the active one."""

    def deactivate(self) -> None:
        """Another tool was chosen: drop any half-finished gesture."""
        self.cancel()

    def press(self, x: float, y: float, modifiers) -> None:
        """Left button went down (start of a drag)."""

    def move(self, x: float, y: float) -> None:
        """Drag in progress."""

    def release(self, x: float, y: float) -> None:
        """Drag finished."""

    def click(self, x: float, y: float, button, double: bool, modifiers) -> None:
        """A click without a drag."""

    def hover(self, x: float, y: float) -> None:
        """Mouse moved without a button pressed."""

    def key(self, key) -> bool:
        """A key while the view has focus; return True when used."""
        return False

    def cancel(self) -> None:
        """Abort the current gesture (Esc, frame change)."""
