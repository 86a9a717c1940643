"""Damaged project files and videos: only the project's own errors, naming the file; nothing changes on disk.

A project file cut at a random offset or with random bytes flipped either
opens and reads as well-formed annotations, or raises StoreError naming the
file (never sqlite3/JSON/Unicode errors from deep inside), and is never
written to by the attempt.  A truncated or byte-damaged mp4 either opens and
every frame it claims reads as an HxWx3 frame or FrameReadError, or raises
VideoError naming the file.
"""
import hashlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.cli.main import main
from app.core.errors import StoreError, VideoError
from app.core.model import FrameAnnotation, encode_mask
from app.core.store import ProjectStore
from app.core.video import FrameReadError, open_video
from trackers.data.synthetic import SyntheticClip

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def project_bytes(tmp_path_factory) -> bytes:
    path = str(tmp_path_factory.mktemp("proj") / "good.taproj")
    mask = np.zeros((48, 64), bool)
    mask[5:20, 10:30] = True
    with ProjectStore.open(path, video_path=path + ".mp4") as store:
        store.set_meta("fps", 25.0)
        for k in range(3):
            tid = store.add_object(f"class{k}")
            store.put_many(tid, {f: FrameAnnotation(box=(float(f), 2.0, 10.0, 10.0), score=0.5,
                                                    mask_rle=encode_mask(mask) if f % 3 == 0 else None,
                                                    source="human" if f % 5 == 0 else "tracker:csrt")
                                 for f in range(150)}, overwrite_human=True)
    return open(path, "rb").read()


def read_everything(path: str) -> None:
    with ProjectStore.open(path, create=False) as store:
        store.get_meta("video_path")
        store.get_meta("fps")
        for obj in store.objects():
            for ann in store.frames(obj.track_id).values():
                assert ann.source == "human" or ann.source.startswith("tracker:")
                assert ann.box is None or len(ann.box) == 4
            store.keyframes(obj.track_id)
        store.to_annotations("v", 64, 48, 150)


def damage(data: bytes, draw) -> bytes:
    if draw(st.booleans()):
        return data[:draw(st.integers(1, len(data) - 1))]
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 12))):
        out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
    return bytes(out)


@FUZZ
@given(data=st.data())
def test_damaged_project_reads_or_raises_store_error_and_is_not_written(tmp_path, project_bytes, data):
    path = tmp_path / "damaged.taproj"
    for leftover in (path, tmp_path / "damaged.taproj-wal", tmp_path / "damaged.taproj-shm"):
        if leftover.exists():
            leftover.unlink()
    bad = damage(project_bytes, data.draw)
    path.write_bytes(bad)
    try:
        read_everything(str(path))
    except StoreError as exc:
        assert str(path) in str(exc)
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(bad).digest()


@pytest.mark.parametrize("size", [1, 16, 100, 1024])   # 1 byte reads as an empty database
def test_project_cut_to_its_header_is_refused_not_recreated_empty(tmp_path, project_bytes, size):
    path = tmp_path / "cut.taproj"
    path.write_bytes(project_bytes[:size])
    with pytest.raises(StoreError, match="cut.taproj"):
        ProjectStore.open(str(path), create=True)   # even with create=True: the file had content
    assert path.read_bytes() == project_bytes[:size]


def test_cli_export_of_a_damaged_project_exits_2_with_one_line(tmp_path, project_bytes, capsys):
    path = tmp_path / "cut.taproj"
    path.write_bytes(project_bytes[: len(project_bytes) // 2])
    out = tmp_path / "out.json"
    capsys.readouterr()
    assert main(["export", str(path), "--format", "coco", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err, err
    assert not out.exists()


# -- videos ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mp4_bytes(tmp_path_factory) -> bytes:
    clip = SyntheticClip(num_frames=30, seed=2, width=160, height=120)
    return open(clip.write_video(str(tmp_path_factory.mktemp("vid") / "clip.mp4")), "rb").read()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_mp4_opens_with_readable_frames_or_raises_video_error(tmp_path, mp4_bytes, data):
    path = tmp_path / "damaged.mp4"
    path.write_bytes(damage(mp4_bytes, data.draw))
    try:
        video = open_video(str(path))
    except VideoError as exc:
        assert str(path) in str(exc)
        return
    with video:
        assert len(video) >= 1
        for i in list(range(len(video))) + [len(video) // 2, 0]:
            try:
                frame = video.read(i)
            except FrameReadError as exc:
                assert str(path) in str(exc)
                continue
            assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8


def test_track_on_a_truncated_mp4_exits_2_with_one_line(tmp_path, mp4_bytes, capsys):
    path = tmp_path / "cut.mp4"
    path.write_bytes(mp4_bytes[: len(mp4_bytes) * 2 // 3])   # the index (moov box) is at the end: gone
    project = tmp_path / "p.taproj"
    capsys.readouterr()
    assert main(["track", str(path), "--box", "10,10,20,20", "--project", str(project)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err, err
    assert not os.path.exists(project)
