"""``trackassist export`` and ``trackassist import``: a project to and from annotation files.

    trackassist export PROJECT --format coco|got10k|youtube-vis --out PATH [--frames] [--objects 1,2]
    trackassist import FILE_OR_DIR --format coco|got10k|youtube-vis --project PROJECT [--video VIDEO]

Export takes the frame size and count from the project's video (or, for a
project made by an import without a video, from what that import recorded).
For GOT-10k ``--out`` is the split folder (``root/val``) that gets
``list.txt`` and one sequence per object; for the JSON formats it is the
file.  ``--frames`` also writes the video's frames as JPEGs.

Import reads and checks the whole file first, so a malformed file exits with
status 2 and a one-line message and leaves the project untouched (it is not
even created).  Imported objects are added as new objects, in one
transaction (one undo step).  ``--video`` picks the file's video by name when
the file holds several; given as a path to a video file or folder, it also
becomes the video of a new project.
"""
from __future__ import annotations

import os
import sys

from app.core import formats
from app.core.errors import FormatError, TrackAssistError, VideoError
from app.core.model import VideoAnnotations
from app.core.store import ProjectStore

# Meta keys an import writes when the project has no video, so that it can still be exported.
SIZE_META = ("video_name", "video_width", "video_height", "video_num_frames")


class ConvertCommandError(TrackAssistError):
    """Bad command-line input for export/import (the message names the option)."""


def add_arguments(parser, name: str) -> None:
    fmt_help = "annotation format"
    if name == "export":
        parser.add_argument("project", help="project file (.taproj)")
        parser.add_argument("--format", required=True, choices=formats.names(), help=fmt_help)
        parser.add_argument("--out", required=True, help="output file (COCO, YouTube-VIS) or split folder (GOT-10k)")
        parser.add_argument("--frames", action="store_true", help="also write the video's frames as JPEG files")
        parser.add_argument("--objects", default=None, help="comma-separated track ids to export (default: all)")
    else:
        parser.add_argument("source", metavar="FILE_OR_DIR", help="annotation file, or GOT-10k sequence/split folder")
        parser.add_argument("--format", required=True, choices=formats.names(), help=fmt_help)
        parser.add_argument("--project", required=True, help="project file (.taproj), created if missing")
        parser.add_argument("--video", default=None,
                            help="which video of the file to import (its name, or the path of the video)")


def run(args) -> int:
    return run_export(args) if args.command == "export" else run_import(args)


# -- export --------------------------------------------------------------------

def run_export(args) -> int:
    wanted = parse_ids(args.objects)
    module = formats.get(args.format)
    store = ProjectStore.open(args.project, create=False)
    video = None
    try:
        video = _open_project_video(store, required=args.frames)
        va = _project_annotations(store, video)
        if wanted is not None:
            known = {obj.track_id for obj in va.objects}
            missing = sorted(wanted - known)
            if missing:
                raise ConvertCommandError(f"--objects: no object {', '.join(map(str, missing))} in {args.project} "
                                          f"(objects: {', '.join(map(str, sorted(known))) or 'none'})")
            va.objects = [obj for obj in va.objects if obj.track_id in wanted]
        module.write([va], args.out, video=video, write_frames=args.frames)
    finally:
        if video is not None:
            video.close()
        store.close()
    frames = sum(len(obj.frames) for obj in va.objects)
    print(f"exported {len(va.objects)} object(s), {frames} annotated frame(s) of {va.num_frames} "
          f"as {args.format} to {args.out}")
    return 0


def parse_ids(text: str | None) -> set[int] | None:
    if text is None:
        return None
    try:
        ids = {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise ConvertCommandError(f"--objects {text!r}: expected comma-separated track ids like 1,2") from None
    if not ids:
        raise ConvertCommandError(f"--objects {text!r}: no track ids")
    return ids


def _open_project_video(store: ProjectStore, required: bool):
    from app.core.video import open_video

    path = store.video_path
    if path is None:
        if required:
            raise ConvertCommandError(f"--frames: the project {store.path} has no video")
        return None
    try:
        return open_video(path)
    except VideoError:
        if required or store.get_meta("video_width") is None:
            raise
        print(f"warning: cannot open the project's video {path}; using the size recorded at import",
              file=sys.stderr)
        return None


def _project_annotations(store: ProjectStore, video) -> VideoAnnotations:
    if video is not None:
        name = os.path.splitext(os.path.basename(os.path.normpath(video.path)))[0] or "video"
        return store.to_annotations(name, video.width, video.height, len(video),
                                    frame_files=list(getattr(video, "files", None) or []) or None)
    values = [store.get_meta(key) for key in SIZE_META]
    if any(v is None for v in values):
        raise ConvertCommandError(f"{store.path}: the project has no video, so the frame size is unknown")
    name, width, height, num_frames = values
    return store.to_annotations(str(name), int(width), int(height), int(num_frames))


# -- import --------------------------------------------------------------------

def run_import(args) -> int:
    module = formats.get(args.format)
    if not os.path.exists(args.source):
        raise FormatError(args.source, "", "no such file or folder")
    videos = module.read(args.source)          # everything is checked before the project is touched
    va = _choose_video(videos, args.source, args.video, args.project)
    video_path = args.video if args.video is not None and os.path.exists(args.video) else None
    new_project = not os.path.exists(args.project) or os.path.getsize(args.project) == 0
    if new_project:   # checked before the project file is created
        _check_fits_video(video_path, va, args.source)
        store = ProjectStore.open(args.project, video_path=video_path, create=True)
    else:
        store = ProjectStore.open(args.project, create=False)
    try:
        if not new_project:
            _check_fits_video(store.video_path, va, args.source)
        if store.video_path is None and store.get_meta("video_width") is None:
            for key, value in zip(SIZE_META, (va.name, va.width, va.height, va.num_frames)):
                store.set_meta(key, value)
        if new_project:
            store.set_meta("fps", va.fps)
        mapping = store.import_annotations(va)
    finally:
        store.close()
    frames = sum(len(obj.frames) for obj in va.objects)
    ids = ", ".join(f"{old}->{new}" for old, new in mapping.items())
    print(f"imported {len(mapping)} object(s), {frames} annotated frame(s) from {args.source} into {args.project}"
          + (f" (track ids {ids})" if ids else ""))
    return 0


def _choose_video(videos: list[VideoAnnotations], source: str, wanted: str | None, project: str) -> VideoAnnotations:
    if not videos:
        raise FormatError(source, "", "the file holds no video")
    names = [va.name for va in videos]
    if wanted is not None:
        stem = os.path.splitext(os.path.basename(os.path.normpath(wanted)))[0]
        for key in (wanted, stem):
            if key in names:
                return videos[names.index(key)]
        if len(videos) == 1 and os.path.exists(wanted):
            return videos[0]   # a path to the video: the one video of the file is its annotations
        raise ConvertCommandError(f"--video {wanted!r}: not in {source} (videos: {', '.join(names)})")
    if len(videos) == 1:
        return videos[0]
    raise ConvertCommandError(f"{source} holds {len(videos)} videos; choose one with --video "
                              f"(videos: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''})")


def _check_fits_video(video_path: str | None, va: VideoAnnotations, source: str) -> None:
    """The file must describe the project's video: same frame size, no frame past its end."""
    from app.core.video import open_video

    if video_path is None:
        return
    try:
        video = open_video(video_path)
    except VideoError as exc:
        print(f"warning: cannot open the project's video to check the file against it ({exc})", file=sys.stderr)
        return
    try:
        if (va.width, va.height) != (video.width, video.height):
            raise FormatError(source, va.name, f"frames are {va.width}x{va.height} but the project's video "
                                               f"{video.path} is {video.width}x{video.height}")
        last = max((f for obj in va.objects for f in obj.frames), default=-1)
        if last >= len(video):
            raise FormatError(source, va.name, f"annotates frame {last} but the project's video has "
                                               f"{len(video)} frames")
    finally:
        video.close()
