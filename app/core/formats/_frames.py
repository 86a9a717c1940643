"""Writing frames and masks as image files (atomically, one file at a time)."""
from __future__ import annotations

import os
from dataclasses import replace

import cv2
import numpy as np

from app.core.errors import FormatError
from app.core.formats import _atomic

JPEG_QUALITY = 95


def write_image(path: str, image: np.ndarray, ext: str) -> None:
    """Encode ``image`` (BGR or grey, as OpenCV expects) to ``ext`` and write it atomically.

    Not fsynced: images come in bulk, and the writer calls ``_atomic.flush_all()`` once after them.
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if ext == ".jpg" else []
    ok, data = cv2.imencode(ext, image, params)
    if not ok:
        raise FormatError(path, "", "OpenCV could not encode the image")
    _atomic.write_bytes(path, data.tobytes(), durable=False)


def write_frames_to(video, paths: list[str]) -> None:
    """Frame ``i`` of ``video`` (``read(i)`` -> RGB) to ``paths[i]`` as JPEG."""
    if len(video) < len(paths):
        raise FormatError(paths[-1], "", f"the video has {len(video)} frames, the annotations {len(paths)}")
    for i, path in enumerate(paths):
        write_image(path, cv2.cvtColor(np.asarray(video.read(i)), cv2.COLOR_RGB2BGR), ".jpg")


def check_one_video(videos: list, video, write_frames: bool, target: str) -> None:
    if write_frames and (video is None or len(videos) != 1):
        raise FormatError(target, "", "writing frames needs exactly one video and its frames")


def write_json_with_frames(to_json, videos: list, path: str, video=None, write_frames: bool = False) -> None:
    """Write ``to_json(videos, path)`` atomically; ``write_frames`` also writes the (single) video's frames
    as JPEGs beside the file, at the ``file_name``s it gives them (``<video>/00000001.jpg``)."""
    path = os.fspath(path)
    check_one_video(videos, video, write_frames, path)
    if not write_frames:
        _atomic.write_json(path, to_json(videos, path))
        return
    (va,) = videos
    va = replace(va, frame_files=[f"{va.name}/{i + 1:08d}.jpg" for i in range(va.num_frames)])
    data = to_json([va], path)   # checked before any frame is written
    folder = os.path.dirname(os.path.abspath(path))
    write_frames_to(video, [os.path.join(folder, f) for f in va.frame_files])
    _atomic.flush_all()
    _atomic.write_json(path, data)
