"""COCO video annotations (TAO-style) with RLE masks.

Layout written (every key COCO/TAO tools expect, plus a few of our own that
they ignore):

* ``images``: one per frame — ``id, file_name, width, height, video_id, frame_index`` (0-based);
* ``annotations``: one per present object per frame — ``id, image_id, category_id, bbox, area,
  iscrowd: 0, segmentation, track_id, video_id`` and ``score`` for machine frames; plus
  ``source`` (human / interpolated / tracker:<name>) and BURST's ``is_gt``;
  ``segmentation`` is compressed RLE (str counts) when a mask exists, otherwise the box as a
  polygon with ``box_only: true`` — a polygon so that ``COCO.loadRes`` and ``COCOeval`` (segm)
  accept every annotation, the flag so that reading it back does not invent a mask;
* ``categories``; ``videos`` (``id, name, width, height, length, fps``);
* ``tracks``: ``id, category_id, video_id`` plus ``object_id`` (the project's track id),
  colour/tracker/visible and ``absent_frames`` (absent frames are not annotations).

Reading also accepts plain COCO: without ``video_id`` all images form one
video, without ``frame_index`` frames follow image ids, without ``track_id``
each annotation is its own object; polygons and uncompressed RLE become
compressed RLE.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field as dc_field
from typing import Optional

from app.core.errors import FormatError
from app.core.formats import _frames
from app.core.formats._common import (UNKNOWN_MACHINE, absent_entries, area_of, categories_json, category_ids,
                                      frame_count, is_exported, known_category, object_extras, read_absent_entries,
                                      read_categories, read_object_extras, read_source, shown_box, assign_object_ids)
from app.core.formats.validate import MAX_FRAMES, Checker, field, item, load_json
from app.core.model import HUMAN, FrameAnnotation, TrackObject, VideoAnnotations, mask_bbox


# -- writing -----------------------------------------------------------------

def default_frame_file(va: VideoAnnotations, frame: int) -> str:
    return f"{va.name}/{frame + 1:08d}.jpg"


def frame_file(va: VideoAnnotations, frame: int) -> str:
    if va.frame_files is not None and frame < len(va.frame_files) and va.frame_files[frame]:
        return va.frame_files[frame]
    return default_frame_file(va, frame)


def to_json(videos: list[VideoAnnotations], path: str = "<memory>") -> dict:
    """The COCO dictionary for ``videos`` (``path`` only names the target in errors)."""
    cats = category_ids(videos)
    images, annotations, video_rows, tracks = [], [], [], []
    used_track_ids: set[int] = set()
    next_image_id = 1
    for video_id, va in enumerate(videos, start=1):
        video_rows.append({"id": video_id, "name": va.name, "width": va.width, "height": va.height,
                           "length": va.num_frames, "fps": float(va.fps)})
        first_image = next_image_id
        for frame in range(va.num_frames):
            images.append({"id": first_image + frame, "file_name": frame_file(va, frame), "width": va.width,
                           "height": va.height, "video_id": video_id, "frame_index": frame})
        next_image_id += va.num_frames
        for obj in va.objects:
            track_id = obj.track_id if obj.track_id not in used_track_ids else max(used_track_ids) + 1
            used_track_ids.add(track_id)
            tracks.append({"id": track_id, "category_id": cats[obj.category], "video_id": video_id,
                           "object_id": obj.track_id, "category": obj.category, **object_extras(obj),
                           "absent_frames": absent_entries(obj)})
            for frame in sorted(obj.frames):
                if not 0 <= frame < va.num_frames:
                    raise FormatError(path, f"video {va.name!r} object {obj.track_id}",
                                      f"annotation on frame {frame}, outside the video's {va.num_frames} frames")
                ann = obj.frames[frame]
                if not is_exported(ann):
                    continue
                annotations.append(_annotation_json(len(annotations) + 1, first_image + frame, cats[obj.category],
                                                    track_id, video_id, ann))
    return {"info": {"description": "exported by TrackAssist"}, "images": images, "annotations": annotations,
            "categories": categories_json(cats), "videos": video_rows, "tracks": tracks}


def _annotation_json(ann_id: int, image_id: int, category_id: int, track_id: int, video_id: int,
                     ann: FrameAnnotation) -> dict:
    box = shown_box(ann)
    x, y, w, h = box
    out = {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": [x, y, w, h],
           "area": area_of(ann, box), "iscrowd": 0, "track_id": track_id, "video_id": video_id,
           "source": ann.source, "is_gt": ann.is_human}
    if ann.mask_rle is not None:
        out["segmentation"] = {"size": list(ann.mask_rle["size"]), "counts": ann.mask_rle["counts"]}
    else:
        out["segmentation"] = [[x, y, x, y + h, x + w, y + h, x + w, y]]
        out["box_only"] = True
    if ann.score is not None:
        out["score"] = float(ann.score)
    return out


def write(videos: list[VideoAnnotations], path: str, video=None, write_frames: bool = False) -> None:
    """Write ``videos`` as one JSON file, atomically (``write_frames``: see ``_frames.write_json_with_frames``)."""
    _frames.write_json_with_frames(to_json, videos, path, video, write_frames)


# -- reading -----------------------------------------------------------------

@dataclass
class _Video:
    name: str
    width: Optional[int] = None
    height: Optional[int] = None
    length: Optional[int] = None
    fps: float = 25.0
    size_where: str = ""
    files: dict[int, str] = dc_field(default_factory=dict)          # frame index -> file name
    objects: dict[object, TrackObject] = dc_field(default_factory=dict)  # track key -> object
    object_ids: dict[object, int] = dc_field(default_factory=dict)


def read(path: str) -> list[VideoAnnotations]:
    """Read a COCO (or TAO-style video COCO) file into one VideoAnnotations per video."""
    path = os.fspath(path)
    c = Checker(path)
    data = c.obj(load_json(path), "the file")
    categories = read_categories(c, data)
    videos = _read_videos(c, data)
    images = _read_images(c, data, videos)
    tracks = _read_tracks(c, data, videos, categories)
    _read_annotations(c, data, videos, images, tracks, categories)
    return [_finish(c, vid, v) for vid, v in videos.items()]


def _read_videos(c: Checker, data: dict) -> dict[int, _Video]:
    videos: dict[int, _Video] = {}
    for i, row in enumerate(c.lst(c.get(data, "videos", "", []), "videos")):
        w = item("videos", i)
        row = c.obj(row, w)
        vid = c.integer(c.get(row, "id", w), field(w, "id"))
        if vid in videos:
            c.fail(field(w, "id"), f"duplicate video id {vid}")
        v = _Video(name=c.string(row.get("name", f"video{vid}"), field(w, "name"), 1000))
        if row.get("width") is not None or row.get("height") is not None:
            v.width, v.height = c.size(row.get("width"), row.get("height"), field(w, "width"), field(w, "height"))
            v.size_where = w
        if row.get("length") is not None:
            v.length = frame_count(c, row["length"], field(w, "length"))
        if row.get("fps") is not None:
            v.fps = c.number(row["fps"], field(w, "fps"), 1e-3, 1e4)
        videos[vid] = v
    return videos


def _read_images(c: Checker, data: dict, videos: dict[int, _Video]) -> dict[int, tuple[int, int]]:
    """image id -> (video id, frame index); fills each video's size and file names."""
    declared = bool(videos)
    rows = c.lst(c.get(data, "images", ""), "images")
    images: dict[int, tuple[int, int]] = {}
    unindexed: dict[int, list[tuple[int, str]]] = {}   # video id -> [(image id, file)] without frame_index
    for i, row in enumerate(rows):
        w = item("images", i)
        row = c.obj(row, w)
        image_id = c.integer(c.get(row, "id", w), field(w, "id"))
        if image_id in images:
            c.fail(field(w, "id"), f"duplicate image id {image_id}")
        file_name = c.string(c.get(row, "file_name", w), field(w, "file_name"), 4096)
        width, height = c.size(c.get(row, "width", w), c.get(row, "height", w), field(w, "width"), field(w, "height"))
        vid = c.integer(row.get("video_id", 0), field(w, "video_id"))
        if vid not in videos:
            if declared:
                c.fail(field(w, "video_id"), f"unknown video id {vid}")
            videos[vid] = _Video(name=f"video{vid}" if "video_id" in row else _stem(c.path))
        v = videos[vid]
        if v.width is None:
            v.width, v.height, v.size_where = width, height, w
        elif (v.width, v.height) != (width, height):
            c.fail(field(w, "width"), f"image is {width}x{height} but video {vid} is {v.width}x{v.height} "
                                      f"(from {v.size_where})")
        if row.get("frame_index") is None:
            unindexed.setdefault(vid, []).append((image_id, file_name))
            images[image_id] = (vid, -1)
            continue
        frame = c.integer(row["frame_index"], field(w, "frame_index"), 0, MAX_FRAMES - 1)
        if v.length is not None and frame >= v.length:
            c.fail(field(w, "frame_index"), f"frame {frame} is past the video's length {v.length}")
        if frame in v.files:
            c.fail(field(w, "frame_index"), f"video {vid} already has an image for frame {frame}")
        v.files[frame] = file_name
        images[image_id] = (vid, frame)
    for vid, rows_without in unindexed.items():
        v = videos[vid]
        if v.files:
            c.fail("images", f"video {vid} has images with and without frame_index")
        for frame, (image_id, file_name) in enumerate(sorted(rows_without)):
            v.files[frame] = file_name
            images[image_id] = (vid, frame)
    return images


def _read_tracks(c: Checker, data: dict, videos: dict[int, _Video], categories: dict[int, str]
                 ) -> dict[int, tuple[int, TrackObject]]:
    """track id -> (video id, object); absent frames already filled in."""
    tracks: dict[int, tuple[int, TrackObject]] = {}
    for i, row in enumerate(c.lst(c.get(data, "tracks", "", []), "tracks")):
        w = item("tracks", i)
        row = c.obj(row, w)
        tid = c.integer(c.get(row, "id", w), field(w, "id"))
        if tid in tracks:
            c.fail(field(w, "id"), f"duplicate track id {tid}")
        vid = c.integer(c.get(row, "video_id", w), field(w, "video_id"))
        if vid not in videos:
            c.fail(field(w, "video_id"), f"unknown video id {vid}")
        v = videos[vid]
        category = known_category(c, categories, c.get(row, "category_id", w), field(w, "category_id"))
        obj = TrackObject(track_id=0, category=category, **read_object_extras(c, row, w))
        wanted = c.integer(row.get("object_id", tid), field(w, "object_id"))
        if row.get("absent_frames") is not None:
            if v.width is None:
                c.fail(field(w, "absent_frames"), f"video {vid} has no images and no size")
            length = v.length if v.length is not None else max(v.files, default=-1) + 1
            obj.frames.update(read_absent_entries(c, row["absent_frames"], field(w, "absent_frames"), length,
                                                  v.width, v.height))
        v.objects[("track", tid)] = obj
        v.object_ids[("track", tid)] = wanted
        tracks[tid] = (vid, obj)
    return tracks


def _read_annotations(c: Checker, data: dict, videos: dict[int, _Video], images: dict[int, tuple[int, int]],
                      tracks: dict[int, tuple[int, TrackObject]], categories: dict[int, str]) -> None:
    declared_tracks = bool(tracks)
    for i, row in enumerate(c.lst(c.get(data, "annotations", "", []), "annotations")):
        w = item("annotations", i)
        row = c.obj(row, w)
        image_id = c.integer(c.get(row, "image_id", w), field(w, "image_id"))
        if image_id not in images:
            c.fail(field(w, "image_id"), f"unknown image id {image_id}")
        vid, frame = images[image_id]
        v = videos[vid]
        if row.get("video_id") is not None and c.integer(row["video_id"], field(w, "video_id")) != vid:
            c.fail(field(w, "video_id"), f"video {row['video_id']} but image {image_id} belongs to video {vid}")
        category = known_category(c, categories, c.get(row, "category_id", w), field(w, "category_id"))
        obj = _object_for(c, row, w, vid, v, tracks, declared_tracks, category, i)
        if frame in obj.frames and not obj.frames[frame].absent:
            c.fail(w, f"a second annotation of the same track on frame {frame}")
        if frame in obj.frames:
            c.fail(w, f"frame {frame} is listed in the track's absent_frames too")
        obj.frames[frame] = _frame_annotation(c, row, w, v.width, v.height)


def _object_for(c: Checker, row: dict, w: str, vid: int, v: _Video, tracks: dict, declared_tracks: bool,
                category: str, index: int) -> TrackObject:
    if row.get("track_id") is None:
        key: object = ("annotation", index)      # an unlinked instance is its own object
    else:
        tid = c.integer(row["track_id"], field(w, "track_id"))
        if declared_tracks:
            if tid not in tracks:
                c.fail(field(w, "track_id"), f"unknown track id {tid}")
            if tracks[tid][0] != vid:
                c.fail(field(w, "track_id"), f"track {tid} belongs to video {tracks[tid][0]}, the image to {vid}")
        key = ("track", tid)
    if key not in v.objects:
        v.objects[key] = TrackObject(track_id=0, category=category)
        v.object_ids[key] = key[1] if key[0] == "track" else 0
    return v.objects[key]


def _frame_annotation(c: Checker, row: dict, w: str, width: int, height: int) -> FrameAnnotation:
    box = c.box(row["bbox"], field(w, "bbox"), width, height) if row.get("bbox") is not None else None
    box_only = c.boolean(row.get("box_only", False), field(w, "box_only"))
    mask = None
    if row.get("segmentation") is not None and not box_only:
        mask = c.segmentation(row["segmentation"], field(w, "segmentation"), width, height)
    if box is None and mask is None:
        c.fail(w, "neither a bbox nor a segmentation")
    if box is None:
        box = mask_bbox(mask)
    score = c.score(row.get("score"), field(w, "score"))
    if row.get("source") is None and row.get("is_gt") is not None:   # BURST: is_gt without our source
        source = HUMAN if c.boolean(row["is_gt"], field(w, "is_gt")) else UNKNOWN_MACHINE
    else:
        source = read_source(c, row.get("source"), field(w, "source"), score)
    return FrameAnnotation(box=box, mask_rle=mask, absent=False, score=score, source=source)


def _finish(c: Checker, vid: int, v: _Video) -> VideoAnnotations:
    if v.width is None:
        c.fail(f"videos (id {vid})", "video has no images and no width/height")
    last = max((f for obj in v.objects.values() for f in obj.frames), default=-1)
    num_frames = max(v.length or 0, max(v.files, default=-1) + 1, last + 1)
    if v.length is not None and last >= v.length:
        c.fail(f"tracks (video {vid})", f"absent frame {last} is past the video's length {v.length}")
    files = [v.files.get(f) for f in range(num_frames)]
    objects = assign_object_ids([(v.object_ids[key], obj) for key, obj in v.objects.items()])
    for obj in objects:
        obj.frames = dict(sorted(obj.frames.items()))
    return VideoAnnotations(name=v.name, width=v.width, height=v.height, num_frames=num_frames, objects=objects,
                            frame_files=files if all(f is not None for f in files) and files else None, fps=v.fps)


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0] or "video"
