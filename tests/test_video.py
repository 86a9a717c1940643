"""Video sources: random access equals sequential decode, bounded cache, clear errors."""
import os
import threading

import cv2
import numpy as np
import pytest

from app.core.errors import VideoError
from app.core.video import FrameIndexError, FrameReadError, open_video
from trackers.data.synthetic import SyntheticClip

FRAMES = 40


@pytest.fixture(scope="module")
def clip():
    return SyntheticClip(num_frames=FRAMES, seed=3)


@pytest.fixture(scope="module")
def mp4(clip, tmp_path_factory):
    return clip.write_video(str(tmp_path_factory.mktemp("video") / "clip.mp4"))


@pytest.fixture(scope="module")
def folder(clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    # Unpadded names: natural order must put 2 before 10.
    for i in range(12):
        cv2.imwrite(str(root / f"f{i}.png"), cv2.cvtColor(clip.frame(i), cv2.COLOR_RGB2BGR))
    return str(root)


def _sequential(path):
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def test_properties_and_frames_resemble_the_source(mp4, clip):
    with open_video(mp4) as video:
        assert (len(video), video.width, video.height) == (FRAMES, 320, 240)
        assert video.fps == pytest.approx(25.0)
        frame = video.read(7)
        assert frame.dtype == np.uint8 and frame.shape == (240, 320, 3)
        # RGB order, within codec tolerance of the rendered frame
        assert np.abs(frame.astype(int) - clip.frame(7).astype(int)).mean() < 12
        assert np.array_equal(video[-1], video.read(FRAMES - 1))


def test_random_access_matches_sequential_decode_exactly(mp4):
    truth = _sequential(mp4)
    assert len(truth) == FRAMES
    rng = np.random.default_rng(0)
    order = list(rng.permutation(FRAMES)) + list(range(30, 10, -1)) + [0, 39, 1, 38]
    # A tiny cache forces re-decoding and seeking all the time.
    with open_video(mp4, cache_mb=1) as video:
        for i in order:
            assert np.array_equal(video.read(int(i)), truth[int(i)]), f"frame {i}"


def test_cache_stays_within_its_budget(mp4):
    frame_bytes = 320 * 240 * 3
    with open_video(mp4, cache_mb=1) as video:
        for i in range(FRAMES):
            video.read(i)
            assert video.cache_bytes <= 1024 * 1024
        assert video.cache_bytes >= frame_bytes  # it does cache something


def test_returned_frames_cannot_corrupt_the_cache(mp4):
    with open_video(mp4) as video:
        frame = video.read(3)
        with pytest.raises(ValueError):
            frame[0, 0] = 0
        assert np.array_equal(video.read(3), frame)


def test_clone_decodes_independently_in_another_thread(mp4):
    truth = _sequential(mp4)
    with open_video(mp4, cache_mb=1) as video:
        other = video.clone()
        errors = []

        def scan(source, order):
            try:
                for i in order:
                    if not np.array_equal(source.read(i), truth[i]):
                        errors.append(i)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=scan, args=(other, range(FRAMES))),
                   threading.Thread(target=scan, args=(video, range(FRAMES - 1, -1, -1))),
                   threading.Thread(target=scan, args=(video, range(0, FRAMES, 3)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        other.close()
        assert errors == []
        assert len(other) == len(video) and other.width == video.width


def test_image_folder_in_natural_order(folder, clip):
    with open_video(folder) as video:
        assert len(video) == 12 and (video.width, video.height) == (320, 240)
        assert video.files[:3] == ["f0.png", "f1.png", "f2.png"]
        for i in (0, 2, 10, 11):
            assert np.array_equal(video.read(i), clip.frame(i))  # png is lossless


def test_count_is_corrected_when_the_container_overstates_it(clip, tmp_path):
    full = clip.write_video(str(tmp_path / "full.avi"), fourcc="MJPG")
    data = open(full, "rb").read()
    truncated = tmp_path / "cut.avi"
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    assert cv2.VideoCapture(str(truncated)).get(cv2.CAP_PROP_FRAME_COUNT) == FRAMES  # the header lies
    with open_video(str(truncated)) as video:
        assert 0 < len(video) < FRAMES
        for i in range(len(video)):  # every frame it claims can be read
            assert video.read(i).shape == (240, 320, 3)


@pytest.mark.parametrize("content", [b"", os.urandom(4096)], ids=["empty", "garbage"])
def test_unreadable_files_raise_video_error_naming_them(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(VideoError, match="bad.mp4"):
        open_video(str(bad))


def test_missing_file_and_empty_folder(tmp_path):
    with pytest.raises(VideoError, match="nothere.mp4"):
        open_video(str(tmp_path / "nothere.mp4"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with pytest.raises(VideoError, match="empty"):
        open_video(str(tmp_path / "empty"))


def test_corrupt_image_in_the_middle_raises_frame_read_error(folder, tmp_path):
    import shutil

    root = tmp_path / "frames"
    shutil.copytree(folder, root)
    (root / "f5.png").write_bytes(b"\x89PNG not really")
    with open_video(str(root)) as video:
        video.read(4)
        with pytest.raises(FrameReadError, match=r"f5\.png.*frame 5"):
            video.read(5)
        with pytest.raises(FrameReadError):  # not cached as good, fails again
            video.read(5)
        assert video.read(6).shape == (240, 320, 3)  # the source stays usable


def test_failed_decode_is_not_cached_and_the_decoder_recovers(mp4, monkeypatch):
    truth = _sequential(mp4)
    with open_video(mp4, cache_mb=1) as video:
        video.read(9)
        real = type(video)._read_next
        calls = {"n": 0}

        def fail_once(self):
            calls["n"] += 1
            if calls["n"] == 1:
                self._next = -1
                return None
            return real(self)

        monkeypatch.setattr(type(video), "_read_next", fail_once)
        with pytest.raises(FrameReadError, match=r"clip\.mp4.*frame 10"):
            video.read(10)
        monkeypatch.setattr(type(video), "_read_next", real)
        assert np.array_equal(video.read(10), truth[10])
        assert np.array_equal(video.read(11), truth[11])


def test_out_of_range_index(mp4):
    with open_video(mp4) as video:
        with pytest.raises(FrameIndexError, match="clip.mp4"):
            video.read(FRAMES)
        with pytest.raises(IndexError):
            video[FRAMES + 5]


def test_sequential_reads_never_seek(mp4, monkeypatch):
    with open_video(mp4, cache_mb=8) as video:
        seeks = []
        real = type(video)._seek
        monkeypatch.setattr(type(video), "_seek", lambda self, i: (seeks.append(i), real(self, i)))
        video.read(20)  # one seek to get there
        for i in range(21, FRAMES):
            video.read(i)
        assert seeks == [20]
        video.read(10)  # backwards: one seek a little further back, then the cache serves the steps
        for i in range(9, 4, -1):
            video.read(i)
        assert len(seeks) == 2
