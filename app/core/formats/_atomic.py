"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

The data goes to a temporary file in the destination folder (same file
system, so the rename is atomic), is flushed and fsynced, then
``os.replace``-d over the target; the folder is fsynced so the rename itself
survives a power cut.
"""
from __future__ import annotations

import json
import os
import tempfile


def write_bytes(path: str, data: bytes, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically.

    ``durable=False`` skips the two fsyncs (about 8 ms per file here): for bulk
    writes of many images, followed by one :func:`flush_all`.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(folder)


def flush_all() -> None:
    """Put every file written with ``durable=False`` on disk (one sync(2) instead of an fsync per file)."""
    os.sync()


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, data) -> None:
    # allow_nan=False: a NaN slipping through would make a file other tools reject.
    write_text(path, json.dumps(data, allow_nan=False, separators=(",", ":")))


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)
