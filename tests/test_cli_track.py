"""`trackassist track` end to end on a synthetic clip."""
import numpy as np
import pytest

from app.cli.main import main
from app.core.store import ProjectStore
from trackers.data.synthetic import SyntheticClip
from trackers.ops.boxes import iou_xywh

N = 25


@pytest.fixture(scope="module")
def clip():
    return SyntheticClip(num_frames=N, seed=11, speed=3.0)


@pytest.fixture(scope="module")
def video(clip, tmp_path_factory):
    return clip.write_video(str(tmp_path_factory.mktemp("cli") / "clip.mp4"))


def _box_arg(box):
    return ",".join(f"{v:g}" for v in box)


def test_track_writes_one_line_per_frame_and_fills_the_project(video, clip, tmp_path, capsys):
    out, project = tmp_path / "boxes.txt", tmp_path / "p.taproj"
    code = main(["track", video, "--tracker", "csrt", "--device", "cpu", "--box", _box_arg(clip.box(0)),
                 "--project", str(project), "--out", str(out)])
    assert code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == N
    boxes = np.array([[float(v) for v in line.split(",")] for line in lines])
    assert np.mean([iou_xywh(boxes[i], clip.box(i)) for i in range(N)]) > 0.6
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"tracked {N - 1} frames" in summary and str(out) in summary and str(project) in summary
    with ProjectStore.open(str(project), create=False) as store:
        (obj,) = store.objects()
        assert store.keyframes(obj.track_id) == [0]
        assert sorted(store.frames(obj.track_id)) == list(range(N))


def test_backward_with_stop_into_an_existing_object(video, clip, tmp_path):
    project = str(tmp_path / "p.taproj")
    with ProjectStore.open(project) as store:
        tid = store.add_object("target")
    out = tmp_path / "back.txt"
    code = main(["track", video, "--tracker", "kcf", "--device", "cpu", "--box", _box_arg(clip.box(20)),
                 "--frame", "20", "--backward", "--stop", "10", "--project", project, "--object", str(tid),
                 "--out", str(out)])
    assert code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == N
    assert [i for i, line in enumerate(lines) if not line.startswith("nan")] == list(range(10, 21))
    with ProjectStore.open(project, create=False) as store:
        assert sorted(store.frames(tid)) == list(range(10, 21))


@pytest.mark.parametrize("box, expected", [
    ("1,2,3", "--box '1,2,3': expected four numbers"),
    ("10,10,0,5", "at least 1 pixel"),
    ("5000,10,20,20", "outside the 320x240 frame"),
])
def test_bad_box_exits_2_with_one_line(video, tmp_path, capsys, box, expected):
    out = tmp_path / "never.txt"
    code = main(["track", video, "--device", "cpu", "--box", box, "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and err[0].startswith("trackassist track: error:")
    assert not out.exists()


def test_bad_video_and_object_exit_2(tmp_path, video, capsys):
    missing = str(tmp_path / "missing.mp4")
    assert main(["track", missing, "--device", "cpu", "--box", "1,1,5,5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.mp4" in err[0]
    assert main(["track", video, "--device", "cpu", "--box", "1,1,5,5", "--object", "7"]) == 2
    assert "--object 7" in capsys.readouterr().err
