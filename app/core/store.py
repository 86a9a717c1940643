"""The project file: annotations of one video in SQLite (``.taproj``).

Durability
    WAL journal, ``synchronous=NORMAL``, every write one transaction.  In WAL
    mode NORMAL never corrupts the file and loses no committed transaction
    when the *application* dies (crash, SIGKILL): the commit is in the WAL
    file as soon as ``COMMIT`` returns.  Only an OS crash or power cut may lose
    the last few commits (still without corruption).  FULL would add an fsync
    to every commit, and a propagation commits every frame, so it would cost
    an fsync per tracked frame for protection against power cuts only.

Undo/redo
    Kept in memory, per store: each undo step holds the before- and
    after-images of the rows it changed (annotation rows and object rows).
    In memory because undo after a crash is not required, it keeps the
    project file small and the per-frame commit of a propagation cheap; the
    log is bounded (:data:`MAX_UNDO` steps).  ``with store.group(label):``
    makes one step of many writes; groups belong to the thread that opened
    them, so a human edit made on the GUI thread while a worker propagates is
    its own step, not part of the run's.  Meta values are not undoable.

Threads
    One connection (``check_same_thread=False``) behind an RLock, so a worker
    may write while the GUI reads.  Listeners are called after each commit,
    outside the lock, from the writing thread.

Objects are soft-deleted (``deleted`` flag) so deleting an object with
thousands of frames is one undoable row change; ``AUTOINCREMENT`` keeps track
ids from ever being reused.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from .errors import StoreError
from .model import HUMAN, FrameAnnotation, TrackObject, VideoAnnotations
from .store_schema import (ANN_COLUMNS, MAX_UNDO, OBJ_COLUMNS, OBJECT_FIELDS, PALETTE, ann_to_row, UndoGroup,
                           decode_meta, guarded, row_to_ann, prepare_connection)

log = logging.getLogger(__name__)

class ProjectStore:
    """See the module docstring; the API is the one in docs/CONTRACTS.md."""

    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        self._groups: dict[int, UndoGroup] = {}   # open group per thread id
        self._undo: list[UndoGroup] = []
        self._redo: list[UndoGroup] = []
        self._listeners: list[Callable[[int, list[int]], None]] = []
        self._closed = False

    # -- opening ---------------------------------------------------------
    @classmethod
    def open(cls, path, video_path: str | None = None, create: bool = True) -> "ProjectStore":
        path = os.fspath(path)
        in_memory = path == ":memory:"
        exists = False
        if not in_memory:
            if os.path.isdir(path):
                raise StoreError(f"{path}: is a folder, not a project file")
            exists = os.path.exists(path) and os.path.getsize(path) > 0
            if not exists and not create:
                raise StoreError(f"{path}: no such project file (or the file is empty)")
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the project file: {exc}") from None
        try:
            prepare_connection(conn, path, in_memory, fresh=not exists)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            conn.close()
            raise StoreError(f"{path}: not a TrackAssist project file ({exc})") from None
        except StoreError:
            conn.close()
            raise
        store = cls(path, conn)
        if video_path is not None:
            store._set_video_path(os.fspath(video_path))
        return store

    @property
    def video_path(self) -> str | None:
        stored = self.get_meta("video_path")
        if stored is None:
            return None
        relative = self.get_meta("video_relpath")
        if not os.path.exists(stored) and relative and self.path != ":memory:":
            # the project and its video were moved together
            moved = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.path)), relative))
            if os.path.exists(moved):
                return moved
        return stored

    def _set_video_path(self, video_path: str) -> None:
        absolute = os.path.abspath(video_path)
        self.set_meta("video_path", absolute)
        if self.path != ":memory:":
            try:
                rel = os.path.relpath(absolute, os.path.dirname(os.path.abspath(self.path)))
            except ValueError:  # another drive on Windows
                rel = None
            self.set_meta("video_relpath", rel)

    # -- transactions, undo bookkeeping, notifications ---------------------
    @contextmanager
    def _transaction(self) -> Iterator[list]:
        """One write transaction; yields a list to collect (key, before, after) changes.

        After COMMIT the changes go to the open group (or become their own undo
        step) and listeners hear about them.
        """
        changes: list = []
        with self._lock:
            self._check_open()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield changes
            except BaseException:
                self._rollback()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"{self.path}: cannot save: {exc}") from None
            if changes:
                self._log_changes(changes)
        if changes:
            self._notify(changes)

    def _rollback(self) -> None:
        # On a damaged file ROLLBACK itself may fail; the original error is the one to report.
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("%s: rollback failed", self.path)

    def _log_changes(self, changes: list) -> None:
        group = self._groups.get(threading.get_ident())
        if group is None:
            group = UndoGroup(self._describe(changes))
            for key, before, after in changes:
                group.record(key, before, after)
            self._push_undo(group)
        else:
            for key, before, after in changes:
                group.record(key, before, after)

    def _push_undo(self, group: UndoGroup) -> None:
        if not group.changes:
            return
        self._undo.append(group)
        del self._undo[:-MAX_UNDO]
        self._redo.clear()

    @staticmethod
    def _describe(changes: list) -> str:
        return "edit object" if changes[0][0][0] == "obj" else "edit frame"

    def _notify(self, changes: list) -> None:
        by_track: dict[int, list[int]] = {}
        for key, _before, _after in changes:
            frames = by_track.setdefault(key[1], [])
            if key[0] == "ann":
                frames.append(key[2])
        for fn in list(self._listeners):
            for track_id, frames in by_track.items():
                try:
                    fn(track_id, sorted(frames))
                except Exception:  # a broken listener must not break the writer
                    log.exception("store listener %r failed", fn)

    def add_listener(self, fn: Callable[[int, list[int]], None]) -> None:
        """``fn(track_id, frames)`` after each commit; ``frames == []`` means the object itself changed."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[int, list[int]], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    @contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Writes inside are one undo step (nested groups merge into the outer one)."""
        # Keyed by the thread id taken here: a generator holding a group may be
        # finalised by another thread, which must close this thread's group.
        owner = threading.get_ident()
        with self._lock:
            group = self._groups.get(owner)
            if group is None:
                group = self._groups[owner] = UndoGroup(label)
            group.depth += 1
        try:
            yield
        finally:
            with self._lock:
                group.depth -= 1
                if group.depth == 0:
                    self._groups.pop(owner, None)
                    self._push_undo(group)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: the project is closed")

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            self._check_open()
            return self._conn.execute(sql, params).fetchall()

    # -- meta ---------------------------------------------------------------
    @guarded
    def get_meta(self, key: str, default=None):
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return decode_meta(key, rows[0][0]) if rows else default

    @guarded
    def set_meta(self, key: str, value) -> None:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"meta value for {key!r} is not JSON: {exc}") from None
        with self._lock:
            self._check_open()
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, text))

    # -- objects -------------------------------------------------------------
    def _object_row(self, track_id: int) -> tuple | None:
        rows = self._conn.execute(f"SELECT {OBJ_COLUMNS} FROM objects WHERE track_id = ?", (track_id,)).fetchall()
        return rows[0] if rows else None

    def _live_object(self, track_id: int) -> tuple:
        row = self._object_row(track_id)
        if row is None or row[4]:
            raise StoreError(f"{self.path}: no object with track id {track_id}")
        return row

    @guarded
    def add_object(self, category: str = "object", color: str | None = None, tracker: str = "csrt") -> int:
        with self._transaction() as changes:
            cur = self._conn.execute(
                "INSERT INTO objects (category, color, visible, tracker) VALUES (?, '', 1, ?)",
                (str(category), str(tracker)))
            track_id = int(cur.lastrowid)
            color = color or PALETTE[(track_id - 1) % len(PALETTE)]
            self._conn.execute("UPDATE objects SET color = ? WHERE track_id = ?", (str(color), track_id))
            changes.append((("obj", track_id), None, self._object_row(track_id)))
        return track_id

    @guarded
    def delete_object(self, track_id: int) -> None:
        with self._transaction() as changes:
            before = self._live_object(track_id)
            self._conn.execute("UPDATE objects SET deleted = 1 WHERE track_id = ?", (track_id,))
            changes.append((("obj", track_id), before, self._object_row(track_id)))

    @guarded
    def update_object(self, track_id: int, **fields) -> None:
        unknown = set(fields) - set(OBJECT_FIELDS)
        if unknown:
            raise StoreError(f"unknown object field(s) {', '.join(sorted(unknown))}; use {', '.join(OBJECT_FIELDS)}")
        if not fields:
            return
        with self._transaction() as changes:
            before = self._live_object(track_id)
            values = [int(bool(v)) if k == "visible" else str(v) for k, v in fields.items()]
            assignments = ", ".join(f"{k} = ?" for k in fields)
            self._conn.execute(f"UPDATE objects SET {assignments} WHERE track_id = ?", (*values, track_id))
            changes.append((("obj", track_id), before, self._object_row(track_id)))

    @guarded
    def objects(self) -> list[TrackObject]:
        rows = self._query("SELECT track_id, category, color, visible, tracker FROM objects "
                           "WHERE deleted = 0 ORDER BY track_id")
        return [TrackObject(track_id=r[0], category=r[1], color=r[2], visible=bool(r[3]), tracker=r[4])
                for r in rows]

    # -- annotations ------------------------------------------------------------
    def _ann_row(self, track_id: int, frame: int) -> tuple | None:
        rows = self._conn.execute(f"SELECT {ANN_COLUMNS} FROM annotations WHERE track_id = ? AND frame = ?",
                                  (track_id, frame)).fetchall()
        return rows[0] if rows else None

    def _write_ann(self, track_id: int, frame: int, row: tuple | None) -> None:
        if row is None:
            self._conn.execute("DELETE FROM annotations WHERE track_id = ? AND frame = ?", (track_id, frame))
        else:
            self._conn.execute(f"INSERT OR REPLACE INTO annotations (track_id, frame, {ANN_COLUMNS}) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (track_id, frame, *row))

    @staticmethod
    def _frame_index(frame) -> int:
        try:
            index = int(frame)
        except (TypeError, ValueError):
            raise StoreError(f"frame index must be an integer, got {frame!r}") from None
        if index < 0:
            raise StoreError(f"frame index must be >= 0, got {frame}")
        return index

    @guarded
    def get(self, track_id: int, frame: int) -> FrameAnnotation | None:
        with self._lock:
            self._check_open()
            row = self._ann_row(track_id, int(frame))
        return None if row is None else row_to_ann(row)

    @guarded
    def frames(self, track_id: int, start: int | None = None, stop: int | None = None) -> dict[int, FrameAnnotation]:
        lo = -1 if start is None else int(start) - 1
        hi = 2 ** 62 if stop is None else int(stop)
        rows = self._query(f"SELECT frame, {ANN_COLUMNS} FROM annotations WHERE track_id = ? AND frame > ? "
                           "AND frame < ? ORDER BY frame", (track_id, lo, hi))
        return {r[0]: row_to_ann(r[1:]) for r in rows}

    @guarded
    def keyframes(self, track_id: int) -> list[int]:
        rows = self._query("SELECT frame FROM annotations WHERE track_id = ? AND source = ? ORDER BY frame",
                           (track_id, HUMAN))
        return [r[0] for r in rows]

    def _put_locked(self, changes: list, track_id: int, frame: int, row: tuple, overwrite_human: bool) -> bool:
        before = self._ann_row(track_id, frame)
        if before is not None and before[7] == HUMAN and row[7] != HUMAN and not overwrite_human:
            return False
        if before == row:
            return True
        self._write_ann(track_id, frame, row)
        changes.append((("ann", track_id, frame), before, row))
        return True

    @guarded
    def put(self, track_id: int, frame: int, ann: FrameAnnotation, *, overwrite_human: bool = False) -> bool:
        """Write one frame; ``False`` when it would replace a human frame with a machine one."""
        frame = self._frame_index(frame)
        row = ann_to_row(ann)
        with self._transaction() as changes:
            self._live_object(track_id)
            return self._put_locked(changes, track_id, frame, row, overwrite_human)

    @guarded
    def put_many(self, track_id: int, anns: dict[int, FrameAnnotation], *, overwrite_human: bool = False) -> int:
        """Write many frames in one transaction; returns how many were written (human frames skipped)."""
        rows = {self._frame_index(f): ann_to_row(a) for f, a in anns.items()}
        written = 0
        with self._transaction() as changes:
            self._live_object(track_id)
            for frame, row in sorted(rows.items()):
                written += self._put_locked(changes, track_id, frame, row, overwrite_human)
        return written

    @guarded
    def delete(self, track_id: int, frame: int) -> None:
        with self._transaction() as changes:
            before = self._ann_row(track_id, int(frame))
            if before is not None:
                self._write_ann(track_id, int(frame), None)
                changes.append((("ann", track_id, int(frame)), before, None))

    @guarded
    def clear_machine_frames(self, track_id: int, start: int | None = None, stop: int | None = None) -> int:
        """Delete tracker and interpolated frames in ``[start, stop)``; returns how many."""
        lo = 0 if start is None else int(start)
        hi = 2 ** 62 if stop is None else int(stop)
        with self._transaction() as changes:
            rows = self._conn.execute(f"SELECT frame, {ANN_COLUMNS} FROM annotations WHERE track_id = ? "
                                      "AND frame >= ? AND frame < ? AND source != ?",
                                      (track_id, lo, hi, HUMAN)).fetchall()
            for r in rows:
                self._write_ann(track_id, r[0], None)
                changes.append((("ann", track_id, r[0]), tuple(r[1:]), None))
        return len(rows)

    # -- undo / redo --------------------------------------------------------------
    def can_undo(self) -> bool:
        with self._lock:
            return bool(self._undo)

    def can_redo(self) -> bool:
        with self._lock:
            return bool(self._redo)

    def undo_label(self) -> str | None:
        with self._lock:
            return self._undo[-1].label if self._undo else None

    def redo_label(self) -> str | None:
        with self._lock:
            return self._redo[-1].label if self._redo else None

    def undo(self) -> bool:
        return self._replay(self._undo, self._redo, use_before=True)

    def redo(self) -> bool:
        return self._replay(self._redo, self._undo, use_before=False)

    @guarded
    def _replay(self, source: list, target: list, use_before: bool) -> bool:
        with self._lock:
            if not source:
                return False
            group = source[-1]
            items = list(group.changes.items())
            if use_before:
                items.reverse()
            notified: list = []
            # Direct transaction (not _transaction): replaying must not log a new step.
            self._check_open()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for key, (before, after) in items:
                    image = before if use_before else after
                    if key[0] == "obj":
                        self._restore_object(key[1], image)
                    else:
                        self._write_ann(key[1], key[2], image)
                    notified.append((key, None, image))
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            source.pop()
            target.append(group)
        self._notify(notified)
        return True

    def _restore_object(self, track_id: int, image: tuple | None) -> None:
        if image is None:
            # Undoing a creation: the row stays (ids are never reused), hidden as deleted.
            self._conn.execute("UPDATE objects SET deleted = 1 WHERE track_id = ?", (track_id,))
        else:
            self._conn.execute(f"UPDATE objects SET category = ?, color = ?, visible = ?, tracker = ?, deleted = ? "
                               "WHERE track_id = ?", (*image, track_id))

    # -- exchange with the formats ----------------------------------------------------
    @guarded
    def to_annotations(self, name: str, width: int, height: int, num_frames: int,
                       frame_files: list[str] | None = None) -> VideoAnnotations:
        """Every live object with its frames in ``[0, num_frames)``."""
        with self._lock:
            objects = self.objects()
            for obj in objects:
                obj.frames = self.frames(obj.track_id, 0, num_frames)
            fps = self.get_meta("fps", 25.0)
        return VideoAnnotations(name=name, width=int(width), height=int(height), num_frames=int(num_frames),
                                objects=objects, frame_files=frame_files, fps=float(fps))

    @guarded
    def import_annotations(self, va: VideoAnnotations) -> dict[int, int]:
        """Add every object of ``va`` as a new object (one transaction, one undo step)."""
        prepared = [(obj, {self._frame_index(f): ann_to_row(a) for f, a in obj.frames.items()})
                    for obj in va.objects]
        mapping: dict[int, int] = {}
        with self.group(f"import {va.name}"), self._transaction() as changes:
            for obj, rows in prepared:
                cur = self._conn.execute(
                    "INSERT INTO objects (category, color, visible, tracker) VALUES (?, ?, ?, ?)",
                    (str(obj.category), str(obj.color), int(bool(obj.visible)), str(obj.tracker)))
                track_id = int(cur.lastrowid)
                mapping[obj.track_id] = track_id
                changes.append((("obj", track_id), None, self._object_row(track_id)))
                for frame, row in sorted(rows.items()):
                    self._write_ann(track_id, frame, row)
                    changes.append((("ann", track_id, frame), None, row))
        return mapping

    # -- closing -----------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                # Fold the WAL back so the project is a single file again.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._conn.close()

    def __enter__(self) -> "ProjectStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
