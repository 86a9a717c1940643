"""Both video backends on a long-GOP H.264 file: any read order gives exactly the sequential decode's pixels.

The file is written with PyAV's libx264 (a keyframe every ``GOP`` frames, checked
below), the kind of file where a seek costs a decode from the previous keyframe.
"""
import av
import numpy as np
import pytest

from app.core.errors import VideoError
from app.core.video import BACKENDS, ReadCancelled, open_video
from trackers.data.synthetic import SyntheticClip

FRAMES, GOP = 90, 30


@pytest.fixture(scope="module")
def clip():
    return SyntheticClip(num_frames=FRAMES, seed=5)


@pytest.fixture(scope="module")
def h264(clip, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("h264") / "long_gop.mp4")
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.gop_size = GOP
        stream.codec_context.options = {"preset": "ultrafast", "keyint": str(GOP), "min-keyint": str(GOP),
                                        "scenecut": "0", "threads": "1"}
        for i in range(FRAMES):
            for packet in stream.encode(av.VideoFrame.from_ndarray(clip.frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def truth(h264):
    """Every frame by plain sequential decoding, per backend (each converts YUV to RGB its own way)."""
    import cv2

    cap, frames_cv = cv2.VideoCapture(h264), []
    while (got := cap.read())[0]:
        frames_cv.append(cv2.cvtColor(got[1], cv2.COLOR_BGR2RGB))
    with av.open(h264) as container:
        frames_av = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames_cv) == len(frames_av) == FRAMES
    with av.open(h264) as container:
        keyframes = [i for i, p in enumerate(container.demux(video=0)) if p.is_keyframe]
    assert keyframes == list(range(0, FRAMES, GOP))
    return {"opencv": frames_cv, "pyav": frames_av}


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_jumps_and_backward_steps_equal_sequential_decode(h264, truth, clip, backend):
    rng = np.random.default_rng(1)
    order = [int(i) for i in rng.permutation(FRAMES)] + list(range(70, 50, -1)) + [0, FRAMES - 1, 29, 30, 31, 1]
    with open_video(h264, cache_mb=1, backend=backend) as video:   # a tiny cache: nearly every read seeks
        assert (len(video), video.width, video.height, video.fps) == (FRAMES, 320, 240, 25.0)
        for i in order:
            assert np.array_equal(video.read(i), truth[backend][i]), f"{backend}: frame {i}"
        # and the frames are the clip's, within codec tolerance
        assert np.abs(video.read(45).astype(int) - clip.frame(45).astype(int)).mean() < 8


def test_pyav_seek_decodes_only_from_the_keyframe_before_the_target(h264, truth, monkeypatch):
    from app.core.video_av import AvVideoSource

    with open_video(h264, cache_mb=1, backend="pyav") as video:
        decoded = []
        real = AvVideoSource._read_next
        monkeypatch.setattr(AvVideoSource, "_read_next",
                            lambda self: (lambda got: (decoded.append(got and got[0]), got)[1])(real(self)))
        assert np.array_equal(video.read(2 * GOP + 20), truth["pyav"][2 * GOP + 20])
        # the keyframe at 2*GOP, then forward to the target: nothing before the keyframe is decoded
        # (the seek's first frame is counted twice: read once to check where the seek landed, then returned)
        assert sorted(set(decoded)) == list(range(2 * GOP, 2 * GOP + 21))
        decoded.clear()
        assert np.array_equal(video.read(2 * GOP + 25), truth["pyav"][2 * GOP + 25])
        assert decoded == list(range(2 * GOP + 21, 2 * GOP + 26))   # kept its position: no seek


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancelled_read_raises_and_the_source_stays_exact(h264, truth, backend):
    with open_video(h264, cache_mb=1, backend=backend) as video:
        video.read(5)
        with pytest.raises(ReadCancelled, match="long_gop.mp4"):
            video.read(GOP - 2, cancel=lambda: True)     # decoding through: stops after the first frame
        assert video.peek(GOP - 2) is None
        for i in (GOP - 2, GOP - 1, 3, FRAMES - 1):
            assert np.array_equal(video.read(i), truth[backend][i])


def test_pyav_backend_corrects_an_overstated_count_and_names_bad_files(clip, tmp_path):
    import cv2

    full = clip.write_video(str(tmp_path / "full.avi"), fourcc="MJPG")
    data = open(full, "rb").read()
    (tmp_path / "cut.avi").write_bytes(data[: int(len(data) * 0.6)])
    with open_video(str(tmp_path / "cut.avi"), backend="pyav") as video:
        assert 0 < len(video) < FRAMES
        for i in (0, len(video) // 2, len(video) - 1):
            assert video.read(i).shape == (240, 320, 3)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 4096)
    with pytest.raises(VideoError, match="bad.mp4"):
        open_video(str(tmp_path / "bad.mp4"), backend="pyav")
    with pytest.raises(VideoError, match="unknown video backend"):
        open_video(full, backend="gstreamer")
    assert cv2 is not None


def test_nearest_cached_and_frames_to_reach(h264):
    with open_video(h264, cache_mb=1, backend="pyav") as video:
        video.read(40)
        assert video.frames_to_reach(40) == 0
        assert video.frames_to_reach(43) == 3              # decodes 41, 42, 43 without a seek
        assert video.frames_to_reach(5) is None            # behind the decoder: a seek
        index, frame = video.nearest_cached(60)
        assert index == 40 and np.array_equal(frame, video.read(40))
