"""Annotation file formats: COCO (RLE masks), GOT-10k and YouTube-VIS.

Each format module reads files into ``app.core.model.VideoAnnotations`` and
writes them back with the same two functions::

    read(path) -> list[VideoAnnotations]
    write(videos, path, video=None, write_frames=False)

Malformed input raises ``app.core.errors.FormatError`` naming the file and
the field or line; writes are atomic (temporary file + rename).
"""
from __future__ import annotations

import importlib
from types import ModuleType

# Format name (as the CLI and GUI spell it) -> module, imported on first use.
FORMATS: dict[str, str] = {
    "coco": "app.core.formats.coco",
    "got10k": "app.core.formats.got10k",
    "youtube-vis": "app.core.formats.ytvis",
}


def names() -> list[str]:
    return list(FORMATS)


def get(name: str) -> ModuleType:
    """The module of format ``name``; KeyError names the known formats."""
    if name not in FORMATS:
        raise KeyError(f"unknown format {name!r} (known: {', '.join(FORMATS)})")
    return importlib.import_module(FORMATS[name])
