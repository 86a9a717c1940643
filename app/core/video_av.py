"""Optional video backend on PyAV: seeks that decode only from the keyframe before the target.

``open_video(path, backend="pyav")`` returns an :class:`AvVideoSource`.  Same
contract as the OpenCV source (``read(i)`` is frame ``i`` as RGB ``uint8``,
bounded cache, ``clone()``, clear errors), different seek:

* OpenCV's ``CAP_PROP_POS_FRAMES`` seeks to the keyframe before ``target - 16``
  and decodes forward from there, so a seek decodes 16 + up to one GOP frames.
* Here the container's own keyframe index (the mp4 ``stss`` box, read once when
  the file opens) takes the demuxer straight to the keyframe at or before the
  target (``AVSEEK_FLAG_BACKWARD``), and frames are decoded from there; only
  the frames the cache will keep are converted to RGB.

Frame ``i`` is the frame whose presentation time is ``start + i / fps``, the
same constant-frame-rate mapping OpenCV uses.  A frame missing from the stream
(variable frame rate) is reported as a :class:`FrameReadError`, never
silently replaced by a neighbour.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .errors import VideoError
from .video import (DEFAULT_FPS, MAX_DECODE_THROUGH, READ_BACK, FrameReadError, ReadCancelled, VideoSource,
                    _never)

# When a seek lands after the target (a broken index), look this much further back, doubling.
SEEK_RETRY_BACK = 16


def _import_av():
    try:
        import av
    except ImportError:
        return None
    return av


def pyav_available() -> bool:
    return _import_av() is not None


class AvVideoSource(VideoSource):
    """A video file decoded with PyAV (FFmpeg's libraries, bundled in the ``av`` wheel)."""

    def __init__(self, path: str, cache_mb: float = 256,
                 _known: tuple[int, float, int, int] | None = None) -> None:
        super().__init__(path, cache_mb)
        self._av = _import_av()
        if self._av is None:
            raise VideoError(f"{path}: the 'pyav' video backend needs PyAV (pip install av)")
        self._container = None
        self._frames = None       # decode iterator of the current position
        self._held = None         # (index, av frame) read ahead by a seek, returned next
        self._next = -1           # index the next decoded frame has; -1 = unknown
        self._open_container()
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self._rate = Fraction(rate) if rate else Fraction(DEFAULT_FPS)
        self._time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
        self._start = int(stream.start_time or 0)
        if _known is not None:
            self.num_frames, self.fps, self.width, self.height = _known
            return
        self.fps = float(self._rate)
        got = self._read_next()
        if got is None:
            self._release()
            raise VideoError(f"{path}: the video has no readable frames")
        first = got[1].to_ndarray(format="rgb24")
        self.height, self.width = first.shape[:2]
        self._remember(0, first, is_bgr=False)
        self.num_frames = self._probe_frame_count()
        self._next = -1

    # -- the container ----------------------------------------------------------------
    def _open_container(self) -> None:
        av = self._av
        try:
            container = av.open(self.path)
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise VideoError(f"{self.path}: cannot open the video ({exc})") from None
        if not container.streams.video:
            container.close()
            raise VideoError(f"{self.path}: the file has no video stream")
        self._container = container
        self._stream = container.streams.video[0]
        self._frames = container.decode(self._stream)
        self._held = None
        self._next = 0

    def _index_of(self, pts: int) -> int:
        return int(round((pts - self._start) * self._time_base * self._rate))

    def _pts_of(self, index: int) -> int:
        return self._start + int(round(Fraction(index) / (self._rate * self._time_base)))

    def _read_next(self):
        """``(index, av.VideoFrame)`` of the next frame in presentation order, or None at the end / on an error."""
        if self._held is not None:
            got, self._held = self._held, None
            return got
        try:
            frame = next(self._frames)
        except (StopIteration, self._av.FFmpegError, EOFError):
            self._next = -1
            return None
        index = self._index_of(frame.pts) if frame.pts is not None else self._next
        self._next = index + 1
        return index, frame

    def _seek_before(self, index: int) -> None:
        """Position the decoder on the keyframe at or before ``index`` (the next frame read is <= index)."""
        back = 0
        while True:
            target = max(0, index - back)
            if target == 0:
                self._release()          # reopening is the surest way back to the very first frame
                self._open_container()
                return
            self._container.seek(self._pts_of(target), stream=self._stream, backward=True, any_frame=False)
            self._frames = self._container.decode(self._stream)
            self._held = None
            got = self._read_next()
            if got is not None and got[0] <= index:
                self._held = got
                self._next = got[0]
                return
            back = max(SEEK_RETRY_BACK, back * 2)

    # -- VideoSource -------------------------------------------------------------------
    def _decode(self, index: int, cancel=_never) -> np.ndarray:
        backwards = 0 <= index < self._next
        if not (0 <= self._next <= index <= self._next + MAX_DECODE_THROUGH):
            self._seek_before(index)
        keep_from = index - READ_BACK if backwards else index   # frames worth converting for the cache
        while True:
            got = self._read_next()
            if got is None:
                self._recover()
                raise FrameReadError(f"{self.path}: cannot decode frame {index}")
            position, frame = got
            if position == index:
                return self._remember(index, frame.to_ndarray(format="rgb24"), is_bgr=False)
            if position > index:
                self._next = -1          # position unknown to callers: the next read seeks
                raise FrameReadError(f"{self.path}: frame {index} is missing from the stream "
                                     f"(the next one has the time of frame {position}; variable frame rate?)")
            if position >= keep_from and position not in self._cache:
                self._remember(position, frame.to_ndarray(format="rgb24"), is_bgr=False)
            if cancel():
                raise ReadCancelled(f"{self.path}: reading frame {index} was cancelled")

    def _reported_frame_count(self) -> int:
        stream = self._stream
        if stream.frames:
            return int(stream.frames)
        if stream.duration:
            return int(round(stream.duration * self._time_base * self._rate))
        return 0

    def _can_read(self, index: int) -> bool:
        self._seek_before(index)
        while True:
            got = self._read_next()
            if got is None or got[0] > index:
                return False
            if got[0] == index:
                return True

    def _count_by_decoding(self) -> int:
        count = 1
        while self._read_next() is not None:
            count += 1
        return count

    def _recover(self) -> None:
        try:
            self._release()
            self._open_container()
        except VideoError:
            self._container = None
            self._next = -1

    def _release(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        self._frames = self._held = None
        self._next = -1

    def clone(self) -> "AvVideoSource":
        return AvVideoSource(self.path, self.cache_mb, _known=(self.num_frames, self.fps, self.width, self.height))
