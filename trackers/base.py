"""The one interface every tracker implements (pytracking-style, dict out).

A tracker is created by name through :func:`trackers.create`; the GUI, the CLI
and the benchmarks only ever see this interface.

Frames are ``H x W x 3`` ``uint8`` RGB numpy arrays.  Boxes are ``(x, y, w, h)``
floats in frame pixels, top-left origin.  Masks are ``H x W`` bool arrays.

``track()`` returns a :class:`TrackResult` (a ``dict``):

``box``    ``(x, y, w, h)`` or ``None`` when the tracker reports the target absent
``score``  confidence in ``[0, 1]``
``mask``   optional ``H x W`` bool
``maps``   ``{name: ScoreMap | BoxSet}`` – what the tracker "sees", for display
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

Box = tuple[float, float, float, float]


class TrackerError(RuntimeError):
    """A tracker could not do what was asked (bad init box, bad weights, ...)."""


@dataclass
class ScoreMap:
    """A 2-D float map and the frame region ``(x, y, w, h)`` it covers.

    ``data[0, 0]`` is the top-left cell of ``region``; the GUI stretches the map
    over the region to overlay it on the frame.
    """

    data: np.ndarray
    region: Box
    description: str = ""

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        if self.data.ndim != 2:
            raise ValueError(f"ScoreMap needs a 2-D array, got shape {self.data.shape}")
        self.region = tuple(float(v) for v in self.region)  # type: ignore[assignment]


@dataclass
class BoxSet:
    """Candidate boxes ``(N, 4)`` in frame pixels with scores ``(N,)``."""

    boxes: np.ndarray
    scores: np.ndarray
    description: str = ""

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if len(self.boxes) != len(self.scores):
            raise ValueError("BoxSet needs one score per box")


class TrackResult(dict):
    """``{'box', 'score', 'mask', 'maps'}``; a dict so trackers may add keys."""

    def __init__(self, box: Box | None, score: float, mask: np.ndarray | None = None,
                 maps: Mapping[str, ScoreMap | BoxSet] | None = None, **extra: Any) -> None:
        super().__init__(
            box=None if box is None else tuple(float(v) for v in box),
            score=float(score),
            mask=mask,
            maps=dict(maps or {}),
            **extra,
        )

    @property
    def box(self) -> Box | None:
        return self["box"]

    @property
    def score(self) -> float:
        return self["score"]

    @property
    def mask(self) -> np.ndarray | None:
        return self["mask"]

    @property
    def maps(self) -> dict[str, ScoreMap | BoxSet]:
        return self["maps"]


@dataclass
class TrackerInfo:
    """What the registry knows about a tracker without importing it."""

    name: str
    target: str  # "package.module:ClassName", imported on first use
    description: str = ""
    produces_masks: bool = False
    needs_weights: bool = False
    uses_torch: bool = True   # False: device "auto" resolves to cpu without importing torch
    defaults: dict = field(default_factory=dict)
    # True: the engines (bench, propagation) pass ``info["next_frame"]``, the next frame in the
    # direction of travel (None at the end of the video); offline trackers such as SiamTFA's
    # bidirectional temporal shift use it.  Others never get it, so they cannot cheat.
    look_ahead: bool = False
    # file (relative to resources/weights/) naming the dev sequences this tracker's weights were
    # trained on: the bench scores it separately on the others, the only fair comparison
    trained_on: str | None = None


class Tracker(abc.ABC):
    """Base class: subclasses implement ``_init`` and ``track``.

    ``info`` dicts (pytracking style) carry optional context: ``frame_index``
    and, for keyframe-aware trackers such as interpolation, ``keyframes``.
    """

    name: str = "tracker"
    produces_masks: bool = False

    def __init__(self, device: str = "cpu", **params: Any) -> None:
        self.device = device
        self.params = params
        self.frame_shape: tuple[int, int] | None = None
        self.initialized = False

    # -- public API ---------------------------------------------------------
    def init(self, frame: np.ndarray, box: Box | None = None, mask: np.ndarray | None = None,
             info: Mapping[str, Any] | None = None) -> None:
        frame, box = self._checked_target(frame, box, mask)
        self._init(frame, box, mask, dict(info or {}))
        self.initialized = True

    def _checked_target(self, frame: np.ndarray, box: Box | None, mask: np.ndarray | None) -> tuple[np.ndarray, Box]:
        """Validate the frame and the box (or the box around the mask); remember the frame size.

        ``init`` and every ``reinit`` override call this, so a bad correction
        gets the same clear :class:`TrackerError` as a bad first box.
        """
        frame = check_frame(frame)
        if box is None and mask is None:
            raise TrackerError("needs a box or a mask")
        if box is None:
            box = box_from_mask(mask)
            if box is None:
                raise TrackerError("the mask is empty")
        box = check_box(box, frame.shape)
        self.frame_shape = frame.shape[:2]
        return frame, box

    @abc.abstractmethod
    def _init(self, frame: np.ndarray, box: Box, mask: np.ndarray | None, info: dict) -> None:
        ...

    @abc.abstractmethod
    def track(self, frame: np.ndarray, info: Mapping[str, Any] | None = None) -> TrackResult:
        ...

    def reinit(self, frame: np.ndarray, box: Box | None = None, mask: np.ndarray | None = None,
               info: Mapping[str, Any] | None = None) -> None:
        """Correct the tracker at this frame.  Default: start afresh.

        Online trackers override this to keep what they learned from the first
        frame while restarting from the corrected state.
        """
        self.init(frame, box, mask, info)

    def close(self) -> None:
        """Release heavy resources (optional)."""


def check_frame(frame: np.ndarray) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        raise TrackerError(f"a frame must be an HxWx3 array, got {getattr(frame, 'shape', type(frame))}")
    if frame.dtype != np.uint8:
        raise TrackerError(f"a frame must be uint8, got {frame.dtype}")
    return frame


def check_box(box: Box, shape: tuple[int, ...]) -> Box:
    """Validate a box against the frame; clip it to the image.

    Raises :class:`TrackerError` for non-finite, empty or wholly outside boxes.
    """
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise TrackerError(f"a box must be four numbers x,y,w,h, got {box!r}") from exc
    if not all(np.isfinite(v) for v in (x, y, w, h)):
        raise TrackerError(f"box has non-finite values: {box!r}")
    if w < 1 or h < 1:
        raise TrackerError(f"box is empty (w={w:g}, h={h:g}); draw at least 1x1 pixel")
    H, W = shape[:2]
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, float(W)), min(y + h, float(H))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise TrackerError(f"box {x:g},{y:g},{w:g},{h:g} lies outside the {W}x{H} frame")
    return (x0, y0, x1 - x0, y1 - y0)


def box_from_mask(mask: np.ndarray | None) -> Box | None:
    if mask is None:
        return None
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1))
