"""GOT-10k sequence folders, and the GOT-10k toolkit's results layout.

A split folder (``root/val``) holds ``list.txt`` (one sequence name a line)
and one folder per sequence::

    <seq>/00000001.jpg ...        frames (only with write_frames=True)
    <seq>/groundtruth.txt         x,y,w,h per frame (%.4f); "nan,nan,nan,nan" = no box
    <seq>/absence.label           1 = object absent on that frame
    <seq>/cover.label             0..8 visible eighths (8 when present, 0 when absent/unannotated)
    <seq>/cut_by_image.label      1 = the box runs past the image border
    <seq>/meta_info.ini           header line, then "key: value" lines
    <seq>/masks/00000001.png      0/255 masks, for frames that have one
    <seq>/trackassist.json        ours: video name, track id, per-frame sources and scores

GOT-10k has one object per sequence: a video with several objects becomes
one sequence per object, named ``<video>_<track_id>`` (a single object keeps
the video's name).  Reading a split folder regroups sequences whose
``trackassist.json`` names the same video.

Writes are atomic file by file.  A crash mid-export leaves every file either
complete or absent (old content kept), but a sequence folder may miss some of
its files; ``list.txt`` is written last, so a new sequence only appears in it
once all of its files are there.
"""
from __future__ import annotations

import json
import math
import os
import re
from typing import Optional, Sequence

import cv2
import numpy as np

from app.core.errors import FormatError
from app.core.formats import _atomic, _frames
from app.core.formats._common import assign_object_ids, read_object_extras
from app.core.formats.validate import (MAX_FRAMES, Checker, check_box_in_image, item, load_json,
                                       parse_number_text)
from app.core.model import HUMAN, Box, FrameAnnotation, TrackObject, VideoAnnotations, decode_mask, encode_mask, \
    mask_bbox

GROUNDTRUTH = "groundtruth.txt"
LIST = "list.txt"
SIDECAR = "trackassist.json"
MASKS = "masks"
META = "meta_info.ini"
_NUMBERED = re.compile(r"^(\d{8})\.(jpg|png)$")
_RESOLUTION = re.compile(r"^\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def frame_name(frame: int, ext: str = "jpg") -> str:
    """GOT-10k numbers frames from 1: frame index 0 is ``00000001.jpg``."""
    return f"{frame + 1:08d}.{ext}"


def sequence_name(va: VideoAnnotations, obj: TrackObject) -> str:
    base = re.sub(r"[\\/\x00-\x1f]", "_", va.name).strip(". ") or "video"
    return base if len(va.objects) == 1 else f"{base}_{obj.track_id}"


# -- writing -----------------------------------------------------------------

def write_sequence(va: VideoAnnotations, out_dir: str, video=None, write_frames: bool = False) -> list[str]:
    """Write one sequence per object of ``va`` into the split folder ``out_dir``; returns the sequence names.

    ``video`` (a VideoSource, ``read(i)`` -> RGB) is needed with ``write_frames``.
    """
    out_dir = os.fspath(out_dir)
    _frames.check_one_video([va], video, write_frames, out_dir)
    # Everything is computed before the first file is written: a bad annotation writes nothing.
    planned = [(sequence_name(va, obj), _sequence_files(va, obj, out_dir)) for obj in va.objects]
    for name, (texts, masks) in planned:
        seq_dir = os.path.join(out_dir, name)
        os.makedirs(seq_dir, exist_ok=True)
        if write_frames:
            _frames.write_frames_to(video, [os.path.join(seq_dir, frame_name(f)) for f in range(va.num_frames)])
        for frame, rle in masks.items():
            _frames.write_image(os.path.join(seq_dir, MASKS, frame_name(frame, "png")),
                                decode_mask(rle).astype(np.uint8) * 255, ".png")
        _remove_stale(seq_dir, va.num_frames, set(masks))
        if write_frames or masks:
            _atomic.flush_all()   # the images are on disk before the files that describe them
        for file_name, text in texts.items():   # groundtruth.txt last (dict order), the file readers check first
            _atomic.write_text(os.path.join(seq_dir, file_name), text)
    _update_list(out_dir, [name for name, _ in planned])
    return [name for name, _ in planned]


def write(videos: list[VideoAnnotations], out_dir: str, video=None, write_frames: bool = False) -> list[str]:
    """Every object of every video as a sequence in the split folder ``out_dir``; returns the sequence names."""
    _frames.check_one_video(videos, video, write_frames, os.fspath(out_dir))
    names: list[str] = []
    for va in videos:
        names += write_sequence(va, out_dir, video, write_frames)
    return names


def _sequence_files(va: VideoAnnotations, obj: TrackObject, out_dir: str) -> tuple[dict[str, str], dict[int, dict]]:
    n = va.num_frames
    gt, absence, cover, cut, sources, scores = [], [], [], [], [None] * n, [None] * n
    masks: dict[int, dict] = {}
    for frame in obj.frames:
        if not 0 <= frame < n:
            raise FormatError(out_dir, f"video {va.name!r} object {obj.track_id}",
                              f"annotation on frame {frame}, outside the video's {n} frames")
    for frame in range(n):
        ann = obj.frames.get(frame)
        box = None if ann is None else ann.box
        if ann is not None and box is None and ann.mask_rle is not None and not ann.absent:
            box = mask_bbox(ann.mask_rle)
        gt.append("nan,nan,nan,nan" if box is None else "%.4f,%.4f,%.4f,%.4f" % tuple(box))
        absent = ann is not None and ann.absent
        absence.append("1" if absent else "0")
        cover.append("8" if box is not None and not absent else "0")
        cut.append("1" if box is not None and _cut_by_image(box, va.width, va.height) else "0")
        if ann is not None:
            sources[frame], scores[frame] = ann.source, ann.score
            if ann.mask_rle is not None and not ann.absent:
                masks[frame] = ann.mask_rle
    sidecar = {"format": "trackassist-got10k", "version": 1, "video": va.name, "track_id": obj.track_id,
               "category": obj.category, "color": obj.color, "tracker": obj.tracker, "visible": obj.visible,
               "fps": float(va.fps), "width": va.width, "height": va.height, "num_frames": n,
               "frame_files": va.frame_files, "sources": sources, "scores": scores}
    category = re.sub(r"[\r\n]+", " ", obj.category) or "object"
    meta = ("[METAINFO]\n"
            f"object_class: {category}\nmotion_class: unknown\nmajor_class: unknown\nroot_class: unknown\n"
            f"motion_adverb: unknown\nresolution: ({va.width}, {va.height})\nanno_fps: {va.fps:g}Hz\n")
    texts = {"absence.label": _lines(absence), "cover.label": _lines(cover), "cut_by_image.label": _lines(cut),
             META: meta, SIDECAR: json.dumps(sidecar, allow_nan=False), GROUNDTRUTH: _lines(gt)}
    return texts, masks


def _lines(values: list[str]) -> str:
    return "".join(v + "\n" for v in values)


def _cut_by_image(box: Sequence[float], width: int, height: int) -> bool:
    x, y, w, h = box
    return x < 0 or y < 0 or x + w > width or y + h > height


def _remove_stale(seq_dir: str, num_frames: int, mask_frames: set[int]) -> None:
    """Drop numbered frames past the end and masks of frames that no longer have one (a re-export)."""
    for name in os.listdir(seq_dir):
        m = _NUMBERED.match(name)
        if m and m.group(2) == "jpg" and int(m.group(1)) > num_frames:
            os.unlink(os.path.join(seq_dir, name))
    mask_dir = os.path.join(seq_dir, MASKS)
    if os.path.isdir(mask_dir):
        for name in os.listdir(mask_dir):
            m = _NUMBERED.match(name)
            if m and m.group(2) == "png" and int(m.group(1)) - 1 not in mask_frames:
                os.unlink(os.path.join(mask_dir, name))


def _update_list(out_dir: str, names: list[str]) -> None:
    path = os.path.join(out_dir, LIST)
    existing: list[str] = []
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            existing = [line.strip() for line in f if line.strip()]
    merged = existing + [n for n in names if n not in existing]
    _atomic.write_text(path, _lines(merged))


def write_results(out_root: str, tracker_name: str, seq_name: str, boxes, times) -> str:
    """Tracker output in the toolkit's layout: ``<tracker>/<seq>/<seq>_001.txt`` and ``<seq>_time.txt``.

    ``boxes``: one ``(x, y, w, h)`` (or None = no box, written as nan) per frame; ``times``: seconds per frame.
    Returns the path of the boxes file.
    """
    for what, value in (("tracker name", tracker_name), ("sequence name", seq_name)):
        if not value or re.search(r"[\\/]", value) or value in (".", ".."):
            raise ValueError(f"{what} {value!r} is not a single folder name")
    rows = [(math.nan,) * 4 if b is None else tuple(float(v) for v in b) for b in boxes]
    if any(len(r) != 4 for r in rows):
        raise ValueError("every box needs 4 values")
    times = [float(t) for t in times]
    if len(times) != len(rows):
        raise ValueError(f"{len(rows)} boxes but {len(times)} times")
    seq_dir = os.path.join(os.fspath(out_root), tracker_name, seq_name)
    record = os.path.join(seq_dir, f"{seq_name}_001.txt")
    _atomic.write_text(record, _lines(["%.3f,%.3f,%.3f,%.3f" % r for r in rows]))
    _atomic.write_text(os.path.join(seq_dir, f"{seq_name}_time.txt"), _lines(["%.8f" % t for t in times]))
    return record


# -- reading -----------------------------------------------------------------

def read(path: str) -> list[VideoAnnotations]:
    """A sequence folder (or its groundtruth.txt) -> [one video]; a split folder with list.txt -> all its videos."""
    path = os.fspath(path)
    if os.path.isfile(path) and os.path.basename(path) == GROUNDTRUTH:
        path = os.path.dirname(path) or "."
    if os.path.isfile(os.path.join(path, GROUNDTRUTH)):
        return [read_sequence(path)]
    list_path = os.path.join(path, LIST)
    if not os.path.isfile(list_path):
        raise FormatError(path, "", f"not a GOT-10k sequence folder ({GROUNDTRUTH}) nor a split folder ({LIST})")
    c = Checker(list_path)
    grouped: dict[str, tuple[VideoAnnotations, str]] = {}
    videos: list[VideoAnnotations] = []
    for line_no, name in enumerate(_read_lines(c), start=1):
        name = name.strip()
        if not name:
            continue
        seq_dir = os.path.join(path, name)
        if re.search(r"[\\/]", name) or not os.path.isfile(os.path.join(seq_dir, GROUNDTRUTH)):
            c.fail(f"line {line_no}", f"sequence {name!r} has no folder with {GROUNDTRUTH}")
        va, from_sidecar = _read_sequence(seq_dir)
        if not from_sidecar or va.name not in grouped:
            videos.append(va)
            if from_sidecar:
                grouped[va.name] = (va, name)
            continue
        first, first_seq = grouped[va.name]
        if (first.width, first.height, first.num_frames) != (va.width, va.height, va.num_frames):
            c.fail(f"line {line_no}", f"sequences {first_seq!r} and {name!r} are both video {va.name!r} "
                                      f"but differ in size or length")
        first.objects.extend(va.objects)
    for va in videos:
        va.objects = assign_object_ids([(obj.track_id, obj) for obj in va.objects])
    return videos


def read_sequence(path: str) -> VideoAnnotations:
    """One GOT-10k sequence folder -> a VideoAnnotations with one object."""
    return _read_sequence(os.fspath(path))[0]


def _read_sequence(seq_dir: str) -> tuple[VideoAnnotations, bool]:
    gt_path = os.path.join(seq_dir, GROUNDTRUTH)
    c = Checker(gt_path)
    boxes = _parse_groundtruth(c)
    n = len(boxes)
    images = sorted(f for f in _listdir(seq_dir) if os.path.splitext(f)[1].lower() in (".jpg", ".jpeg", ".png"))
    if images and len(images) != n:
        c.fail("", f"{n} lines but {len(images)} frames in {seq_dir}")
    absence = _read_label(seq_dir, "absence.label", n, 1)
    _read_label(seq_dir, "cover.label", n, 8)          # checked, not kept: the model has no cover
    _read_label(seq_dir, "cut_by_image.label", n, 1)
    meta = _read_meta(seq_dir)
    sidecar = _read_sidecar(seq_dir, n)
    masks = _read_masks(seq_dir, n)
    width, height = _frame_size(c, seq_dir, sidecar, meta, images, masks, boxes)
    obj = TrackObject(track_id=sidecar.get("track_id", 1),
                      category=sidecar.get("category") or meta.get("object_class") or "object",
                      **sidecar.get("extras", {}))
    sources, scores = sidecar.get("sources", [None] * n), sidecar.get("scores", [None] * n)
    for frame, box in enumerate(boxes):
        if box is not None:
            check_box_in_image(c, box, f"line {frame + 1}", width, height)
        absent = absence is not None and absence[frame] == 1
        mask_path = masks.get(frame)
        mask = None
        if mask_path is not None and not absent:
            mask = encode_mask(_load_mask(mask_path, width, height))
            box = box if box is not None else mask_bbox(mask)
        if box is None and not absent:
            continue
        obj.frames[frame] = FrameAnnotation(box=box, mask_rle=mask, absent=absent, score=scores[frame],
                                            source=sources[frame] or HUMAN)
    files = sidecar.get("frame_files", images or None)
    va = VideoAnnotations(name=sidecar.get("video") or os.path.basename(os.path.normpath(seq_dir)),
                          width=width, height=height, num_frames=n, objects=[obj], frame_files=files,
                          fps=sidecar.get("fps", meta.get("fps", 25.0)))
    return va, "video" in sidecar


def _read_lines(c: Checker) -> list[str]:
    try:
        size = os.path.getsize(c.path)
        if size > 64 * MAX_FRAMES:
            c.fail("", f"file of {size} bytes is too large")
        with open(c.path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        c.fail("", f"cannot read: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        c.fail(f"byte {exc.start}", "not UTF-8 text")
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _parse_groundtruth(c: Checker) -> list[Optional[Box]]:
    lines = _read_lines(c)
    if not lines:
        c.fail("", "no boxes")
    if len(lines) > MAX_FRAMES:
        c.fail("", f"{len(lines)} lines is more than {MAX_FRAMES} frames")
    boxes: list[Optional[Box]] = []
    for i, line in enumerate(lines):
        where = f"line {i + 1}"
        parts = [p for p in re.split(r"[,\s]+", line.strip()) if p]
        if len(parts) != 4:
            c.fail(where, f"expected 4 comma-separated numbers x,y,w,h, got {len(parts)} values")
        values = [parse_number_text(c, p, where, allow_nan=True) for p in parts]
        nans = sum(math.isnan(v) for v in values)
        if nans == 4:
            boxes.append(None)
            continue
        if nans:
            c.fail(where, "some values are nan and some are not")
        if values[2] < 0 or values[3] < 0:
            c.fail(where, f"negative width or height in {line.strip()!r}")
        boxes.append(tuple(values))  # type: ignore[arg-type]
    return boxes


def _read_label(seq_dir: str, name: str, n: int, top: int) -> Optional[list[int]]:
    path = os.path.join(seq_dir, name)
    if not os.path.exists(path):
        return None
    c = Checker(path)
    lines = _read_lines(c)
    if len(lines) != n:
        c.fail("", f"{len(lines)} lines but {GROUNDTRUTH} has {n}")
    out = []
    for i, line in enumerate(lines):
        value = parse_number_text(c, line, f"line {i + 1}")
        if value != int(value) or not 0 <= value <= top:
            c.fail(f"line {i + 1}", f"{line.strip()!r} is not an integer in 0..{top}")
        out.append(int(value))
    return out


def _read_meta(seq_dir: str) -> dict:
    path = os.path.join(seq_dir, META)
    if not os.path.exists(path):
        return {}
    c = Checker(path)
    meta: dict = {}
    for i, line in enumerate(_read_lines(c)[1:], start=2):   # the first line is a header
        key, sep, value = line.partition(":")
        if not sep:
            continue  # the toolkit would choke on it; we only need two keys
        key, value = key.strip(), value.strip()
        if key == "object_class" and value:
            meta["object_class"] = value[:200]
        elif key == "resolution" and value:
            m = _RESOLUTION.match(value)
            if not m:
                c.fail(f"line {i}", f"resolution {value!r} is not '(width, height)'")
            meta["resolution"] = c.size(int(m.group(1)), int(m.group(2)), f"line {i}", f"line {i}")
        elif key == "anno_fps" and value:
            try:
                fps = float(value.lower().removesuffix("hz"))
            except ValueError:
                continue
            if math.isfinite(fps) and 0 < fps <= 1e4:
                meta["fps"] = fps
    return meta


def _read_sidecar(seq_dir: str, n: int) -> dict:
    path = os.path.join(seq_dir, SIDECAR)
    if not os.path.exists(path):
        return {}
    c = Checker(path)
    data = c.obj(load_json(path), "the file")
    out: dict = {"extras": read_object_extras(c, data, "")}
    if data.get("num_frames") is not None and c.integer(data["num_frames"], "num_frames", 0, MAX_FRAMES) != n:
        c.fail("num_frames", f"is {data['num_frames']} but {GROUNDTRUTH} has {n} lines")
    if data.get("video") is not None:
        out["video"] = c.string(data["video"], "video", 1000)
    if data.get("track_id") is not None:
        out["track_id"] = c.integer(data["track_id"], "track_id", 1)
    if data.get("category") is not None:
        out["category"] = c.string(data["category"], "category", 200)
    if data.get("fps") is not None:
        out["fps"] = c.number(data["fps"], "fps", 1e-3, 1e4)
    if data.get("width") is not None or data.get("height") is not None:
        out["size"] = c.size(data.get("width"), data.get("height"), "width", "height")
    if data.get("frame_files") is not None:
        out["frame_files"] = [c.string(f, item("frame_files", i))
                              for i, f in enumerate(c.lst(data["frame_files"], "frame_files", n))]
    if data.get("sources") is not None:
        out["sources"] = [None if s is None else c.source(s, item("sources", i))
                          for i, s in enumerate(c.lst(data["sources"], "sources", n))]
    if data.get("scores") is not None:
        out["scores"] = [c.score(s, item("scores", i)) for i, s in enumerate(c.lst(data["scores"], "scores", n))]
    return out


def _read_masks(seq_dir: str, n: int) -> dict[int, str]:
    mask_dir = os.path.join(seq_dir, MASKS)
    out: dict[int, str] = {}
    for name in _listdir(mask_dir):
        m = _NUMBERED.match(name)
        if not m or m.group(2) != "png":
            continue
        frame = int(m.group(1)) - 1
        if not 0 <= frame < n:
            raise FormatError(os.path.join(mask_dir, name), "", f"frame number outside 1..{n}")
        out[frame] = os.path.join(mask_dir, name)
    return out


def _load_mask(path: str, width: int, height: int) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FormatError(path, "", "not a readable PNG")
    if image.shape != (height, width):
        raise FormatError(path, "", f"mask is {image.shape[1]}x{image.shape[0]} but the frames are {width}x{height}")
    return image > 127


def _frame_size(c: Checker, seq_dir: str, sidecar: dict, meta: dict, images: list[str], masks: dict[int, str],
                boxes: list[Optional[Box]]) -> tuple[int, int]:
    """Frame size from (in order) our sidecar, meta_info.ini, the first frame, the first mask, the boxes' extent."""
    if "size" in sidecar:
        return sidecar["size"]
    if "resolution" in meta:
        return meta["resolution"]
    for path in [os.path.join(seq_dir, f) for f in images[:1]] + sorted(masks.values())[:1]:
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise FormatError(path, "", "not a readable image")
        return image.shape[1], image.shape[0]
    right = max((b[0] + b[2] for b in boxes if b is not None), default=1.0)
    bottom = max((b[1] + b[3] for b in boxes if b is not None), default=1.0)
    return c.size(max(1, math.ceil(right)), max(1, math.ceil(bottom)), "the boxes' extent", "the boxes' extent")


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
