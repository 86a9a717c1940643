"""The trackers' internal maps of recently tracked frames, bounded in frames and MB.

A propagation produces a few small maps per frame (``{name: ScoreMap | BoxSet}``).
Keeping them lets a person scrub back to any already-tracked frame and see
what the tracker saw there.  Memory is bounded twice: by a frame count and by
bytes (a 720p full-frame segmentation map is 3.7 MB, a 25x25 response 2.5 kB),
and the least recently *used* entries go first.

Qt-free and thread-safe: the propagation worker writes from its thread while
the GUI reads.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Mapping

from trackers.base import BoxSet, ScoreMap

DEFAULT_MAX_FRAMES = 300
DEFAULT_MAX_MB = 200.0

MapDict = dict[str, "ScoreMap | BoxSet"]


def map_nbytes(item) -> int:
    """Bytes an entry holds (arrays only; the Python overhead is small and constant)."""
    if isinstance(item, ScoreMap):
        return int(item.data.nbytes) + 64
    if isinstance(item, BoxSet):
        return int(item.boxes.nbytes + item.scores.nbytes) + 64
    return 64


class MapHistory:
    """LRU ``(track_id, frame) -> {name: map}`` bounded by ``max_frames`` and ``max_mb``."""

    def __init__(self, max_frames: int = DEFAULT_MAX_FRAMES, max_mb: float = DEFAULT_MAX_MB) -> None:
        if max_frames < 1 or max_mb <= 0:
            raise ValueError(f"map history needs max_frames >= 1 and max_mb > 0, got {max_frames}, {max_mb}")
        self.max_frames = int(max_frames)
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.nbytes = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, int], tuple[MapDict, int]] = OrderedDict()
        self._names: dict[int, list[str]] = {}        # track id -> map names in first-seen order

    # -- writing ----------------------------------------------------------------
    def put(self, track_id: int, frame: int, maps: Mapping[str, object]) -> None:
        """Remember ``maps`` for this frame (replaces what the frame had)."""
        if not maps:
            return
        maps = dict(maps)
        size = sum(map_nbytes(m) for m in maps.values())
        key = (int(track_id), int(frame))
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            if size > self.max_bytes:        # one entry larger than the budget: keep nothing of it
                return
            self._entries[key] = (maps, size)
            self.nbytes += size
            names = self._names.setdefault(key[0], [])
            names.extend(n for n in maps if n not in names)
            while len(self._entries) > self.max_frames or self.nbytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.nbytes -= evicted

    def discard(self, track_id: int, frames=None) -> None:
        """Forget the given frames of an object (all of them when ``frames`` is None)."""
        with self._lock:
            keys = [k for k in self._entries if k[0] == track_id and (frames is None or k[1] in frames)]
            for k in keys:
                self.nbytes -= self._entries.pop(k)[1]
            if frames is None:
                self._names.pop(track_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._names.clear()
            self.nbytes = 0

    # -- reading ----------------------------------------------------------------
    def get(self, track_id: int, frame: int) -> MapDict | None:
        with self._lock:
            entry = self._entries.get((int(track_id), int(frame)))
            if entry is None:
                return None
            self._entries.move_to_end((int(track_id), int(frame)))
            return dict(entry[0])

    def __contains__(self, key: tuple[int, int]) -> bool:
        with self._lock:
            return (int(key[0]), int(key[1])) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def frames(self, track_id: int) -> list[int]:
        """Frames of this object that still have maps, sorted."""
        with self._lock:
            return sorted(f for t, f in self._entries if t == track_id)

    def names(self, track_id: int | None = None) -> list[str]:
        """Map names seen for an object (or for any object), first-seen order."""
        with self._lock:
            if track_id is not None:
                return list(self._names.get(track_id, []))
            seen: list[str] = []
            for names in self._names.values():
                seen.extend(n for n in names if n not in seen)
            return seen

    @property
    def megabytes(self) -> float:
        return self.nbytes / (1024 * 1024)
