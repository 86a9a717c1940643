"""The project's own error types: every message names the file and, where it can, the field."""
from __future__ import annotations


class TrackAssistError(Exception):
    """Base class: the CLI prints these as one line, the GUI as a message box."""


class VideoError(TrackAssistError):
    """A video or image folder cannot be opened or a frame cannot be read."""


class FormatError(TrackAssistError):
    """An annotation file is malformed.  ``str()`` names the file and the field/line."""

    def __init__(self, path: str, where: str, problem: str) -> None:
        self.path, self.where, self.problem = str(path), where, problem
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


class StoreError(TrackAssistError):
    """The project file cannot be opened or an edit is not allowed."""
