"""Real sequences with occluders passing in front of the target, in GOT-10k layout, for choosing defaults.

``python -m trackers.data.occluded_set SRC OUT --sequences a,b,c [--max-frames 300] [--seed 0]`` copies each
sequence of ``SRC`` (a GOT-10k-style folder such as ``../shared/data/dev``) to ``OUT/<name>-occ`` with
occlusion events painted in: every ``--period`` frames an opaque patch of real texture (cut from a frame of
another of the given sequences) passes in front of the target, either sideways across it (half the events
wide enough to hide it completely) or rising over its lower part (a parked car in front of a walker);
with ``--kind wall``, a static wall stands over the target's path so that it is fully hidden for 5-14
frames while it keeps moving (the occlusion of issue #8, on real motion).  The
ground-truth box stays the whole target's; ``cover.label`` holds the visible share in eighths as GOT-10k does
(0 = fully hidden, which the benchmark treats as absent: nothing to draw) and ``extra/occlusion.label`` marks
the frames with any occlusion, so ``trackassist bench`` reports AO on them.

Why: the dev sequences with occlusion are all held out from training, so a default chosen on the training
sequences never saw a partly hidden target.  This set puts occlusion into the training sequences' own video.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..eval.dataset import add_to_list, load_sequence, read_frame


@dataclass
class Event:
    start: int
    length: int
    kind: str            # "pass" (sideways across the box), "rise" (over its lower part) or "wall" (static)
    extent: float        # pass: occluder width / box width; rise: share of the box height hidden at most
    direction: int       # pass: +1 left to right, -1 right to left
    texture: np.ndarray  # RGB patch, resized to the occluder each frame
    rect: tuple[float, float, float, float] | None = None   # wall: where it stands, the whole event


def occluder_rect(event: Event, t: int, box) -> tuple[float, float, float, float]:
    """The occluder's rectangle (x0, y0, x1, y1) at frame ``t`` of the event, for the target box ``box``."""
    if event.kind == "wall":
        return event.rect
    x, y, w, h = box
    phase = (t + 0.5) / event.length                      # 0 -> 1 over the event
    if event.kind == "pass":
        ow = event.extent * w
        # the occluder's left edge slides from just left of the box to just right of it (or back)
        left = x - ow + phase * (w + ow) if event.direction > 0 else x + w - phase * (w + ow)
        return left, y - 0.1 * h, left + ow, y + 1.1 * h
    # rise: up to ``extent`` of the height, hold, then down again (a triangle with a flat top)
    share = event.extent * min(1.0, 2.5 * min(phase, 1 - phase))
    return x - 0.2 * w, y + h * (1 - share), x + 1.2 * w, y + 1.1 * h


def visible_share(rect, box) -> float:
    x, y, w, h = box
    ix = max(0.0, min(x + w, rect[2]) - max(x, rect[0]))
    iy = max(0.0, min(y + h, rect[3]) - max(y, rect[1]))
    return 1.0 - ix * iy / max(w * h, 1e-9)


def paint(frame: np.ndarray, rect, texture: np.ndarray) -> np.ndarray:
    H, W = frame.shape[:2]
    rx0, ry0, rx1, ry1 = (int(round(v)) for v in rect)
    x0, y0, x1, y1 = max(rx0, 0), max(ry0, 0), min(rx1, W), min(ry1, H)
    if x1 <= x0 or y1 <= y0:
        return frame
    patch = cv2.resize(texture, (rx1 - rx0, ry1 - ry0), interpolation=cv2.INTER_LINEAR)
    out = frame.copy()
    out[y0:y1, x0:x1] = patch[y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0]
    return out


def plan_events(n: int, present: np.ndarray, textures: list[np.ndarray], rng: np.random.Generator,
                period: int, first: int) -> list[Event]:
    events, start = [], first
    while start < n:
        length = int(rng.integers(16, 36))
        if start + length <= n and present[start:start + length].all():
            kind = "pass" if rng.random() < 0.6 else "rise"
            full = rng.random() < 0.5
            extent = (float(rng.uniform(1.1, 1.6)) if full else float(rng.uniform(0.35, 0.8))) if kind == "pass" \
                else float(rng.uniform(0.3, 0.6))
            events.append(Event(start, length, kind, extent, 1 if rng.random() < 0.5 else -1,
                                textures[int(rng.integers(len(textures)))]))
        start += period + int(rng.integers(-period // 4, period // 4 + 1))
    return events


WALL_HIDDEN = (5, 15)      # frames fully hidden behind a wall: 5-14
WALL_LEAD = (6, 25)        # frames the wall stands before (and after) the hidden spell
WALL_MAX_AREA = 12.0       # a wall covers at most this many box areas (a fast target gets a shorter spell)
WALL_MAX_WIDTH = 0.6       # ... and at most this share of the frame's width or height
WALL_ENDS_VISIBLE = 0.5    # the target walks in and out: this much of it shows when the wall appears and at its end


def wall_rect(boxes: np.ndarray, hidden: range, pad: float = 0.08) -> tuple[float, float, float, float]:
    """The smallest rectangle (x0, y0, x1, y1) that hides every box of ``hidden``, with a margin."""
    b = boxes[hidden.start:hidden.stop]
    x0, y0 = b[:, 0].min(), b[:, 1].min()
    x1, y1 = (b[:, 0] + b[:, 2]).max(), (b[:, 1] + b[:, 3]).max()
    mx, my = pad * b[:, 2].mean(), pad * b[:, 3].mean()
    return float(x0 - mx), float(y0 - my), float(x1 + mx), float(y1 + my)


def plan_walls(boxes: np.ndarray, present: np.ndarray, size: tuple[int, int], textures: list[np.ndarray],
               rng: np.random.Generator, period: int, first: int) -> list[Event]:
    """Static walls the target moves behind: each hides it fully for a spell of 5-14 frames (shorter when
    the target moves so far that the wall would be huge).  No wall where even 5 frames are too far, nor
    where the target moves so little that it would already be behind the wall when the wall appears:
    the set is about targets that move on while hidden."""
    n, (W, H) = len(boxes), size
    events, start = [], first
    while start < n:
        lead, tail = (int(rng.integers(*WALL_LEAD)) for _ in range(2))
        for hidden_len in range(int(rng.integers(*WALL_HIDDEN)), WALL_HIDDEN[0] - 1, -1):
            stop = start + lead + hidden_len + tail
            if stop > n or not present[start:stop].all():
                continue                                  # a shorter spell may still fit
            hidden = range(start + lead, start + lead + hidden_len)
            rect = wall_rect(boxes, hidden)
            area = (rect[2] - rect[0]) * (rect[3] - rect[1])
            if area <= WALL_MAX_AREA * np.mean(boxes[hidden, 2] * boxes[hidden, 3]) \
                    and rect[2] - rect[0] <= WALL_MAX_WIDTH * W and rect[3] - rect[1] <= WALL_MAX_WIDTH * H \
                    and min(visible_share(rect, boxes[start]), visible_share(rect, boxes[stop - 1])) >= WALL_ENDS_VISIBLE:
                events.append(Event(start, stop - start, "wall", 1.0, 0,
                                    textures[int(rng.integers(len(textures)))], rect))
                break
        start += period + int(rng.integers(-period // 4, period // 4 + 1))
    return events


def textures_from(root: str, names: list[str], rng: np.random.Generator, per_sequence: int = 4) -> dict:
    """Patches of real texture from each sequence, away from its target, to paint onto the others."""
    out: dict[str, list[np.ndarray]] = {}
    for name in names:
        seq = load_sequence(root, name)
        patches = []
        for _ in range(per_sequence):
            i = int(rng.integers(len(seq)))
            frame = read_frame(seq.frame_files[i])
            H, W = frame.shape[:2]
            pw, ph = W // 5, H // 3
            for _ in range(20):   # a spot that does not hold the target (it would paint a look-alike)
                px, py = int(rng.integers(0, W - pw)), int(rng.integers(0, H - ph))
                b = seq.boxes[i]
                if seq.absent[i] or visible_share((px, py, px + pw, py + ph), b) > 0.95:
                    break
            patches.append(frame[py:py + ph, px:px + pw].copy())
        out[name] = patches
    return out


def write_occluded(root: str, name: str, out_root: str, textures: list[np.ndarray], rng: np.random.Generator,
                   max_frames: int | None, period: int, first: int, quality: int = 92, kind: str = "moving") -> str:
    """``kind``: "moving" (passes and rises) or "wall" (static walls over the target's path)."""
    seq = load_sequence(root, name).truncated(max_frames)
    n = len(seq)
    events = plan_walls(seq.boxes, seq.present, seq.size, textures, rng, period, first) if kind == "wall" \
        else plan_events(n, seq.present, textures, rng, period, first)
    out_name = f"{name}-occ"
    path = os.path.join(out_root, out_name)
    os.makedirs(os.path.join(path, "extra"), exist_ok=True)
    cover = np.where(seq.present, 8, 0)
    occluded = np.zeros(n, bool)
    by_frame = {e.start + t: (e, t) for e in events for t in range(e.length)}
    for i, frame in enumerate(seq.frames()):
        if i in by_frame:
            e, t = by_frame[i]
            rect = occluder_rect(e, t, seq.boxes[i])
            frame = paint(frame, rect, e.texture)
            share = visible_share(rect, seq.boxes[i])
            occluded[i] = share < 0.99
            cover[i] = min(int(np.ceil(share * 8 - 1e-6)), 7 if occluded[i] else 8)
        cv2.imwrite(os.path.join(path, f"{i + 1:08d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, quality])
    with open(os.path.join(path, "groundtruth.txt"), "w") as f:
        for b, p in zip(seq.boxes, seq.present):
            f.write(",".join(f"{v:.2f}" for v in b) + "\n" if p else "nan,nan,nan,nan\n")
    with open(os.path.join(path, "absence.label"), "w") as f:
        f.writelines("0\n" if p else "1\n" for p in seq.present)
    with open(os.path.join(path, "cover.label"), "w") as f:
        f.writelines(f"{c}\n" for c in cover)
    with open(os.path.join(path, "extra", "occlusion.label"), "w") as f:
        f.writelines("1\n" if o else "0\n" for o in occluded)
    add_to_list(out_root, out_name)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", help="GOT-10k-style dataset folder (e.g. ../shared/data/dev)")
    p.add_argument("out", help="dataset folder to write (created)")
    p.add_argument("--sequences", required=True, help="comma-separated sequence names (at least two)")
    p.add_argument("--max-frames", type=int, default=300)
    p.add_argument("--period", type=int, default=60, help="frames between the starts of two occlusion events")
    p.add_argument("--first", type=int, default=20, help="frame of the first event")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", default="moving", choices=("moving", "wall"),
                   help="moving occluders (passes and rises) or static walls the target moves behind")
    args = p.parse_args(argv)
    names = [s for s in args.sequences.split(",") if s]
    if len(names) < 2:
        p.error("give at least two sequences: the occluders' texture comes from the others")
    rng = np.random.default_rng(args.seed)
    textures = textures_from(args.src, names, rng)
    for name in names:
        others = [t for other, ts in textures.items() if other != name for t in ts]
        path = write_occluded(args.src, name, args.out, others, rng, args.max_frames, args.period, args.first,
                              kind=args.kind)
        print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
