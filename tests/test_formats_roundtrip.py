"""Round trips through COCO, YouTube-VIS and GOT-10k, and loading the files in the reference tools."""
import json
import os

import numpy as np
import pytest

from app.core.formats import coco, got10k, ytvis
from app.core.model import FrameAnnotation, TrackObject, VideoAnnotations, decode_mask, encode_mask
from trackers.data.synthetic import SyntheticClip

N = 10


class ClipVideo:
    """The slice of VideoSource the GOT-10k writer uses: len() and read(i) -> RGB."""

    def __init__(self, clip: SyntheticClip) -> None:
        self.clip = clip

    def __len__(self) -> int:
        return len(self.clip)

    def read(self, i: int) -> np.ndarray:
        return self.clip.frame(i)


def make_clip() -> SyntheticClip:
    return SyntheticClip(width=160, height=120, num_frames=N, exit_frames=(4, 6), target_size=(30, 24))


def masked_object(clip: SyntheticClip, track_id: int = 1) -> TrackObject:
    """Human keyframes with masks, tracker frames with scores, absent frames where the clip's target left."""
    frames = {}
    for i in range(N):
        box = clip.box(i)
        if box is None:
            frames[i] = FrameAnnotation(absent=True, source="tracker:fcot", score=0.05)
        elif i in (0, 9):
            frames[i] = FrameAnnotation(box=box, mask_rle=encode_mask(clip.mask(i)), source="human")
        else:
            frames[i] = FrameAnnotation(box=box, mask_rle=encode_mask(clip.mask(i)), score=0.5 + i / 40,
                                        source="tracker:fcot")
    return TrackObject(track_id=track_id, category="blob", color="#3cb44b", frames=frames, tracker="fcot")


def box_object(track_id: int = 7) -> TrackObject:
    """Box-only frames (fractional coordinates, one cut by the border), interpolation, a human absent frame."""
    frames = {
        1: FrameAnnotation(box=(10.25, 20.5, 30.75, 15.0), source="human"),
        2: FrameAnnotation(box=(12.5, 21.0, 30.0, 15.5), source="interpolated"),
        3: FrameAnnotation(box=(140.0, 100.0, 40.0, 30.0), score=0.875, source="tracker:csrt"),
        5: FrameAnnotation(absent=True, source="human"),
    }
    return TrackObject(track_id=track_id, category="car", color="#4363d8", frames=frames, visible=False)


def sample_video(name: str = "clip", ids=(1, 7)) -> VideoAnnotations:
    clip = make_clip()
    return VideoAnnotations(name=name, width=160, height=120, num_frames=N,
                            objects=[masked_object(clip, ids[0]), box_object(ids[1])], fps=12.5)


def assert_same_objects(got: list[TrackObject], want: list[TrackObject]) -> None:
    assert sorted(o.track_id for o in got) == sorted(o.track_id for o in want)
    by_id = {o.track_id: o for o in got}
    for w in want:
        g = by_id[w.track_id]
        assert (g.category, g.color, g.visible, g.tracker) == (w.category, w.color, w.visible, w.tracker)
        assert sorted(g.frames) == sorted(w.frames)
        for frame, wa in w.frames.items():
            ga = g.frames[frame]
            assert (ga.absent, ga.source, ga.score) == (wa.absent, wa.source, wa.score), frame
            if wa.box is None:
                assert ga.box is None or ga.absent is False
            else:
                assert ga.box == pytest.approx(wa.box, abs=1e-4), frame
            assert (ga.mask_rle is None) == (wa.mask_rle is None), frame
            if wa.mask_rle is not None:
                assert np.array_equal(decode_mask(ga.mask_rle), decode_mask(wa.mask_rle)), frame


@pytest.mark.parametrize("fmt", [coco, ytvis], ids=["coco", "ytvis"])
def test_json_formats_round_trip_two_videos_with_clashing_track_ids(tmp_path, fmt):
    videos = [sample_video("first"), sample_video("second", ids=(7, 1))]
    path = str(tmp_path / "out.json")
    fmt.write(videos, path)
    back = fmt.read(path)
    assert [v.name for v in back] == ["first", "second"]
    for got, want in zip(back, videos):
        assert (got.width, got.height, got.num_frames, got.fps) == (want.width, want.height, want.num_frames, want.fps)
        assert_same_objects(got.objects, want.objects)
    assert not [f for f in os.listdir(tmp_path) if f != "out.json"], "temporary files left behind"


def test_coco_file_loads_in_pycocotools_and_scores_perfectly_against_itself(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    path = str(tmp_path / "gt.json")
    coco.write([sample_video()], path)
    gt = COCO(path)
    assert len(gt.getImgIds()) == N
    present = sum(1 for o in sample_video().objects for a in o.frames.values() if not a.absent)
    assert len(gt.getAnnIds()) == present
    ann = gt.loadAnns(gt.getAnnIds())[0]
    assert gt.annToMask(ann).sum() > 0
    results = json.load(open(path))["annotations"]
    for r in results:
        r["score"] = r.get("score", 1.0)
    dt = gt.loadRes(results)
    for iou_type in ("bbox", "segm"):
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate(), ev.accumulate(), ev.summarize()
        assert ev.stats[0] == pytest.approx(1.0), iou_type


def test_coco_keeps_human_versus_machine_in_is_gt_and_absent_frames_in_tracks(tmp_path):
    path = str(tmp_path / "gt.json")
    coco.write([sample_video()], path)
    data = json.load(open(path))
    by_source = {(a["source"], a["is_gt"]) for a in data["annotations"]}
    assert ("human", True) in by_source and ("tracker:fcot", False) in by_source
    assert ("interpolated", False) in by_source
    track = next(t for t in data["tracks"] if t["object_id"] == 7)
    assert [e["frame_index"] for e in track["absent_frames"]] == [5]
    images = {i["id"]: i for i in data["images"]}
    assert all(images[a["image_id"]]["frame_index"] not in (4, 5) or a["track_id"] != 1
               for a in data["annotations"])


def test_plain_coco_without_videos_or_tracks_reads_as_one_video(tmp_path):
    mask = np.zeros((30, 40), bool)
    mask[5:15, 10:20] = True
    rle = encode_mask(mask)
    data = {"images": [{"id": 5, "file_name": "b.jpg", "width": 40, "height": 30},
                       {"id": 3, "file_name": "a.jpg", "width": 40, "height": 30}],
            "annotations": [{"id": 1, "image_id": 3, "category_id": 2, "segmentation": [[10, 5, 20, 5, 20, 15, 10, 15]],
                             "bbox": [10, 5, 10, 10], "area": 100, "iscrowd": 0},
                            {"id": 2, "image_id": 5, "category_id": 2, "iscrowd": 0, "area": 100,
                             "segmentation": {"size": [30, 40], "counts": rle["counts"]}, "score": 0.5}],
            "categories": [{"id": 2, "name": "dog"}]}
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(data))
    (va,) = coco.read(str(path))
    assert va.name == "plain" and va.frame_files == ["a.jpg", "b.jpg"] and va.num_frames == 2
    assert len(va.objects) == 2 and {o.category for o in va.objects} == {"dog"}
    first, second = va.objects
    assert first.frames[0].source == "human" and first.frames[0].mask_rle is not None
    assert second.frames[1].box == (10.0, 5.0, 10.0, 10.0) and second.frames[1].source == "tracker:unknown"
    assert np.array_equal(decode_mask(second.frames[1].mask_rle), mask)


def test_official_style_ytvis_with_uncompressed_rle_reads(tmp_path):
    mask = np.zeros((20, 30), bool)
    mask[2:8, 3:9] = True
    flat = mask.flatten(order="F").astype(int)
    runs, value, count = [], 0, 0
    for px in flat:
        if px != value:
            runs.append(count)
            value, count = px, 0
        count += 1
    runs.append(count)
    data = {"videos": [{"id": 1, "width": 30, "height": 20, "length": 3,
                        "file_names": ["abc/00000.jpg", "abc/00005.jpg", "abc/00010.jpg"]}],
            "categories": [{"id": 1, "name": "person"}],
            "annotations": [{"id": 9, "video_id": 1, "category_id": 1, "iscrowd": 0, "height": 20, "width": 30,
                             "segmentations": [None, {"size": [20, 30], "counts": runs}, None],
                             "bboxes": [None, [3, 2, 6, 6], None], "areas": [None, 36, None]}]}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(data))
    (va,) = ytvis.read(str(path))
    assert va.name == "abc" and va.num_frames == 3
    (obj,) = va.objects
    assert obj.track_id == 9 and set(obj.frames) == {1}
    assert np.array_equal(decode_mask(obj.frames[1].mask_rle), mask)


def test_got10k_round_trip_one_sequence_per_object(tmp_path):
    va = sample_video()
    root = tmp_path / "val"
    names = got10k.write_sequence(va, str(root))
    assert names == ["clip_1", "clip_7"]
    assert (root / "list.txt").read_text().split() == names
    (back,) = got10k.read(str(root))
    assert (back.name, back.width, back.height, back.num_frames, back.fps) == ("clip", 160, 120, N, 12.5)
    assert_same_objects(back.objects, va.objects)
    single = got10k.read_sequence(str(root / "clip_7"))
    assert_same_objects(single.objects, [box_object()])


def test_got10k_toolkit_loads_exported_folder_with_frames(tmp_path):
    from got10k.datasets import GOT10k

    clip = make_clip()
    va = sample_video()
    got10k.write_sequence(va, str(tmp_path / "train"), video=ClipVideo(clip), write_frames=True)
    dataset = GOT10k(str(tmp_path), subset="train", return_meta=True)
    assert dataset.seq_names == ["clip_1", "clip_7"]
    files, anno, meta = dataset["clip_1"]
    assert len(files) == N and anno.shape == (N, 4)
    for i in range(N):
        if clip.box(i) is None:
            assert np.isnan(anno[i]).all() and meta["absence"][i] == 1 and meta["cover"][i] == 0
        else:
            assert anno[i] == pytest.approx(clip.box(i)) and meta["absence"][i] == 0 and meta["cover"][i] == 8
    assert meta["object_class"] == "blob" and meta["resolution"] == "(160, 120)"
    import cv2

    first = cv2.cvtColor(cv2.imread(files[0]), cv2.COLOR_BGR2RGB).astype(int)
    assert np.abs(first - clip.frame(0).astype(int)).mean() < 6   # RGB kept (no channel swap), JPEG loss only
    # The frames do not change what is read back; masks come from masks/*.png.
    (back,) = got10k.read(str(tmp_path / "train"))
    assert_same_objects(back.objects, va.objects)
    # The project had no frame names (a video file), so the written JPEGs become the frame files.
    assert back.frame_files == [os.path.basename(f) for f in files]


def test_got10k_reads_a_foreign_sequence_without_our_sidecar(tmp_path):
    clip = make_clip()
    seq = clip.write_got10k(str(tmp_path), "GOT-10k_Val_000001", masks=True)
    (va,) = got10k.read(seq)
    assert va.name == "GOT-10k_Val_000001" and (va.width, va.height, va.num_frames) == (160, 120, N)
    assert va.frame_files == [f"{i:08d}.jpg" for i in range(1, N + 1)]
    (obj,) = va.objects
    for i in range(N):
        if clip.box(i) is None:
            assert obj.frames[i].absent
        else:
            assert obj.frames[i].source == "human" and obj.frames[i].box == pytest.approx(clip.box(i), abs=1e-3)
            assert np.array_equal(decode_mask(obj.frames[i].mask_rle), clip.mask(i))


def test_got10k_reexport_with_fewer_frames_leaves_a_consistent_folder(tmp_path):
    clip = make_clip()
    va = VideoAnnotations("v", 160, 120, N, [masked_object(clip)])
    got10k.write_sequence(va, str(tmp_path), video=ClipVideo(clip), write_frames=True)
    short = VideoAnnotations("v", 160, 120, 3, [TrackObject(1, frames={0: FrameAnnotation(box=(1, 1, 5, 5))})])
    got10k.write_sequence(short, str(tmp_path), video=ClipVideo(clip), write_frames=True)
    (back,) = got10k.read(str(tmp_path))
    assert back.num_frames == 3 and set(back.objects[0].frames) == {0}
    assert back.objects[0].frames[0].mask_rle is None
    assert (tmp_path / "list.txt").read_text().split() == ["v"]


def test_write_results_matches_the_toolkit_layout(tmp_path):
    boxes = [(1, 2, 3, 4), None, (5.5, 6.25, 7, 8)]
    path = got10k.write_results(str(tmp_path), "fcot", "seq", boxes, [0.01, 0.02, 0.03])
    assert path == str(tmp_path / "fcot" / "seq" / "seq_001.txt")
    loaded = np.loadtxt(path, delimiter=",")
    assert loaded.shape == (3, 4) and np.isnan(loaded[1]).all()
    assert loaded[2] == pytest.approx([5.5, 6.25, 7, 8])
    assert open(path).readline().strip() == "1.000,2.000,3.000,4.000"
    times = np.loadtxt(tmp_path / "fcot" / "seq" / "seq_time.txt", delimiter=",")
    assert times == pytest.approx([0.01, 0.02, 0.03])
    with pytest.raises(ValueError):
        got10k.write_results(str(tmp_path), "../x", "seq", boxes, [0, 0, 0])


def test_json_export_with_frames_writes_them_at_the_file_names(tmp_path):
    import cv2

    clip = make_clip()
    path = str(tmp_path / "out" / "ann.json")
    coco.write([sample_video()], path, video=ClipVideo(clip), write_frames=True)
    data = json.load(open(path))
    names = [i["file_name"] for i in sorted(data["images"], key=lambda i: i["frame_index"])]
    assert names == [f"clip/{i:08d}.jpg" for i in range(1, N + 1)]
    last = cv2.imread(str(tmp_path / "out" / names[-1]))
    assert last.shape == (120, 160, 3)
    assert np.abs(cv2.cvtColor(last, cv2.COLOR_BGR2RGB).astype(int) - clip.frame(N - 1)).mean() < 6
