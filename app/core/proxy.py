"""An all-intra display proxy of a video: every frame a JPEG, so any frame is one decode away.

A seek in long-GOP H.264 decodes up to a whole GOP (hundreds of ms at 1080p);
a proxy frame is one JPEG decode wherever it is.  Video editors scrub proxies
for this reason.  The proxy is for DISPLAY only: trackers and exports keep
reading the original frames (the frame loader shows the proxy frame at once and
the exact frame when it is decoded).

Build one with ``trackassist proxy VIDEO`` (writes ``VIDEO.taproxy``
beside it).  Building reads the video sequentially, one frame at a time, and
never holds more than one frame; the file appears complete or not at all
(temporary file, then rename).

File layout (``.taproxy``)::

    b"TAPROXY1"  uint32 n  n bytes of JSON metadata (source size/mtime, frame count, sizes)
    JPEG bytes of frame 0, frame 1, ...
    int64[num_frames + 1] start offsets (the last one is the end of the last JPEG)
    uint64 offset of that table  b"TAPXEND1"

A proxy whose recorded source size, modification time, frame count or frame
size differs from the video's is stale and is not used.
"""
from __future__ import annotations

import json
import os
import struct

import cv2
import numpy as np

from .errors import VideoError

MAGIC, END_MAGIC = b"TAPROXY1", b"TAPXEND1"
SUFFIX = ".taproxy"
DEFAULT_MAX_HEIGHT = 720      # display resolution: a 1080p frame is shown in a window, not pixel for pixel
DEFAULT_QUALITY = 85
FORMAT_VERSION = 1
IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)   # OpenCV >= 4.10 decodes JPEG to RGB


class ProxyError(VideoError):
    """A proxy file is unreadable, damaged or does not belong to the video."""


def proxy_path_for(video_path: str) -> str:
    return os.fspath(video_path).rstrip("/\\") + SUFFIX


def _source_stamp(video_path: str) -> dict:
    st = os.stat(video_path)
    return {"source_size": st.st_size if os.path.isfile(video_path) else None, "source_mtime_ns": st.st_mtime_ns}


def display_size(width: int, height: int, max_height: int) -> tuple[int, int]:
    if height <= max_height:
        return width, height
    scale = max_height / height
    return max(1, int(round(width * scale / 2)) * 2), max_height


class ProxyFrames:
    """Reads frames of a ``.taproxy`` file; thread-safe (``os.pread``, no shared position)."""

    def __init__(self, path: str) -> None:
        self.path = os.fspath(path)
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise ProxyError(f"{self.path}: cannot open the proxy ({exc.strerror})") from None
        try:
            self.meta, self._offsets = self._read_layout()
        except ProxyError:
            os.close(self._fd)
            raise
        self.num_frames = int(self.meta["num_frames"])
        self.width, self.height = int(self.meta["source_width"]), int(self.meta["source_height"])

    def _read_layout(self) -> tuple[dict, np.ndarray]:
        size = os.fstat(self._fd).st_size
        head = os.pread(self._fd, 12, 0)
        tail = os.pread(self._fd, 16, max(0, size - 16))
        if len(head) < 12 or head[:8] != MAGIC or len(tail) < 16 or tail[8:] != END_MAGIC:
            raise ProxyError(f"{self.path}: not a complete TrackAssist proxy file")
        (meta_len,) = struct.unpack("<I", head[8:])
        try:
            meta = json.loads(os.pread(self._fd, meta_len, 12))
            count = int(meta["num_frames"])
            for key in ("source_width", "source_height", "version"):
                int(meta[key])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProxyError(f"{self.path}: damaged proxy metadata ({exc})") from None
        (table_at,) = struct.unpack("<Q", tail[:8])
        table = os.pread(self._fd, 8 * (count + 1), table_at)
        if count <= 0 or len(table) != 8 * (count + 1) or table_at + len(table) + 16 != size:
            raise ProxyError(f"{self.path}: damaged proxy frame table")
        offsets = np.frombuffer(table, dtype="<i8")
        if np.any(np.diff(offsets) <= 0) or offsets[0] < 12 + meta_len or offsets[-1] > table_at:
            raise ProxyError(f"{self.path}: damaged proxy frame table")
        return meta, offsets

    def matches(self, video) -> bool:
        """True if this proxy was built from ``video`` as it is now (same file, frame count and size)."""
        try:
            stamp = _source_stamp(video.path)
        except OSError:
            return False
        return (self.num_frames == len(video) and (self.width, self.height) == (video.width, video.height)
                and all(self.meta.get(k) == v for k, v in stamp.items()))

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``H x W x 3`` RGB at the SOURCE size (upscaled if the proxy is smaller)."""
        i = int(index)
        if not 0 <= i < self.num_frames:
            raise ProxyError(f"{self.path}: frame {index} is outside 0..{self.num_frames - 1}")
        start, end = int(self._offsets[i]), int(self._offsets[i + 1])
        # Decoded straight to RGB: a separate colour conversion would add about 10% to a preview.
        frame = cv2.imdecode(np.frombuffer(os.pread(self._fd, end - start, start), np.uint8), IMREAD_RGB)
        if frame is None:
            raise ProxyError(f"{self.path}: proxy frame {i} is not a readable JPEG")
        if IMREAD_RGB == cv2.IMREAD_COLOR:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if frame.shape[:2] != (self.height, self.width):
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        frame.flags.writeable = False
        return frame

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "ProxyFrames":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def find_proxy(video) -> ProxyFrames | None:
    """The valid proxy beside ``video`` (``VIDEO.taproxy``), or None if there is none or it is stale/damaged."""
    path = proxy_path_for(video.path)
    if not os.path.exists(path):
        return None
    try:
        proxy = ProxyFrames(path)
    except ProxyError:
        return None
    if not proxy.matches(video):
        proxy.close()
        return None
    return proxy


def build_proxy(video, out: str | None = None, max_height: int = DEFAULT_MAX_HEIGHT,
                quality: int = DEFAULT_QUALITY, progress=None, cancel=None) -> str | None:
    """Write the proxy of ``video`` (an open :class:`~app.core.video.VideoSource`); returns its path.

    Frames are read in order (the source decodes sequentially, no seeks) and
    written one by one.  ``progress(done, total)`` is called now and then;
    ``cancel()`` returning true stops the build, removes the partial file and
    returns None.
    """
    out = out or proxy_path_for(video.path)
    width, height = display_size(video.width, video.height, max_height)
    meta = {"version": FORMAT_VERSION, "source": os.path.basename(video.path), **_source_stamp(video.path),
            "num_frames": len(video), "source_width": video.width, "source_height": video.height,
            "proxy_width": width, "proxy_height": height, "jpeg_quality": int(quality)}
    meta_bytes = json.dumps(meta).encode()
    tmp = f"{out}.{os.getpid()}.part"
    offsets = np.empty(len(video) + 1, dtype="<i8")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack("<I", len(meta_bytes)) + meta_bytes)
            for i in range(len(video)):
                if cancel is not None and cancel():
                    raise InterruptedError
                rgb = video.read(i)
                if (width, height) != (video.width, video.height):
                    rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
                if not ok:
                    raise ProxyError(f"{out}: JPEG encoding of frame {i} failed")
                offsets[i] = f.tell()
                f.write(jpeg.tobytes())
                if progress is not None and (i % 500 == 0 or i == len(video) - 1):
                    progress(i + 1, len(video))
            offsets[-1] = table_at = f.tell()
            f.write(offsets.tobytes() + struct.pack("<Q", table_at) + END_MAGIC)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
        return out
    except InterruptedError:
        return None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
