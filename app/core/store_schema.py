"""Schema of the project file and the row <-> FrameAnnotation conversions (used by :mod:`app.core.store`)."""
from __future__ import annotations

import functools
import json
import math
import sqlite3

from .errors import StoreError
from .model import HUMAN, INTERPOLATED, FrameAnnotation

SCHEMA_VERSION = 1
APPLICATION_ID = 0x54415052  # "TAPR": marks a file as a TrackAssist project
MAX_UNDO = 200
# Colours for new objects, cycled by track id (Sasha Trubetskoy's distinct colours).
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
           "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000",
           "#ffd8b1", "#000075", "#a9a9a9", "#ffe119")
OBJECT_FIELDS = ("category", "color", "visible", "tracker")

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects (
    track_id INTEGER PRIMARY KEY AUTOINCREMENT,
    category TEXT NOT NULL,
    color TEXT NOT NULL,
    visible INTEGER NOT NULL DEFAULT 1,
    tracker TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE annotations (
    track_id INTEGER NOT NULL REFERENCES objects(track_id),
    frame INTEGER NOT NULL CHECK (frame >= 0),
    x REAL, y REAL, w REAL, h REAL,
    mask_rle TEXT,
    absent INTEGER NOT NULL DEFAULT 0,
    score REAL,
    source TEXT NOT NULL,
    PRIMARY KEY (track_id, frame)
) WITHOUT ROWID;
"""

ANN_COLUMNS = "x, y, w, h, mask_rle, absent, score, source"
OBJ_COLUMNS = "category, color, visible, tracker, deleted"


def ann_to_row(ann: FrameAnnotation) -> tuple:
    if not isinstance(ann, FrameAnnotation):
        raise StoreError(f"expected a FrameAnnotation, got {type(ann).__name__}")
    source = ann.source
    if not (source in (HUMAN, INTERPOLATED) or (isinstance(source, str) and source.startswith("tracker:"))):
        raise StoreError(f"annotation source must be 'human', 'interpolated' or 'tracker:<name>', got {source!r}")
    if ann.box is None:
        box = (None, None, None, None)
    else:
        try:
            box = tuple(float(v) for v in ann.box)
        except (TypeError, ValueError):
            raise StoreError(f"annotation box must be four numbers, got {ann.box!r}") from None
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise StoreError(f"annotation box must be four finite numbers, got {ann.box!r}")
    score = None if ann.score is None else float(ann.score)
    if score is not None and not math.isfinite(score):
        raise StoreError(f"annotation score must be finite, got {ann.score!r}")
    mask = None
    if ann.mask_rle is not None:
        rle = ann.mask_rle
        if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
            raise StoreError("annotation mask_rle must be an RLE dict with 'size' and 'counts'")
        counts = rle["counts"].decode("ascii") if isinstance(rle["counts"], bytes) else rle["counts"]
        mask = json.dumps({"size": [int(v) for v in rle["size"]], "counts": counts})
    return (*box, mask, int(bool(ann.absent)), score, source)


class DamagedRow(Exception):
    """A row read from the file does not hold what this schema writes (a damaged file)."""


def row_to_ann(row: tuple) -> FrameAnnotation:
    try:
        x, y, w, h, mask, absent, score, source = row
        box = None if x is None else (float(x), float(y), float(w), float(h))
        mask_rle = json.loads(mask) if mask else None
        if mask_rle is not None and not (isinstance(mask_rle, dict) and "size" in mask_rle and "counts" in mask_rle):
            raise ValueError("mask_rle is not an RLE dict")
        score = None if score is None else float(score)
    except (ValueError, TypeError) as exc:
        raise DamagedRow(f"annotation row {row!r:.80}: {exc}") from None
    if not (source in (HUMAN, INTERPOLATED) or (isinstance(source, str) and source.startswith("tracker:"))):
        raise DamagedRow(f"annotation source {source!r:.40} is not human, interpolated or tracker:<name>")
    return FrameAnnotation(box=box, mask_rle=mask_rle, absent=bool(absent), score=score, source=source)


def decode_meta(key: str, text) -> object:
    try:
        return json.loads(text)
    except (ValueError, TypeError) as exc:
        raise DamagedRow(f"meta value {key!r}: {exc}") from None


def guarded(method):
    """Public store methods raise StoreError naming the file, never sqlite3/decoding errors from deep inside."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise StoreError(f"{self.path}: cannot read or write the project file: {exc}") from None
        except DamagedRow as exc:
            raise StoreError(f"{self.path}: damaged project file: {exc}") from None
    return wrapper


class UndoGroup:
    """Changes of one undo step: key -> [first before-image, last after-image]."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.changes: dict[tuple, list] = {}
        self.depth = 0

    def record(self, key: tuple, before, after) -> None:
        if key in self.changes:
            self.changes[key][1] = after
        else:
            self.changes[key] = [before, after]


def prepare_connection(conn: sqlite3.Connection, path: str, in_memory: bool, fresh: bool = True) -> None:
    """Check (or, for a ``fresh`` empty file, create) the schema.

    A file that had bytes but reads as an empty database (e.g. truncated to its
    header) is refused rather than silently becoming a new, empty project.
    """
    # Reading the header first: a file of random bytes fails here, before any write.
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id == 0 and version == 0 and tables == 0 and not fresh:
        raise StoreError(f"{path}: not a TrackAssist project (an empty or truncated database)")
    if app_id == 0 and version == 0 and tables == 0:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("INSERT INTO meta VALUES ('format', ?)", (json.dumps("trackassist-project"),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    elif app_id != APPLICATION_ID:
        raise StoreError(f"{path}: an SQLite database but not a TrackAssist project")
    elif version > SCHEMA_VERSION:
        raise StoreError(f"{path}: made by a newer TrackAssist (project schema {version}, "
                         f"this version reads up to {SCHEMA_VERSION})")
    elif version < 1:
        raise StoreError(f"{path}: project schema version {version} is not valid")
    if not in_memory:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot use a write-ahead log here (journal mode {mode})")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    missing = {"meta", "objects", "annotations"} - {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if missing:
        raise StoreError(f"{path}: project file lacks table(s) {', '.join(sorted(missing))}")

