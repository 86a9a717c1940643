"""Propagation engine: run a tracker from an annotated frame and store its results.

``propagate()`` is a generator: one :class:`FrameResult` per frame, each frame
committed to the store as soon as it is tracked (a killed run leaves a
contiguous prefix), the whole run one undo step.  The GUI worker and the CLI
both drive it with a plain loop; ``cancel`` is checked before every frame.

Tracker failures are contained: an exception, a NaN/empty/off-frame box, a
mask of the wrong shape gives a FrameResult with ``error`` and writes nothing;
``on_error`` decides whether the run stops there or skips the frame.

Human keyframes are never overwritten (unless ``overwrite_human``).  When a
run goes through one (``until_keyframe=False``) the tracker is re-initialised
from it: the human is always right.

A tracker registered with ``look_ahead=True`` also gets ``info["next_frame"]``:
the next video frame in the direction of travel (``index - 1`` going
backwards), ``None`` past either end of the video.  It is read one step early
and kept for the next step, so no frame is decoded twice.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

import trackers
from trackers.base import Tracker, TrackerError, TrackResult, check_box
from trackers.baselines.interpolation import interpolate_box
from trackers.registry import looks_ahead

from .errors import TrackAssistError, VideoError
from .model import INTERPOLATED, FrameAnnotation, decode_mask, encode_mask, tracker_source

# Within this score difference the forward and backward results of
# propagate_between() are blended instead of one being picked.
BLEND_SCORE_MARGIN = 0.1


class PropagationError(TrackAssistError):
    """The run cannot start: no annotation at the start frame, bad range, tracker init failed."""


class CancelToken:
    """Thread-safe flag: the GUI thread cancels, the worker's generator checks it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class PropagationRequest:
    track_id: int
    start: int
    direction: int = +1
    stop: int | None = None            # inclusive; None = end (or start) of the video
    until_keyframe: bool = True        # stop before the next human keyframe
    tracker: str = "csrt"
    device: str = "auto"
    params: dict = field(default_factory=dict)
    overwrite_human: bool = False
    on_error: str = "stop"             # or "skip"


@dataclass
class FrameResult:
    index: int
    annotation: FrameAnnotation | None
    result: TrackResult | None
    seconds: float
    error: str | None = None
    written: bool = False


def _human_keyframes(store, track_id: int) -> dict[int, tuple]:
    return {f: a.box for f, a in store.frames(track_id).items() if a.is_human and a.box is not None}


def _init_target(ann: FrameAnnotation) -> tuple[tuple | None, np.ndarray | None]:
    mask = decode_mask(ann.mask_rle) if ann.mask_rle else None
    return ann.box, mask


def _validate(result, frame_shape: tuple[int, ...], source: str) -> FrameAnnotation:
    """TrackResult -> FrameAnnotation, or TrackerError saying what is wrong with it."""
    if not isinstance(result, dict) or "box" not in result:
        raise TrackerError(f"track() must return a TrackResult, got {type(result).__name__}")
    try:
        score = float(result.get("score", 0.0))
    except (TypeError, ValueError):
        raise TrackerError(f"score is not a number: {result.get('score')!r}") from None
    if not np.isfinite(score):
        raise TrackerError(f"score is not finite: {score}")
    score = min(1.0, max(0.0, score))
    if result["box"] is None:
        return FrameAnnotation(box=None, absent=True, score=score, source=source)
    box = check_box(result["box"], frame_shape)  # clips; raises for NaN, empty, wholly outside
    mask_rle = None
    mask = result.get("mask")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != tuple(frame_shape[:2]):
            raise TrackerError(f"mask has shape {mask.shape}, the frame is {frame_shape[:2]}")
        mask_rle = encode_mask(mask.astype(bool))
    return FrameAnnotation(box=tuple(float(v) for v in box), mask_rle=mask_rle, absent=False, score=score,
                           source=source)


def _end_frame(video, store, request: PropagationRequest) -> int:
    """Last frame (inclusive) the run may reach; ``start`` itself means nothing to do."""
    d = request.direction
    end = len(video) - 1 if d > 0 else 0
    if request.stop is not None:
        stop = int(request.stop)
        if (stop - request.start) * d < 0:
            raise PropagationError(f"stop frame {stop} lies {'before' if d > 0 else 'after'} start frame "
                                   f"{request.start} for a {'forward' if d > 0 else 'backward'} run")
        end = min(stop, end) if d > 0 else max(stop, end)
    if request.until_keyframe:
        ahead = [k for k in store.keyframes(request.track_id) if (k - request.start) * d > 0]
        if ahead:
            nearest = min(ahead) if d > 0 else max(ahead)
            end = min(end, nearest - 1) if d > 0 else max(end, nearest + 1)
    return end


def propagate(video, store, request: PropagationRequest, cancel: CancelToken | None = None,
              tracker: Tracker | None = None) -> Iterator[FrameResult]:
    """Track ``request.track_id`` from ``request.start``; see the module docstring.

    The request is checked at once (bad requests raise :class:`PropagationError`
    here, not on the first ``next()``); the tracker is created and initialised
    on the first ``next()``, so the heavy part runs in the consumer's thread.
    """
    if request.direction not in (1, -1):
        raise PropagationError(f"direction must be +1 or -1, got {request.direction}")
    if request.on_error not in ("stop", "skip"):
        raise PropagationError(f"on_error must be 'stop' or 'skip', got {request.on_error!r}")
    if not 0 <= request.start < len(video):
        raise PropagationError(f"start frame {request.start} is outside the video (0..{len(video) - 1})")
    first = store.get(request.track_id, request.start)
    if first is None or first.absent or (first.box is None and not first.mask_rle):
        raise PropagationError(f"object {request.track_id} has no box or mask on frame {request.start} "
                               "to start from")
    return _run(video, store, request, first, planned_frames(video, store, request), cancel, tracker)


def planned_frames(video, store, request: PropagationRequest) -> range:
    """The frames a run of ``request`` will visit (fewer if cancelled or stopped by an error)."""
    end = _end_frame(video, store, request)
    return range(request.start + request.direction, end + request.direction, request.direction)


class _Frames:
    """Frames for one run: ``read(index)`` -> ``(frame, next_frame)``.

    ``next_frame`` is ``index + direction`` for a look-ahead tracker (else
    ``None``); it is kept so the next step does not decode it again.  A read-ahead
    that fails gives ``None`` (the tracker goes on without it); the frame's own
    read, one step later, then reports the error for that frame.
    """

    def __init__(self, video, direction: int, look_ahead: bool) -> None:
        self.video, self.direction, self.look_ahead = video, direction, look_ahead
        self._kept: tuple[int, np.ndarray] | None = None

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        kept, self._kept = self._kept, None
        frame = kept[1] if kept is not None and kept[0] == index else self.video.read(index)
        if not self.look_ahead:
            return frame, None
        ahead = index + self.direction
        if not 0 <= ahead < len(self.video):
            return frame, None
        try:
            self._kept = (ahead, self.video.read(ahead))
        except VideoError:
            return frame, None
        return frame, self._kept[1]


def _make_tracker(request: PropagationRequest) -> Tracker:
    try:
        return trackers.create(request.tracker, device=request.device, **request.params)
    except TrackerError as exc:
        raise PropagationError(f"tracker {request.tracker!r}: {exc}") from None


def _run(video, store, request: PropagationRequest, first: FrameAnnotation, frames: range,
         cancel: CancelToken | None, tracker: Tracker | None,
         fuse: Callable[[int, FrameAnnotation], FrameAnnotation] | None = None) -> Iterator[FrameResult]:
    own_tracker = tracker is None
    if own_tracker:
        tracker = _make_tracker(request)
    name = getattr(tracker, "name", None) or request.tracker
    source = tracker_source(name if name != "tracker" else request.tracker)
    keyframes = _human_keyframes(store, request.track_id)
    try:
        with store.group(f"propagate {name} from frame {request.start}"):
            box, mask = _init_target(first)
            try:
                tracker.init(video.read(request.start), box=box, mask=mask,
                             info={"frame_index": request.start, "keyframes": keyframes})
            except (TrackerError, VideoError) as exc:
                raise PropagationError(f"cannot start {name} on frame {request.start}: {exc}") from None
            source_frames = _Frames(video, request.direction, looks_ahead(tracker))
            for index in frames:
                if cancel is not None and cancel.cancelled:
                    return
                outcome = _track_one(source_frames, store, request, tracker, index, source, keyframes, fuse)
                yield outcome
                if outcome.error and request.on_error == "stop":
                    return
    finally:
        if own_tracker:
            tracker.close()


def _track_one(frames: _Frames, store, request, tracker, index, source, keyframes, fuse) -> FrameResult:
    t0 = time.perf_counter()
    result = None
    try:
        frame, next_frame = frames.read(index)
        info = {"frame_index": index, "keyframes": keyframes}
        if frames.look_ahead:
            info["next_frame"] = next_frame
        result = tracker.track(frame, info=info)
        ann = _validate(result, frame.shape, source)
    except Exception as exc:  # noqa: BLE001 - any tracker failure is contained and reported
        return FrameResult(index, None, result if isinstance(result, dict) else None,
                           time.perf_counter() - t0, error=f"frame {index}: {type(exc).__name__}: {exc}")
    if fuse is not None:
        ann = fuse(index, ann)
    written = store.put(request.track_id, index, ann, overwrite_human=request.overwrite_human)
    if not written:
        # A human frame: keep it, and let the tracker continue from the human's answer.
        human = store.get(request.track_id, index)
        if human is not None and not human.absent and (human.box is not None or human.mask_rle):
            box, mask = _init_target(human)
            try:
                tracker.reinit(frame, box=box, mask=mask, info=info)
            except TrackerError as exc:
                return FrameResult(index, human, result, time.perf_counter() - t0,
                                   error=f"frame {index}: re-initialising on the human frame failed: {exc}")
        ann = human
    return FrameResult(index, ann, result, time.perf_counter() - t0, written=written)


def _blend(forward: FrameAnnotation, backward: FrameAnnotation, weight_forward: float) -> FrameAnnotation:
    """Pick the better-scored result; blend boxes when the scores are close."""
    sf, sb = forward.score or 0.0, backward.score or 0.0
    if abs(sf - sb) > BLEND_SCORE_MARGIN or forward.box is None or backward.box is None:
        if abs(sf - sb) <= BLEND_SCORE_MARGIN:
            return forward if weight_forward >= 0.5 else backward
        return forward if sf > sb else backward
    box = tuple(weight_forward * a + (1 - weight_forward) * b for a, b in zip(forward.box, backward.box))
    nearer = forward if weight_forward >= 0.5 else backward
    return nearer.with_(box=box, score=weight_forward * sf + (1 - weight_forward) * sb)


def propagate_between(video, store, track_id: int, first: int, last: int, tracker: str = "csrt",
                      device: str = "auto", cancel: CancelToken | None = None) -> Iterator[FrameResult]:
    """Forward from ``first`` then backward from ``last``; per frame keep the better result.

    Yields ``2 * (last - first - 1)`` results: the forward pass (written as it
    goes, so a cancelled run still has them), then the backward pass whose
    results are the fused ones.  One undo step for both passes.
    """
    if not first < last:
        raise PropagationError(f"propagate_between needs first < last, got {first} and {last}")
    forward = PropagationRequest(track_id, first, +1, stop=last - 1, until_keyframe=False, tracker=tracker,
                                 device=device)
    backward = PropagationRequest(track_id, last, -1, stop=first + 1, until_keyframe=False, tracker=tracker,
                                  device=device)
    # Both validate before anything runs (both ends must be annotated).
    forward_run = propagate(video, store, forward, cancel)
    propagate(video, store, backward, cancel).close()
    return _between(video, store, forward_run, backward, first, last, cancel)


def _between(video, store, forward_run, backward, first, last, cancel) -> Iterator[FrameResult]:
    span = float(last - first)
    forward_results: dict[int, FrameAnnotation] = {}
    with store.group(f"propagate between frames {first} and {last}"):
        for outcome in forward_run:
            if outcome.annotation is not None and not outcome.error:
                forward_results[outcome.index] = outcome.annotation
            yield outcome
        if cancel is not None and cancel.cancelled:
            return

        def fuse(index: int, ann: FrameAnnotation) -> FrameAnnotation:
            ahead = forward_results.get(index)
            if ahead is None or ahead.is_human:
                return ann
            return _blend(ahead, ann, weight_forward=(last - index) / span)

        first_ann = store.get(backward.track_id, backward.start)
        frames = range(last - 1, first, -1)
        yield from _run(video, store, backward, first_ann, frames, cancel, None, fuse=fuse)


def interpolate_range(store, track_id: int, start: int, stop: int) -> int:
    """Fill frames in ``[start, stop)`` lying between two human keyframes with boxes.

    Writes ``"interpolated"`` frames (replacing tracker/interpolated ones, never
    human ones) in one transaction and one undo step; returns how many.  A span
    next to an absent keyframe is left alone: there is nothing to interpolate to.
    """
    humans = {f: a for f, a in store.frames(track_id).items() if a.is_human}
    keys = sorted(humans)
    anns: dict[int, FrameAnnotation] = {}
    for a, b in zip(keys, keys[1:]):
        ka, kb = humans[a], humans[b]
        if ka.absent or kb.absent or ka.box is None or kb.box is None:
            continue
        for f in range(max(a + 1, start), min(b, stop)):
            box = interpolate_box({a: ka.box, b: kb.box}, f)
            anns[f] = FrameAnnotation(box=box, score=1.0, source=INTERPOLATED)
    if not anns:
        return 0
    with store.group(f"interpolate frames {start}-{stop - 1}"):
        return store.put_many(track_id, anns)
