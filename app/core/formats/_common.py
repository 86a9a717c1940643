"""Pieces the JSON formats (COCO, YouTube-VIS) share: categories, object extras, absent frames.

Absent frames are not annotations in either format, so they travel in an
extra list on the track/instance, ``absent_frames: [{frame_index, source,
score?, bbox?}]``; tools that do not know the field ignore it.
"""
from __future__ import annotations

from typing import Optional

from app.core.model import HUMAN, Box, FrameAnnotation, TrackObject, VideoAnnotations, mask_area, mask_bbox
from app.core.formats.validate import MAX_FRAMES, Checker, field, item

# Source given to imported annotations whose file says they came from a machine but not which one.
UNKNOWN_MACHINE = "tracker:unknown"


def category_ids(videos: list[VideoAnnotations]) -> dict[str, int]:
    """Category name -> id (1-based, sorted by name so the ids do not depend on object order)."""
    names = sorted({obj.category for va in videos for obj in va.objects})
    return {name: i + 1 for i, name in enumerate(names)}


def categories_json(ids: dict[str, int]) -> list[dict]:
    return [{"id": cid, "name": name, "supercategory": "object"} for name, cid in ids.items()]


def read_categories(c: Checker, data: dict) -> dict[int, str]:
    out: dict[int, str] = {}
    for i, cat in enumerate(c.lst(c.get(data, "categories", "", []), "categories")):
        w = item("categories", i)
        cat = c.obj(cat, w)
        cid = c.integer(c.get(cat, "id", w), field(w, "id"))
        if cid in out:
            c.fail(field(w, "id"), f"duplicate category id {cid}")
        out[cid] = c.string(c.get(cat, "name", w), field(w, "name"), 200)
    return out


def known_category(c: Checker, categories: dict[int, str], value, where: str) -> str:
    cid = c.integer(value, where)
    if cid not in categories:
        c.fail(where, f"unknown category id {cid}")
    return categories[cid]


def object_extras(obj: TrackObject) -> dict:
    return {"color": obj.color, "tracker": obj.tracker, "visible": obj.visible}


def read_object_extras(c: Checker, d: dict, where: str) -> dict:
    """The TrackObject fields a file may carry beyond the format's own."""
    out = {}
    if d.get("color") is not None:
        out["color"] = c.string(d["color"], field(where, "color"), 64)
    if d.get("tracker") is not None:
        out["tracker"] = c.string(d["tracker"], field(where, "tracker"), 200)
    if d.get("visible") is not None:
        out["visible"] = c.boolean(d["visible"], field(where, "visible"))
    return out


def shown_box(ann: FrameAnnotation) -> Optional[Box]:
    """The box a present annotation is exported with (the mask's box when only a mask is stored)."""
    if ann.box is not None:
        return tuple(float(v) for v in ann.box)  # type: ignore[return-value]
    if ann.mask_rle is not None:
        return mask_bbox(ann.mask_rle)
    return None


def area_of(ann: FrameAnnotation, box: Box) -> float:
    return mask_area(ann.mask_rle) if ann.mask_rle is not None else float(box[2] * box[3])


def is_exported(ann: FrameAnnotation) -> bool:
    """A frame that becomes a format's annotation: present, with a box or a mask."""
    return not ann.absent and (ann.box is not None or ann.mask_rle is not None)


def absent_entries(obj: TrackObject) -> list[dict]:
    out = []
    for frame in sorted(obj.frames):
        ann = obj.frames[frame]
        if not ann.absent:
            continue
        entry: dict = {"frame_index": frame, "source": ann.source}
        if ann.score is not None:
            entry["score"] = float(ann.score)
        if ann.box is not None:
            entry["bbox"] = [float(v) for v in ann.box]
        out.append(entry)
    return out


def read_absent_entries(c: Checker, value, where: str, num_frames: int, width: int, height: int
                        ) -> dict[int, FrameAnnotation]:
    out: dict[int, FrameAnnotation] = {}
    for i, entry in enumerate(c.lst(value, where)):
        w = item(where, i)
        entry = c.obj(entry, w)
        frame = c.integer(c.get(entry, "frame_index", w), field(w, "frame_index"), 0, max(0, num_frames - 1))
        if frame in out:
            c.fail(field(w, "frame_index"), f"frame {frame} listed twice")
        box = c.box(entry["bbox"], field(w, "bbox"), width, height) if entry.get("bbox") is not None else None
        out[frame] = FrameAnnotation(box=box, absent=True,
                                     score=c.score(entry.get("score"), field(w, "score")),
                                     source=c.source(entry.get("source", HUMAN), field(w, "source")))
    return out


def read_source(c: Checker, value, where: str, score: Optional[float]) -> str:
    """A frame's source; files without one get 'human', or 'tracker:unknown' when they carry a score."""
    if value is not None:
        return c.source(value, where)
    return UNKNOWN_MACHINE if score is not None else HUMAN


def frame_count(c: Checker, value, where: str) -> int:
    return c.integer(value, where, 0, MAX_FRAMES)


def assign_object_ids(wanted: list[tuple[int, TrackObject]]) -> list[TrackObject]:
    """The file's ids where they are positive and unique within the video, fresh ones otherwise."""
    taken: set[int] = set()
    ceiling = max((wid for wid, _ in wanted), default=0)
    out = []
    for wid, obj in wanted:
        if wid <= 0 or wid in taken:
            ceiling += 1
            wid = ceiling
        taken.add(wid)
        obj.track_id = wid
        out.append(obj)
    return out
