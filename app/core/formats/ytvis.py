"""YouTube-VIS: one annotation per object per video, with per-frame lists.

Written layout: ``videos[{id, name, width, height, length, file_names, fps}]``,
``categories``, and ``annotations[{id, video_id, category_id, iscrowd, width,
height, segmentations, bboxes, areas}]`` whose lists have one entry per frame
(null where the object has no annotation or is absent).  Box-only frames have
a null segmentation but a bbox.  Our own extra fields, which YouTube-VIS
tools ignore: ``track_id`` (the project's id), ``sources`` and ``scores``
(per frame), ``absent_frames``, colour/tracker/visible.

Reading accepts compressed (str) and uncompressed (list) RLE, and polygons.
"""
from __future__ import annotations

import os
from typing import Optional

from app.core.formats import _frames
from app.core.formats._common import (absent_entries, area_of, categories_json, category_ids,
                                      frame_count, is_exported, known_category, object_extras, read_absent_entries,
                                      read_categories, read_object_extras, read_source, shown_box, assign_object_ids)
from app.core.formats.validate import Checker, field, item, load_json
from app.core.model import FrameAnnotation, TrackObject, VideoAnnotations, mask_bbox
from app.core.errors import FormatError


def default_file_names(va: VideoAnnotations) -> list[str]:
    if va.frame_files is not None and len(va.frame_files) == va.num_frames and all(va.frame_files):
        return list(va.frame_files)
    return [f"{va.name}/{i:05d}.jpg" for i in range(va.num_frames)]


def to_json(videos: list[VideoAnnotations], path: str = "<memory>") -> dict:
    cats = category_ids(videos)
    video_rows, annotations = [], []
    for video_id, va in enumerate(videos, start=1):
        n = va.num_frames
        video_rows.append({"id": video_id, "name": va.name, "width": va.width, "height": va.height, "length": n,
                           "file_names": default_file_names(va), "fps": float(va.fps)})
        for obj in va.objects:
            segs: list = [None] * n
            boxes: list = [None] * n
            areas: list = [None] * n
            sources: list = [None] * n
            scores: list = [None] * n
            for frame, ann in obj.frames.items():
                if not 0 <= frame < n:
                    raise FormatError(path, f"video {va.name!r} object {obj.track_id}",
                                      f"annotation on frame {frame}, outside the video's {n} frames")
                if not is_exported(ann):
                    continue
                box = shown_box(ann)
                boxes[frame] = list(box)
                areas[frame] = area_of(ann, box)
                if ann.mask_rle is not None:
                    segs[frame] = {"size": list(ann.mask_rle["size"]), "counts": ann.mask_rle["counts"]}
                sources[frame] = ann.source
                scores[frame] = None if ann.score is None else float(ann.score)
            annotations.append({"id": len(annotations) + 1, "video_id": video_id, "category_id": cats[obj.category],
                                "iscrowd": 0, "width": va.width, "height": va.height, "segmentations": segs,
                                "bboxes": boxes, "areas": areas, "track_id": obj.track_id, "category": obj.category,
                                **object_extras(obj), "sources": sources, "scores": scores,
                                "absent_frames": absent_entries(obj)})
    return {"info": {"description": "exported by TrackAssist"}, "videos": video_rows,
            "categories": categories_json(cats), "annotations": annotations}


def write(videos: list[VideoAnnotations], path: str, video=None, write_frames: bool = False) -> None:
    """Write ``videos`` as one JSON file, atomically (``write_frames``: see ``_frames.write_json_with_frames``)."""
    _frames.write_json_with_frames(to_json, videos, path, video, write_frames)


# -- reading -----------------------------------------------------------------

def read(path: str) -> list[VideoAnnotations]:
    path = os.fspath(path)
    c = Checker(path)
    data = c.obj(load_json(path), "the file")
    categories = read_categories(c, data)
    videos: dict[int, VideoAnnotations] = {}
    for i, row in enumerate(c.lst(c.get(data, "videos", ""), "videos")):
        vid, va = _read_video(c, row, item("videos", i))
        if vid in videos:
            c.fail(field(item("videos", i), "id"), f"duplicate video id {vid}")
        videos[vid] = va
    wanted_ids: dict[int, list[tuple[int, TrackObject]]] = {vid: [] for vid in videos}
    for i, row in enumerate(c.lst(c.get(data, "annotations", "", []), "annotations")):
        w = item("annotations", i)
        row = c.obj(row, w)
        vid = c.integer(c.get(row, "video_id", w), field(w, "video_id"))
        if vid not in videos:
            c.fail(field(w, "video_id"), f"unknown video id {vid}")
        obj = _read_instance(c, row, w, videos[vid], categories)
        wanted = c.integer(row.get("track_id", row.get("id", i + 1)), field(w, "track_id"))
        wanted_ids[vid].append((wanted, obj))
    for vid, va in videos.items():
        va.objects = assign_object_ids(wanted_ids[vid])
    return list(videos.values())


def _read_video(c: Checker, row, w: str) -> tuple[int, VideoAnnotations]:
    row = c.obj(row, w)
    vid = c.integer(c.get(row, "id", w), field(w, "id"))
    width, height = c.size(c.get(row, "width", w), c.get(row, "height", w), field(w, "width"), field(w, "height"))
    files: Optional[list[str]] = None
    if row.get("file_names") is not None:
        raw = c.lst(row["file_names"], field(w, "file_names"))
        files = [c.string(f, item(field(w, "file_names"), j)) for j, f in enumerate(raw)]
    if row.get("length") is not None:
        length = frame_count(c, row["length"], field(w, "length"))
        if files is not None and len(files) != length:
            c.fail(field(w, "file_names"), f"has {len(files)} entries but length is {length}")
    elif files is not None:
        length = len(files)
    else:
        c.fail(w, "neither length nor file_names")
    default_name = os.path.dirname(files[0]) if files and os.path.dirname(files[0]) else f"video{vid}"
    name = c.string(row.get("name", default_name), field(w, "name"), 1000)
    fps = c.number(row["fps"], field(w, "fps"), 1e-3, 1e4) if row.get("fps") is not None else 25.0
    return vid, VideoAnnotations(name=name, width=width, height=height, num_frames=length, objects=[],
                                 frame_files=files, fps=fps)


def _per_frame(c: Checker, row: dict, key: str, w: str, n: int) -> list:
    value = row.get(key)
    return [None] * n if value is None else c.lst(value, field(w, key), n)


def _read_instance(c: Checker, row: dict, w: str, va: VideoAnnotations, categories: dict[int, str]) -> TrackObject:
    n = va.num_frames
    category = known_category(c, categories, c.get(row, "category_id", w), field(w, "category_id"))
    if row.get("segmentations") is None and row.get("bboxes") is None:
        c.fail(w, "neither segmentations nor bboxes")
    segs = _per_frame(c, row, "segmentations", w, n)
    boxes = _per_frame(c, row, "bboxes", w, n)
    areas = _per_frame(c, row, "areas", w, n)
    sources = _per_frame(c, row, "sources", w, n)
    scores = _per_frame(c, row, "scores", w, n)
    if row.get("iscrowd") is not None:
        c.integer(row["iscrowd"], field(w, "iscrowd"), 0, 1)
    obj = TrackObject(track_id=0, category=category, **read_object_extras(c, row, w))
    if row.get("absent_frames") is not None:
        obj.frames.update(read_absent_entries(c, row["absent_frames"], field(w, "absent_frames"), n,
                                              va.width, va.height))
    for frame in range(n):
        if areas[frame] is not None:
            c.number(areas[frame], item(field(w, "areas"), frame), 0.0, 1e12)
        if segs[frame] is None and boxes[frame] is None:
            continue
        if frame in obj.frames:
            c.fail(item(field(w, "segmentations"), frame), "frame is listed in absent_frames too")
        mask = None
        if segs[frame] is not None:
            mask = c.segmentation(segs[frame], item(field(w, "segmentations"), frame), va.width, va.height)
        box = (c.box(boxes[frame], item(field(w, "bboxes"), frame), va.width, va.height)
               if boxes[frame] is not None else mask_bbox(mask))
        score = c.score(scores[frame], item(field(w, "scores"), frame))
        source = read_source(c, sources[frame], item(field(w, "sources"), frame), score)
        obj.frames[frame] = FrameAnnotation(box=box, mask_rle=mask, score=score, source=source)
    obj.frames = dict(sorted(obj.frames.items()))
    return obj

