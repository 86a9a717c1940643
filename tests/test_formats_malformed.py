"""Malformed annotation files: only FormatError escapes, naming the file and the field or line."""
import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.core.errors import FormatError
from app.core.formats import coco, got10k, ytvis
from app.core.model import FrameAnnotation, TrackObject, VideoAnnotations, encode_mask
from test_formats_roundtrip import sample_video


def valid_doc(fmt) -> dict:
    return fmt.to_json([sample_video()])


def write_doc(tmp_path, doc, name="bad.json") -> str:
    path = str(tmp_path / name)
    with open(path, "w") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def set_at(doc: dict, path: list, value) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def expect_error(fmt, path: str, where: str) -> FormatError:
    with pytest.raises(FormatError) as info:
        fmt.read(path)
    assert path in str(info.value)
    assert where in str(info.value), str(info.value)
    return info.value


COCO_CASES = [
    (["annotations", 0, "bbox"], [1, 2, 3], "annotations[0].bbox"),
    (["annotations", 0, "bbox"], [1, 2, -3, 4], "annotations[0].bbox[2]"),
    (["annotations", 0, "bbox"], [1, 2, "3", 4], "annotations[0].bbox[2]"),
    (["annotations", 0, "bbox"], [1e300, 2, 3, 4], "annotations[0].bbox[0]"),
    (["annotations", 0, "bbox"], [500, 500, 3, 4], "annotations[0].bbox"),
    (["annotations", 1, "image_id"], 999, "annotations[1].image_id"),
    (["annotations", 1, "category_id"], 42, "annotations[1].category_id"),
    (["annotations", 1, "track_id"], 42, "annotations[1].track_id"),
    (["annotations", 0, "segmentation", "size"], [12, 16], "annotations[0].segmentation.size"),
    (["annotations", 0, "segmentation", "counts"], "0000", "annotations[0].segmentation.counts"),
    (["annotations", 0, "segmentation", "counts"], "a b c", "annotations[0].segmentation.counts"),
    (["annotations", 0, "score"], 1.5, "annotations[0].score"),
    (["annotations", 0, "source"], "robot", "annotations[0].source"),
    (["images", 0, "width"], -160, "images[0].width"),
    (["images", 0, "width"], 10 ** 30, "images[0].width"),
    (["images", 3, "video_id"], 9, "images[3].video_id"),
    (["images", 1, "frame_index"], 0, "images[1].frame_index"),
    (["images", 1, "id"], 1, "images[1].id"),
    (["tracks", 0, "absent_frames", 0, "frame_index"], 99, "tracks[0].absent_frames[0].frame_index"),
    (["videos", 0, "length"], 2, "images[2].frame_index"),
    (["categories"], {"id": 1}, "categories"),
    (["annotations", 0, "segmentation"], [[0, 0, 160, 120] * 500], "annotations[0].segmentation[0]"),
    (["annotations", 0, "segmentation"], [[0, 0, 1, 1, 2, "x"]], "annotations[0].segmentation[0][5]"),
    (["annotations", 0, "segmentation"], [[0, 0, 1, 1, 9999, 2]], "annotations[0].segmentation[0][4]"),
]


@pytest.mark.parametrize("path,value,where", COCO_CASES, ids=[c[2] + ":" + repr(c[1])[:12] for c in COCO_CASES])
def test_coco_malformed_field_is_named(tmp_path, path, value, where):
    doc = valid_doc(coco)
    assert "counts" in doc["annotations"][0]["segmentation"]   # the first annotation carries a mask
    expect_error(coco, write_doc(tmp_path, set_at(doc, path, value)), where)


YTVIS_CASES = [
    (["annotations", 0, "segmentations"], [None] * 3, "annotations[0].segmentations"),
    (["annotations", 1, "bboxes", 1], [float("nan")] * 4, "line"),          # NaN literal in JSON
    (["annotations", 1, "bboxes", 1], [1, 2, 3, "x"], "annotations[1].bboxes[1][3]"),
    (["annotations", 0, "segmentations", 0, "size"], [240, 320], "annotations[0].segmentations[0].size"),
    (["annotations", 0, "video_id"], 3, "annotations[0].video_id"),
    (["videos", 0, "file_names"], ["a.jpg"], "videos[0].file_names"),
    (["videos", 0, "height"], 0, "videos[0].height"),
    (["annotations", 1, "sources", 1], 7, "annotations[1].sources[1]"),
]


@pytest.mark.parametrize("path,value,where", YTVIS_CASES, ids=[c[2] for c in YTVIS_CASES])
def test_ytvis_malformed_field_is_named(tmp_path, path, value, where):
    doc = set_at(valid_doc(ytvis), path, value)
    text = json.dumps(doc)   # json.dumps writes NaN as a bare literal, which the reader must refuse
    expect_error(ytvis, write_doc(tmp_path, text), where)


@pytest.mark.parametrize("text,where", [("{", "line 1"), ("", "line 1"), ("[1, 2]", "expected an object"),
                                        ('{"images": 3, "videos": 3}', "expected a list"), ('{"videos": [{"id": NaN}]}', "NaN")])
def test_broken_json_is_a_format_error(tmp_path, text, where):
    path = write_doc(tmp_path, text)
    for fmt in (coco, ytvis):
        expect_error(fmt, path, where)


def test_missing_file_and_binary_garbage(tmp_path):
    expect_error(coco, str(tmp_path / "nope.json"), "cannot read")
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    expect_error(ytvis, str(path), "UTF-8")


# -- GOT-10k -----------------------------------------------------------------

def got_sequence(tmp_path) -> str:
    got10k.write_sequence(sample_video(), str(tmp_path))
    return str(tmp_path / "clip_1")


@pytest.mark.parametrize("file_name,edit,where", [
    ("groundtruth.txt", lambda ls: ls[:2] + ["1,2,3"] + ls[3:], "line 3"),
    ("groundtruth.txt", lambda ls: ls[:2] + ["1,2,abc,4"] + ls[3:], "line 3"),
    ("groundtruth.txt", lambda ls: ls[:2] + ["1,2,-3,4"] + ls[3:], "line 3"),
    ("groundtruth.txt", lambda ls: ls[:2] + ["1,2,inf,4"] + ls[3:], "line 3"),
    ("groundtruth.txt", lambda ls: ls[:2] + ["1,nan,3,4"] + ls[3:], "line 3"),
    ("groundtruth.txt", lambda ls: ls[:2] + ["1e30,2,3,4"] + ls[3:], "line 3"),
    ("groundtruth.txt", lambda ls: ls[:2] + ["900,900,3,4"] + ls[3:], "line 3"),
    ("groundtruth.txt", lambda ls: [], "no boxes"),
    ("absence.label", lambda ls: ls + ["0"], "absence.label"),
    ("absence.label", lambda ls: ["2"] + ls[1:], "line 1"),
    ("cover.label", lambda ls: ["x"] + ls[1:], "line 1"),
    ("meta_info.ini", lambda ls: ls + ["resolution: big"], "line"),
    ("trackassist.json", lambda ls: ['{"sources": [1]}'], "sources"),
    ("trackassist.json", lambda ls: ['{"num_frames": 3}'], "num_frames"),
    ("trackassist.json", lambda ls: ["{bad"], "line 1"),
])
def test_got10k_malformed_file_is_named(tmp_path, file_name, edit, where):
    seq = got_sequence(tmp_path)
    path = os.path.join(seq, file_name)
    lines = open(path).read().splitlines()
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in edit(lines)))
    with pytest.raises(FormatError) as info:
        got10k.read(seq)
    assert path in str(info.value) and where in str(info.value), str(info.value)


def test_got10k_frame_count_mismatch_and_bad_masks(tmp_path):
    import cv2
    import numpy as np

    seq = got_sequence(tmp_path)
    cv2.imwrite(os.path.join(seq, "00000001.jpg"), np.zeros((120, 160, 3), np.uint8))
    with pytest.raises(FormatError, match="1 frames"):
        got10k.read(seq)
    os.unlink(os.path.join(seq, "00000001.jpg"))
    mask_path = os.path.join(seq, "masks", "00000001.png")
    cv2.imwrite(mask_path, np.zeros((12, 16), np.uint8))
    with pytest.raises(FormatError, match="mask is 16x12"):
        got10k.read(seq)
    with open(mask_path, "wb") as f:
        f.write(b"not a png")
    with pytest.raises(FormatError, match="00000001.png"):
        got10k.read(seq)


def test_got10k_list_naming_a_missing_sequence(tmp_path):
    got_sequence(tmp_path)
    with open(tmp_path / "list.txt", "a") as f:
        f.write("ghost\n")
    with pytest.raises(FormatError, match="line 3.*ghost"):
        got10k.read(str(tmp_path))
    with pytest.raises(FormatError, match="neither|nor"):
        got10k.read(str(tmp_path / "clip_1" / "masks"))


# -- writes: nothing on error, atomic ----------------------------------------

def test_bad_annotations_write_nothing_and_keep_the_old_file(tmp_path):
    bad = VideoAnnotations("v", 20, 10, 3, [TrackObject(1, frames={5: FrameAnnotation(box=(1, 1, 2, 2))})])
    for fmt in (coco, ytvis):
        path = tmp_path / f"{fmt.__name__}.json"
        path.write_text("old")
        with pytest.raises(FormatError, match="frame 5"):
            fmt.write([bad], str(path))
        assert path.read_text() == "old"
    with pytest.raises(FormatError, match="frame 5"):
        got10k.write_sequence(bad, str(tmp_path / "got"))
    assert not (tmp_path / "got").exists()
    assert sorted(os.listdir(tmp_path)) == ["app.core.formats.coco.json", "app.core.formats.ytvis.json"]


def test_mask_size_must_match_the_frame_on_read_not_just_on_write(tmp_path):
    import numpy as np

    odd = encode_mask(np.ones((5, 5), bool))
    va = VideoAnnotations("v", 20, 10, 1, [TrackObject(1, frames={0: FrameAnnotation(box=(0, 0, 5, 5), mask_rle=odd)})])
    path = str(tmp_path / "odd.json")
    coco.write([va], path)
    expect_error(coco, path, "annotations[0].segmentation.size")


# -- hypothesis: random damage to valid files --------------------------------

JUNK = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10 ** 20, max_value=10 ** 20),
                 st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
                 st.lists(st.integers(-5, 5), max_size=5), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def leaf_paths(value, prefix=()):
    """Every path into a JSON value (containers and leaves)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaf_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:4]):   # the first few entries are enough to reach every field kind
            yield from leaf_paths(v, prefix + (i,))


SMALL = VideoAnnotations("s", 16, 12, 3, [
    TrackObject(2, "cat", frames={0: FrameAnnotation(box=(1, 1, 4, 4), mask_rle=encode_mask(
        __import__("numpy").pad(__import__("numpy").ones((4, 4), bool), ((1, 7), (1, 11))))),
        1: FrameAnnotation(absent=True), 2: FrameAnnotation(box=(2, 2, 3, 3), score=0.5, source="tracker:x")})])


def damaged(fmt):
    doc = fmt.to_json([SMALL])
    paths = [p for p in leaf_paths(doc) if p]

    @st.composite
    def strategy(draw):
        d = copy.deepcopy(doc)
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(paths))
            target = d
            try:
                for key in path[:-1]:
                    target = target[key]
                if draw(st.booleans()) and isinstance(target, dict):
                    target.pop(path[-1], None)
                else:
                    target[path[-1]] = draw(JUNK)
            except (KeyError, IndexError, TypeError):
                pass   # an earlier damage removed this path
        return d

    return strategy()


def check_only_format_errors(fmt, path: str) -> None:
    try:
        videos = fmt.read(path)
    except FormatError as exc:
        assert path in str(exc)
        return
    for va in videos:   # accepted: the result must be usable
        assert va.width > 0 and va.height > 0 and va.num_frames >= 0
        for obj in va.objects:
            for frame, ann in obj.frames.items():
                assert 0 <= frame < va.num_frames
                if ann.mask_rle is not None:
                    assert list(ann.mask_rle["size"]) == [va.height, va.width]


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(doc=damaged(coco))
def test_damaged_coco_raises_only_format_error(tmp_path, doc):
    check_only_format_errors(coco, write_doc(tmp_path, doc))


@FAST
@given(doc=damaged(ytvis))
def test_damaged_ytvis_raises_only_format_error(tmp_path, doc):
    check_only_format_errors(ytvis, write_doc(tmp_path, doc))


@FAST
@given(data=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_random_bytes_raise_only_format_error(tmp_path, data):
    path = tmp_path / "rand.json"
    path.write_bytes(data)
    for fmt in (coco, ytvis):
        check_only_format_errors(fmt, str(path))


GOT_LINE = st.one_of(st.just("nan,nan,nan,nan"), st.text(alphabet="0123456789.,-e naif", max_size=20),
                     st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=3, max_size=5)
                     .map(lambda v: ",".join(str(x) for x in v)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gt=st.lists(GOT_LINE, max_size=5), absence=st.lists(st.sampled_from(["0", "1", "2", "x", ""]), max_size=5),
       sidecar=st.one_of(st.none(), st.just("{"), st.builds(json.dumps, st.dictionaries(
           st.sampled_from(["num_frames", "sources", "scores", "width", "track_id", "video", "frame_files"]),
           JUNK, max_size=3))))
def test_damaged_got10k_raises_only_format_error(tmp_path, gt, absence, sidecar):
    seq = tmp_path / "seq"
    seq.mkdir(exist_ok=True)
    for name in os.listdir(seq):
        os.unlink(seq / name)
    (seq / "groundtruth.txt").write_text("\n".join(gt))
    if absence:
        (seq / "absence.label").write_text("\n".join(absence))
    if sidecar is not None:
        (seq / "trackassist.json").write_text(sidecar)
    try:
        (va,) = got10k.read(str(seq))
    except FormatError as exc:
        assert str(seq) in str(exc)
        return
    lines = "\n".join(gt).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    assert va.num_frames == len(lines) > 0
    assert all(0 <= f < va.num_frames for obj in va.objects for f in obj.frames)


def test_rle_check_agrees_with_pycocotools_and_rejects_bad_encodings():
    import numpy as np

    from app.core.formats.validate import Checker, compressed_rle_total

    c = Checker("m.json")
    rng = np.random.default_rng(3)
    for density in (0.0, 0.02, 0.5, 1.0):
        mask = rng.random((37, 53)) < density
        assert compressed_rle_total(c, encode_mask(mask)["counts"], "seg") == 37 * 53
    for counts, problem in [("", "empty"), ("a b", "not valid"), ("0o", "middle of a run"), ("0@", "negative"),
                            ("oooooooo0", "too many characters"), ("é", "not valid")]:
        with pytest.raises(FormatError, match=problem) as info:
            compressed_rle_total(c, counts, "seg.counts")
        assert "m.json: seg.counts" in str(info.value)
