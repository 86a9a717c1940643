"""Random-access frames from a video file or a folder of images.

``open_video(path)`` returns a :class:`VideoSource`: ``read(i)`` gives frame
``i`` as ``H x W x 3`` ``uint8`` RGB.  Frames are decoded lazily into a
bounded LRU cache sized in megabytes, never the whole video.

Seeking an H.264 file costs 16-250 ms (MACHINE-NOTES), decoding a frame about
1 ms, so the file source keeps the decoder's position: ``read(i + 1)`` after
``read(i)`` only decodes, a short jump forward decodes through instead of
seeking, and a step backward seeks a little further back and decodes forward
into the cache so that scrubbing backwards costs one seek per
``READ_BACK`` frames instead of one per frame.

Returned arrays are read-only views of the cached frames (copy before drawing
on them): a caller can then never corrupt what another caller will read.

For the GUI's frame loader: ``peek(i)`` and ``nearest_cached(i)`` answer from
the cache without decoding, and ``read(i, cancel=...)`` gives up between two
decoded frames once ``cancel()`` is true (a jump elsewhere made the frame
unwanted), raising :class:`ReadCancelled`.

``open_video(path, backend="pyav")`` decodes with PyAV instead of OpenCV
(optional dependency, :mod:`app.core.video_av`): its seeks land on the keyframe
before the target and decode only from there.
"""
from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict

import cv2
import numpy as np

from .errors import VideoError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 25.0
# Decoding through this many frames is cheaper than a seek on typical files.
MAX_DECODE_THROUGH = 48
# On a backward step, seek this far back and decode forward into the cache.
READ_BACK = 16


class FrameReadError(VideoError):
    """One frame could not be decoded (the source stays usable)."""


class FrameIndexError(FrameReadError, IndexError):
    """The frame index is outside ``0 .. num_frames - 1``."""


class ReadCancelled(VideoError):
    """``read(i, cancel=...)`` stopped because ``cancel()`` became true (nothing is wrong)."""


def _never() -> bool:
    return False


class _FrameCache:
    """LRU of decoded frames bounded by total bytes, not by count."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = max(0, int(budget_bytes))
        self.nbytes = 0
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()

    def get(self, index: int) -> np.ndarray | None:
        frame = self._frames.get(index)
        if frame is not None:
            self._frames.move_to_end(index)
        return frame

    def put(self, index: int, frame: np.ndarray) -> None:
        if frame.nbytes > self.budget:
            return
        old = self._frames.pop(index, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self._frames[index] = frame
        self.nbytes += frame.nbytes
        while self.nbytes > self.budget:
            _, evicted = self._frames.popitem(last=False)
            self.nbytes -= evicted.nbytes

    def __contains__(self, index: int) -> bool:
        return index in self._frames

    def peek(self, index: int) -> np.ndarray | None:
        """The frame if cached, without touching the LRU order."""
        return self._frames.get(index)

    def nearest(self, index: int) -> tuple[int, np.ndarray] | None:
        """The cached frame closest to ``index`` (a linear scan: the cache holds tens of frames).

        Safe without the lock: ``list()`` copies the keys in one C call (no
        other thread runs meanwhile) and a frame evicted since is skipped.
        """
        for key in sorted(list(self._frames), key=lambda k: (abs(k - index), k)):
            frame = self._frames.get(key)
            if frame is not None:
                return key, frame
        return None

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        self._frames.clear()
        self.nbytes = 0


class VideoSource:
    """Common part: index checks, the cache and the lock.  Subclasses decode."""

    path: str
    num_frames: int
    fps: float
    width: int
    height: int

    def __init__(self, path: str, cache_mb: float) -> None:
        self.path = path
        self.cache_mb = cache_mb
        self._cache = _FrameCache(int(cache_mb * 1024 * 1024))
        self._lock = threading.RLock()
        self._closed = False

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int) -> np.ndarray:
        return self.read(index)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self.num_frames} frames {self.width}x{self.height}>"

    @property
    def cache_bytes(self) -> int:
        return self._cache.nbytes

    def read(self, index: int, cancel=None) -> np.ndarray:
        """Frame ``index``; ``cancel()`` is polled between decoded frames (raises :class:`ReadCancelled`)."""
        index = self._check_index(index)
        with self._lock:
            if self._closed:
                raise VideoError(f"{self.path}: the video is closed")
            frame = self._cache.get(index)
            if frame is None:
                frame = self._decode(index, cancel or _never)
            return frame

    def peek(self, index: int) -> np.ndarray | None:
        """Frame ``index`` if it is cached, else None; never decodes and never waits.

        No lock on purpose: a decode in another thread may hold it for a whole
        seek, and the GUI's fast path must not wait for that.  One dict lookup
        is atomic under the GIL, and cached arrays are never modified.
        """
        return self._cache.peek(int(index))

    def nearest_cached(self, index: int) -> tuple[int, np.ndarray] | None:
        """``(j, frame)`` for the cached frame nearest to ``index``, or None; never decodes, never waits."""
        return self._cache.nearest(int(index))

    @property
    def cache_budget_bytes(self) -> int:
        return self._cache.budget

    def frames_to_reach(self, index: int) -> int | None:
        """How many frames reading ``index`` decodes without a seek, or None if it needs a seek.

        0 for a cached frame and for sources without seeks (image folders).
        The frame loader shows a preview only when a seek is coming.  An
        estimate read without the lock (like :meth:`peek`): a decode running
        in another thread may move the position meanwhile.
        """
        index = int(index)
        if index in self._cache:
            return 0
        position = getattr(self, "_next", None)
        if position is None:
            return 0
        if 0 <= position <= index <= position + MAX_DECODE_THROUGH:
            return index - position + 1
        return None

    def _check_index(self, index) -> int:
        try:
            i = int(index)
        except (TypeError, ValueError):
            raise FrameIndexError(f"{self.path}: frame index must be an integer, got {index!r}") from None
        if i < 0:
            i += self.num_frames
        if not 0 <= i < self.num_frames:
            raise FrameIndexError(f"{self.path}: frame {index} is outside 0..{self.num_frames - 1}")
        return i

    def _remember(self, index: int, bgr_or_rgb: np.ndarray, is_bgr: bool) -> np.ndarray:
        frame = cv2.cvtColor(bgr_or_rgb, cv2.COLOR_BGR2RGB) if is_bgr else bgr_or_rgb
        if frame.shape[:2] != (self.height, self.width):
            raise FrameReadError(
                f"{self.path}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, expected {self.width}x{self.height}")
        frame.flags.writeable = False
        self._cache.put(index, frame)
        return frame

    def _decode(self, index: int, cancel) -> np.ndarray:
        raise NotImplementedError

    # -- frame count of a file (the decoders' subclasses give the three primitives) --
    def _reported_frame_count(self) -> int:
        raise NotImplementedError

    def _can_read(self, index: int) -> bool:
        raise NotImplementedError

    def _count_by_decoding(self) -> int:
        raise NotImplementedError

    def _probe_frame_count(self) -> int:
        """The container's frame count, corrected if its last frames cannot be read.

        One seek when the header is right (the usual case).  Otherwise a binary
        search for the last readable frame, or, when the header has no count at
        all, a sequential pass.
        """
        reported = self._reported_frame_count()
        if reported <= 0:
            count = self._count_by_decoding()
            self._next = -1
            return count
        if reported == 1 or self._can_read(reported - 1):
            return reported
        lo, hi = 0, reported - 1  # frame lo is readable, hi is not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._can_read(mid):
                lo = mid
            else:
                hi = mid
        self._next = -1
        return lo + 1

    def clone(self) -> "VideoSource":
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cache.clear()
            self._release()

    def _release(self) -> None:
        pass

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CaptureVideoSource(VideoSource):
    """A video file decoded with OpenCV's FFmpeg backend."""

    def __init__(self, path: str, cache_mb: float = 256, _known: tuple[int, float, int, int] | None = None) -> None:
        super().__init__(path, cache_mb)
        self._cap: cv2.VideoCapture | None = None
        self._next = -1          # index the next cap.read() returns; -1 = unknown
        self._open_capture()
        if _known is not None:   # a clone: the original already probed the file
            self.num_frames, self.fps, self.width, self.height = _known
            return
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0) or DEFAULT_FPS
        first = self._read_next()
        if first is None:
            self._release()
            raise VideoError(f"{path}: the video has no readable frames")
        self.height, self.width = first.shape[:2]
        self._remember(0, first, is_bgr=True)
        self.num_frames = self._probe_frame_count()
        self._next = -1  # the probe's position says nothing about where reading will start

    def _open_capture(self) -> None:
        cap = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"{self.path}: cannot open the video (not a video, or an unsupported codec)")
        self._cap = cap
        self._next = 0

    def _read_next(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        if not ok or bgr is None or bgr.ndim != 3:
            self._next = -1
            return None
        self._next += 1
        return bgr

    def _seek(self, index: int) -> None:
        if index == 0:
            # Reopening is the most reliable way back to the start on any container.
            self._release()
            self._open_capture()
            return
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._next = index

    def _can_read(self, index: int) -> bool:
        self._seek(index)
        return self._read_next() is not None

    def _reported_frame_count(self) -> int:
        return int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def _count_by_decoding(self) -> int:
        count = 1
        while self._cap.grab():   # grab() only, no colour conversion
            count += 1
        return count

    def _decode(self, index: int, cancel) -> np.ndarray:
        if not (0 <= self._next <= index <= self._next + MAX_DECODE_THROUGH):
            if 0 <= index < self._next:
                start = max(0, index - READ_BACK)   # stepping backwards: fill the cache behind us
            else:
                start = index
            self._seek(start)
        while True:
            position = self._next
            bgr = self._read_next()
            if bgr is None:
                self._recover()
                raise FrameReadError(f"{self.path}: cannot decode frame {position if position >= 0 else index}")
            if position == index:
                return self._remember(index, bgr, is_bgr=True)
            if position not in self._cache:
                self._remember(position, bgr, is_bgr=True)
            if cancel():   # the decoder stays positioned: a later read continues from here
                raise ReadCancelled(f"{self.path}: reading frame {index} was cancelled")

    def _recover(self) -> None:
        """A failed read can leave FFmpeg in a bad state: start a fresh decoder."""
        try:
            self._release()
            self._open_capture()
        except VideoError:
            self._cap = None
            self._next = -1

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._next = -1

    def clone(self) -> "CaptureVideoSource":
        return CaptureVideoSource(self.path, self.cache_mb,
                                  _known=(self.num_frames, self.fps, self.width, self.height))


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")


def natural_sorted(names: list[str]) -> list[str]:
    """Names in natural order (2 before 10).

    When every name has its digits in the same places (zero-padded numbering,
    the usual case) plain string order is the same order, and 5-10x cheaper:
    an hour of frames is 90,000 names to sort on open.
    """
    if len({name.translate(_DIGITS_AS_ZERO) for name in names}) <= 1:
        return sorted(names)
    return sorted(names, key=_natural_key)


class ImageFolderVideoSource(VideoSource):
    """A folder of images, one frame each, in natural name order (2 before 10)."""

    def __init__(self, path: str, cache_mb: float = 256, fps: float = DEFAULT_FPS,
                 _known: tuple[list[str], int, int] | None = None) -> None:
        super().__init__(path, cache_mb)
        self.fps = fps
        if _known is not None:
            self.files, self.width, self.height = _known
            self.num_frames = len(self.files)
            return
        # scandir: the entry's type comes with the listing, no stat() per file (90,000 for an hour).
        with os.scandir(path) as entries:
            names = [e.name for e in entries if e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file()]
        if not names:
            raise VideoError(f"{path}: the folder has no images ({', '.join(IMAGE_EXTENSIONS)})")
        self.files = natural_sorted(names)
        self.num_frames = len(self.files)
        first = self._load(0)
        self.height, self.width = first.shape[:2]
        self._remember(0, first, is_bgr=True)

    def _load(self, index: int) -> np.ndarray:
        file = os.path.join(self.path, self.files[index])
        bgr = cv2.imread(file, cv2.IMREAD_COLOR)
        if bgr is None:
            raise FrameReadError(f"{file}: cannot decode frame {index} (corrupt or unsupported image)")
        return bgr

    def _decode(self, index: int, cancel) -> np.ndarray:
        return self._remember(index, self._load(index), is_bgr=True)

    def clone(self) -> "ImageFolderVideoSource":
        return ImageFolderVideoSource(self.path, self.cache_mb, self.fps,
                                      _known=(list(self.files), self.width, self.height))


BACKENDS = ("opencv", "pyav")


def open_video(path: str, cache_mb: float = 256, backend: str = "opencv") -> VideoSource:
    """Open a video file or an image folder; raises :class:`VideoError` naming the path.

    ``backend`` picks the decoder of video files: ``"opencv"`` (default) or
    ``"pyav"`` (needs ``pip install av``); image folders ignore it.
    """
    path = os.fspath(path)
    if backend not in BACKENDS:
        raise VideoError(f"{path}: unknown video backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if not os.path.exists(path):
        raise VideoError(f"{path}: no such file or folder")
    if os.path.isdir(path):
        return ImageFolderVideoSource(path, cache_mb)
    if os.path.getsize(path) == 0:
        raise VideoError(f"{path}: the file is empty")
    if backend == "pyav":
        from .video_av import AvVideoSource   # optional dependency, imported only when asked for

        return AvVideoSource(path, cache_mb)
    return CaptureVideoSource(path, cache_mb)
