"""``trackassist gui [VIDEO]``: the desktop application."""
from __future__ import annotations

import importlib.util

from app.core.errors import TrackAssistError


def add_arguments(parser) -> None:
    parser.add_argument("video", nargs="?", help="video file, image folder or .taproj project to open")


def run(args) -> int:
    if importlib.util.find_spec("app.gui.application") is None:
        raise TrackAssistError("the desktop application is not built yet; use 'trackassist track' meanwhile")
    from app.gui.application import run_app

    return run_app(args.video)
