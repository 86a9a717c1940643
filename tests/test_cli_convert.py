"""`trackassist export` / `trackassist import` end to end, in-process."""
import hashlib
import json
import os

import pytest

from app.cli.main import main
from app.core.formats import coco
from app.core.model import FrameAnnotation, encode_mask
from app.core.store import ProjectStore
from test_formats_roundtrip import assert_same_objects, make_clip, sample_video

N = 10


@pytest.fixture()
def project(tmp_path):
    """A project on a 10-frame synthetic video: a masked object and a box-only object, mixed sources."""
    clip = make_clip()
    video = clip.write_video(str(tmp_path / "clip.avi"), fourcc="MJPG")
    path = str(tmp_path / "p.taproj")
    want = sample_video().objects
    with ProjectStore.open(path, video_path=video) as store:
        for obj in want:
            tid = store.add_object(category=obj.category, color=obj.color, tracker=obj.tracker)
            store.update_object(tid, visible=obj.visible)
            store.put_many(tid, obj.frames, overwrite_human=True)
            obj.track_id = tid
    return path, video, want


def stored_objects(path):
    with ProjectStore.open(path, create=False) as store:
        objects = store.objects()
        for obj in objects:
            obj.frames = store.frames(obj.track_id)
    return objects


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("fmt,out", [("coco", "ann.json"), ("youtube-vis", "ann.json"), ("got10k", "val")])
def test_export_then_import_into_a_new_project_restores_everything(tmp_path, project, capsys, fmt, out):
    path, video, want = project
    out = str(tmp_path / out)
    assert main(["export", path, "--format", fmt, "--out", out]) == 0
    assert "exported 2 object(s)" in capsys.readouterr().out
    new = str(tmp_path / "new.taproj")
    assert main(["import", out, "--format", fmt, "--project", new, "--video", video]) == 0
    assert "imported 2 object(s)" in capsys.readouterr().out
    got = stored_objects(new)
    # Fresh project: the ids are allocated anew, in the file's order.
    id_map = {w.track_id: g.track_id for w, g in zip(want, got)}
    for obj in want:
        obj.track_id = id_map[obj.track_id]
    assert_same_objects(got, want)
    with ProjectStore.open(new, create=False) as store:
        assert os.path.samefile(store.video_path, video)


def test_export_selected_objects_with_frames(tmp_path, project):
    path, _, want = project
    out = tmp_path / "train"
    assert main(["export", path, "--format", "got10k", "--out", str(out), "--frames",
                 "--objects", str(want[1].track_id)]) == 0
    assert (out / "list.txt").read_text().split() == ["clip"]
    assert sorted(f for f in os.listdir(out / "clip") if f.endswith(".jpg")) == [f"{i:08d}.jpg" for i in range(1, N + 1)]
    assert main(["export", path, "--format", "coco", "--out", str(tmp_path / "x.json"), "--objects", "99"]) == 2
    assert main(["export", path, "--format", "coco", "--out", str(tmp_path / "x.json"), "--objects", "a,b"]) == 2
    assert not (tmp_path / "x.json").exists()


def test_import_adds_objects_to_an_existing_project_as_one_undo_step(tmp_path, project):
    path, _, want = project
    out = str(tmp_path / "ann.json")
    assert main(["export", path, "--format", "coco", "--out", out]) == 0
    assert main(["import", out, "--format", "coco", "--project", path]) == 0
    objects = stored_objects(path)
    assert len(objects) == 4 and len({o.track_id for o in objects}) == 4
    with ProjectStore.open(path, create=False) as store:
        assert store.frames(objects[2].track_id).keys() == want[0].frames.keys()


def test_malformed_file_exits_2_with_one_line_and_leaves_the_project_unchanged(tmp_path, project, capsys):
    path, _, _ = project
    good = str(tmp_path / "ann.json")
    assert main(["export", path, "--format", "coco", "--out", good]) == 0
    data = json.load(open(good))
    data["annotations"][3]["bbox"] = [1, 2, "wide", 4]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    before = digest(path)
    capsys.readouterr()
    assert main(["import", str(bad), "--format", "coco", "--project", path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "annotations[3].bbox[2]" in err
    assert digest(path) == before
    new = tmp_path / "never.taproj"
    assert main(["import", str(bad), "--format", "coco", "--project", str(new)]) == 2
    assert not new.exists()
    assert main(["import", str(tmp_path / "missing.json"), "--format", "coco", "--project", path]) == 2
    assert digest(path) == before


def test_file_for_another_video_size_is_refused(tmp_path, project, capsys):
    path, _, _ = project
    va = sample_video()
    va.width, va.height = 640, 480
    other = str(tmp_path / "other.json")
    coco.write([va], other)
    before = digest(path)
    assert main(["import", other, "--format", "coco", "--project", path]) == 2
    assert "640x480" in capsys.readouterr().err
    assert digest(path) == before


def test_several_videos_need_video_and_a_project_without_video_still_exports(tmp_path, capsys):
    both = str(tmp_path / "both.json")
    coco.write([sample_video("first"), sample_video("second")], both)
    project = str(tmp_path / "p.taproj")
    assert main(["import", both, "--format", "coco", "--project", project]) == 2
    assert "first, second" in capsys.readouterr().err
    assert not os.path.exists(project)
    assert main(["import", both, "--format", "coco", "--project", project, "--video", "second"]) == 0
    out = str(tmp_path / "again.json")
    assert main(["export", project, "--format", "youtube-vis", "--out", out]) == 0
    data = json.load(open(out))
    assert data["videos"][0]["name"] == "second" and data["videos"][0]["length"] == N
    assert (data["videos"][0]["width"], data["videos"][0]["height"]) == (160, 120)
    assert main(["export", project, "--format", "got10k", "--out", str(tmp_path / "g"), "--frames"]) == 2


def test_mask_only_annotation_exports_with_the_masks_box(tmp_path):
    import numpy as np

    mask = np.zeros((120, 160), bool)
    mask[10:20, 30:50] = True
    clip = make_clip()
    video = clip.write_video(str(tmp_path / "v.avi"), fourcc="MJPG")
    path = str(tmp_path / "m.taproj")
    with ProjectStore.open(path, video_path=video) as store:
        tid = store.add_object()
        store.put(tid, 2, FrameAnnotation(mask_rle=encode_mask(mask)))
    out = str(tmp_path / "m.json")
    assert main(["export", path, "--format", "coco", "--out", out]) == 0
    (ann,) = json.load(open(out))["annotations"]
    assert ann["bbox"] == [30.0, 10.0, 20.0, 10.0] and ann["area"] == 200.0
