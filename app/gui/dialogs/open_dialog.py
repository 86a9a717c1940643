"""Opening a video, an image folder or a ``.taproj`` project.

The project of ``clip.mp4`` is ``clip.mp4.taproj`` beside it (an image folder
``frames/`` gets ``frames.taproj``), so reopening the video finds everything
as it was left.
"""
from __future__ import annotations

import os

from PySide6.QtWidgets import QFileDialog, QWidget

from app.core.errors import StoreError, VideoError

PROJECT_SUFFIX = ".taproj"
VIDEO_FILTER = "Videos and projects (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.taproj);;All files (*)"


def project_path_for(video_path: str) -> str:
    return os.path.normpath(os.path.abspath(video_path)).rstrip(os.sep) + PROJECT_SUFFIX


def open_project(path: str):
    """Open ``path`` (video, image folder or project) -> ``(store, video)``.

    Raises :class:`VideoError`/:class:`StoreError` with a message naming the file.
    """
    from app.core.store import ProjectStore
    from app.core.video import open_video

    path = os.fspath(path)
    if path.endswith(PROJECT_SUFFIX) and os.path.isfile(path):
        store = ProjectStore.open(path, create=False)
        video_path = store.video_path
        if not video_path:
            store.close()
            raise StoreError(f"{path}: the project does not name its video")
        if not os.path.isabs(video_path):
            video_path = os.path.join(os.path.dirname(os.path.abspath(path)), video_path)
        try:
            video = open_video(video_path)
        except VideoError as exc:
            store.close()
            raise VideoError(f"{path}: its video cannot be opened: {exc}") from exc
        return store, video
    video = open_video(path)          # validate the video before creating a project beside it
    try:
        store = ProjectStore.open(project_path_for(path), video_path=os.path.abspath(path))
    except Exception:
        video.close()
        raise
    return store, video


def ask_video(parent: QWidget, start_dir: str = "") -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open video or project", start_dir, VIDEO_FILTER)
    return path or None


def ask_folder(parent: QWidget, start_dir: str = "") -> str | None:
    path = QFileDialog.getExistingDirectory(parent, "Open image folder (one image per frame)", start_dir)
    return path or None
