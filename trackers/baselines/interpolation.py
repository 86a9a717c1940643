"""Keyframe linear interpolation (the CVAT/VATIC baseline) as a tracker.

It does not look at pixels.  Given the human keyframes (``info['keyframes']``:
``{frame_index: box}``) and the frame index, it interpolates linearly between
the nearest keyframes on either side; past the last keyframe it holds the box.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Mapping

from ..base import Box, Tracker, TrackerError, TrackResult


def interpolate_box(keyframes: Mapping[int, Box], index: int) -> Box | None:
    """Box at ``index`` by linear interpolation between surrounding keyframes."""
    if not keyframes:
        return None
    keys = sorted(keyframes)
    if index in keyframes:
        return tuple(float(v) for v in keyframes[index])  # type: ignore[return-value]
    pos = bisect_left(keys, index)
    if pos == 0:
        return tuple(float(v) for v in keyframes[keys[0]])  # type: ignore[return-value]
    if pos == len(keys):
        return tuple(float(v) for v in keyframes[keys[-1]])  # type: ignore[return-value]
    a, b = keys[pos - 1], keys[pos]
    t = (index - a) / (b - a)
    ba, bb = keyframes[a], keyframes[b]
    return tuple(float(pa + t * (pb - pa)) for pa, pb in zip(ba, bb))  # type: ignore[return-value]


class InterpolationTracker(Tracker):
    def _init(self, frame, box: Box, mask, info: dict) -> None:
        self.keyframes: dict[int, Box] = dict(info.get("keyframes") or {})
        self.index = int(info.get("frame_index", 0))
        self.keyframes.setdefault(self.index, box)
        self.step = 1

    def track(self, frame, info=None) -> TrackResult:
        if not self.initialized:
            raise TrackerError("track() called before init()")
        info = dict(info or {})
        if "keyframes" in info:
            self.keyframes.update(info["keyframes"])
        previous = self.index
        self.index = int(info.get("frame_index", self.index + self.step))
        self.step = 1 if self.index >= previous else -1
        box = interpolate_box(self.keyframes, self.index)
        keys = sorted(self.keyframes)
        bracketed = keys[0] <= self.index <= keys[-1]
        # Between two keyframes interpolation is as good as its assumption of
        # linear motion; outside them it merely holds the box: say so in the score.
        return TrackResult(box, 1.0 if bracketed else 0.5)
