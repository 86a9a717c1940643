"""Export and import dialogs: COCO, GOT-10k and YouTube-VIS through ``app.core.formats``.

The GUI only picks the format and the path; every byte of format logic lives
in the core (the CLI's ``export``/``import`` use the same functions).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QInputDialog, QLineEdit, QPushButton, QWidget)

from app.core import formats


@dataclass(frozen=True)
class Format:
    key: str
    label: str
    is_folder: bool           # GOT-10k is a sequence folder, the others one JSON file
    default_suffix: str


FORMATS = [
    Format("coco", "COCO (RLE masks, one image per frame)", False, ".coco.json"),
    Format("youtube-vis", "YouTube-VIS", False, ".ytvis.json"),
    Format("got10k", "GOT-10k sequence folder", True, "_got10k"),
]
FORMATS_BY_KEY = {f.key: f for f in FORMATS}


def video_name(video) -> str:
    base = os.path.basename(os.path.normpath(video.path))
    return os.path.splitext(base)[0] if os.path.isfile(video.path) else base


def project_annotations(store, video):
    return store.to_annotations(video_name(video), video.width, video.height, len(video),
                                frame_files=getattr(video, "files", None))


def export_project(store, video, key: str, out_path: str, write_frames: bool = False) -> str:
    """Write the project in format ``key``; returns what was written."""
    formats.get(key).write([project_annotations(store, video)], out_path, video=video, write_frames=write_frames)
    return out_path


def read_file(key: str, path: str) -> list:
    return list(formats.get(key).read(path))


def choose_video(videos: list, name: str, parent: QWidget | None = None):
    """The entry for this video: the only one, the one with our name, or asked."""
    if len(videos) == 1:
        return videos[0]
    named = [v for v in videos if v.name == name]
    if len(named) == 1:
        return named[0]
    if parent is None or not videos:
        return None
    labels = [f"{v.name} ({v.width}x{v.height}, {v.num_frames} frames, {len(v.objects)} objects)" for v in videos]
    label, ok = QInputDialog.getItem(parent, "Import", "The file holds several videos; import which?", labels, 0, False)
    return videos[labels.index(label)] if ok else None


def import_into(store, video, key: str, path: str, parent: QWidget | None = None) -> tuple[int, str]:
    """Import annotations of this video; returns (objects added, a warning or '')."""
    videos = read_file(key, path)
    va = choose_video(videos, video_name(video), parent)
    if va is None:
        return 0, f"{path}: no video named {video_name(video)!r} in the file" if videos else f"{path}: no videos"
    warning = ""
    if (va.width, va.height) != (video.width, video.height):
        warning = (f"the file's video is {va.width}x{va.height}, the open video {video.width}x{video.height}: "
                   "boxes are imported unscaled")
    mapping = store.import_annotations(va)
    return len(mapping), warning


class ExchangeDialog(QDialog):
    """Pick a format and a path (file or folder)."""

    def __init__(self, parent: QWidget, exporting: bool, default_stem: str) -> None:
        super().__init__(parent)
        self.exporting = exporting
        self.default_stem = default_stem
        self.setWindowTitle("Export annotations" if exporting else "Import annotations")
        self.format_combo = QComboBox()
        for fmt in FORMATS:
            self.format_combo.addItem(fmt.label, fmt.key)
        self.path_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.frames_check = QCheckBox("also write the frames as images")
        form = QFormLayout(self)
        form.addRow("format", self.format_combo)
        form.addRow("path", row)
        if exporting:
            form.addRow(self.frames_check)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.format_combo.currentIndexChanged.connect(self._on_format)
        self._on_format()
        self.resize(560, self.sizeHint().height())

    @property
    def format(self) -> Format:
        return FORMATS_BY_KEY[self.format_combo.currentData()]

    def _on_format(self) -> None:
        if self.exporting:
            self.path_edit.setText(self.default_stem + self.format.default_suffix)

    def _browse(self) -> None:
        start = self.path_edit.text() or os.path.dirname(self.default_stem)
        if self.format.is_folder:
            path = QFileDialog.getExistingDirectory(self, "Sequence folder", start)
        elif self.exporting:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", start, "JSON (*.json)")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Import from", start, "JSON (*.json);;All files (*)")
        if path:
            self.path_edit.setText(path)
