"""``trackassist track``: propagate a box through a video without the GUI.

    trackassist track VIDEO --tracker csrt --box x,y,w,h [--frame N] [--backward] [--stop N]
                      [--project P] [--object ID] [--out FILE] [--masks DIR] [--device auto|cpu|cuda]

The init box is stored as a human keyframe of the object, then the tracker
runs forward (or backward) to ``--stop``, the video's end, or the frame
before the object's next human keyframe.

Project: with ``--project P`` the annotations go to that ``.taproj`` file
(created if missing; every frame is committed as it is tracked, so a killed
run keeps what it did).  Without it the project lives in memory only and
``--out`` is the result: a headless run should not leave files next to the
video that nobody asked for.

``--out FILE`` gets one ``x,y,w,h`` line per video frame (GOT-10k style),
``nan,nan,nan,nan`` where the object has no box.  ``--masks DIR`` gets one
PNG per frame with a mask (``00000001.png`` = frame 0, GOT-10k numbering).

Ctrl-C cancels after the current frame and keeps (and writes out) what is
done; a second Ctrl-C aborts at once.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import time

from app.core.errors import TrackAssistError
from app.core.model import FrameAnnotation, HUMAN, decode_mask
from app.core.propagation import CancelToken, PropagationRequest, planned_frames, propagate
from app.core.store import ProjectStore
from app.core.video import open_video

PROGRESS_EVERY_S = 1.0


class TrackCommandError(TrackAssistError):
    """Bad command-line input (the message names the option)."""


def add_arguments(parser) -> None:
    parser.add_argument("video", help="video file or folder of images")
    parser.add_argument("--tracker", default="csrt", help="tracker name (see `trackassist trackers`)")
    parser.add_argument("--box", required=True, help="initial box x,y,w,h in pixels on --frame")
    parser.add_argument("--frame", type=int, default=0, help="frame of the initial box (default 0)")
    parser.add_argument("--backward", action="store_true", help="track towards the first frame")
    parser.add_argument("--stop", type=int, default=None, help="last frame to track (inclusive)")
    parser.add_argument("--project", default=None, help="project file to write (default: in memory only)")
    parser.add_argument("--object", type=int, default=None, dest="object_id",
                        help="existing object id in --project (default: a new object)")
    parser.add_argument("--out", default=None, help="write x,y,w,h per frame (GOT-10k style) to this file")
    parser.add_argument("--masks", default=None, help="write mask PNGs to this folder (mask trackers)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def parse_box(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        box = tuple(float(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise TrackCommandError(f"--box {text!r}: expected four numbers x,y,w,h")
    if box[2] < 1 or box[3] < 1:
        raise TrackCommandError(f"--box {text!r}: width and height must be at least 1 pixel")
    return box  # type: ignore[return-value]


def _check_box_in_frame(box, video, text: str) -> None:
    x, y, w, h = box
    if min(x + w, video.width) - max(x, 0) < 1 or min(y + h, video.height) - max(y, 0) < 1:
        raise TrackCommandError(f"--box {text!r}: lies outside the {video.width}x{video.height} frame of "
                                f"{video.path}")


class _Progress:
    """One stderr line per second: frame, speed, ETA."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.t0 = self.last = time.perf_counter()

    def step(self, index: int, seconds: float) -> None:
        now = time.perf_counter()
        if self.done == 0:
            # Speed counts tracking only, not tracker creation and init (model loading).
            self.t0 = self.last = now - seconds
        self.done += 1
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            fps = self.done / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / max(fps, 1e-9)
            print(f"frame {index}  {self.done}/{self.total}  {fps:.1f} fps  ETA {eta:.0f} s", file=sys.stderr,
                  flush=True)

    @property
    def fps(self) -> float:
        return self.done / max(time.perf_counter() - self.t0, 1e-9)


def _install_cancel(cancel: CancelToken):
    """First Ctrl-C cancels cleanly; the second one interrupts (default handler)."""
    def on_sigint(signum, frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        print("cancelling after this frame (Ctrl-C again to abort)", file=sys.stderr, flush=True)
        cancel.cancel()

    try:
        return signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (e.g. embedded): keep the default
        return None


def write_boxes(path: str, frames: dict[int, FrameAnnotation], num_frames: int) -> None:
    """GOT-10k style: one line per frame, ``nan`` where there is no box; atomic."""
    lines = []
    for i in range(num_frames):
        ann = frames.get(i)
        if ann is None or ann.box is None or ann.absent:
            lines.append("nan,nan,nan,nan")
        else:
            lines.append(",".join(f"{v:.2f}" for v in ann.box))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def write_masks(folder: str, frames: dict[int, FrameAnnotation]) -> int:
    import cv2

    os.makedirs(folder, exist_ok=True)
    count = 0
    for i, ann in sorted(frames.items()):
        if ann.mask_rle:
            cv2.imwrite(os.path.join(folder, f"{i + 1:08d}.png"), decode_mask(ann.mask_rle).astype("uint8") * 255)
            count += 1
    return count


def run(args) -> int:
    box = parse_box(args.box)
    video = open_video(args.video)
    store = None
    try:
        if not 0 <= args.frame < len(video):
            raise TrackCommandError(f"--frame {args.frame}: the video has frames 0..{len(video) - 1}")
        _check_box_in_frame(box, video, args.box)
        store = ProjectStore.open(args.project or ":memory:", video_path=args.video)
        store.set_meta("fps", video.fps)
        track_id = _object_for(store, args)
        store.put(track_id, args.frame, FrameAnnotation(box=box, source=HUMAN))
        request = PropagationRequest(track_id, args.frame, direction=-1 if args.backward else +1, stop=args.stop,
                                     tracker=args.tracker, device=args.device)
        cancel = CancelToken()
        total = len(planned_frames(video, store, request))
        summary, errors = _drive(propagate(video, store, request, cancel), total, cancel, request, args)
        frames = store.frames(track_id)
        where = []
        if args.out:
            write_boxes(args.out, frames, len(video))
            where.append(f"boxes -> {args.out}")
        if args.masks:
            where.append(f"{write_masks(args.masks, frames)} masks -> {args.masks}")
        where.append(f"project -> {args.project} (object {track_id})" if args.project else "project not saved")
        print(f"{summary}; " + "; ".join(where), file=sys.stderr)
        # A run stopped by a failed frame is not a success, even though its prefix is kept and written out.
        return 130 if cancel.cancelled else (1 if errors else 0)
    finally:
        if store is not None:
            store.close()
        video.close()


def _object_for(store: ProjectStore, args) -> int:
    if args.object_id is None:
        return store.add_object(tracker=args.tracker)
    if args.object_id not in {o.track_id for o in store.objects()}:
        raise TrackCommandError(f"--object {args.object_id}: no such object in {args.project or 'the project'}")
    return args.object_id


def _drive(run_frames, total: int, cancel: CancelToken, request: PropagationRequest, args) -> tuple[str, int]:
    """The plain loop over the generator, with progress and Ctrl-C handling."""
    progress = _Progress(total)
    errors = 0
    previous = _install_cancel(cancel)
    print(f"tracking object {request.track_id} with {args.tracker} from frame {request.start} "
          f"({total} frames)", file=sys.stderr, flush=True)
    try:
        for outcome in run_frames:
            progress.step(outcome.index, outcome.seconds)
            if outcome.error:
                errors += 1
                print(f"error: {outcome.error}", file=sys.stderr, flush=True)
    finally:
        run_frames.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    state = "cancelled after" if cancel.cancelled else "tracked"
    failed = f", {errors} failed" if errors else ""
    return f"{state} {progress.done - errors} frames{failed} at {progress.fps:.1f} fps", errors

