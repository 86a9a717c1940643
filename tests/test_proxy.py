"""The display proxy: same frames within JPEG tolerance, complete-or-absent files, stale and damaged ones ignored."""
import os

import numpy as np
import pytest

from app.cli.main import main
from app.core.proxy import ProxyError, ProxyFrames, build_proxy, find_proxy, proxy_path_for
from app.core.video import open_video
from trackers.data.synthetic import SyntheticClip

FRAMES = 30


@pytest.fixture()
def mp4(tmp_path):
    return SyntheticClip(num_frames=FRAMES, seed=11).write_video(str(tmp_path / "clip.mp4"))


def test_proxy_frames_equal_the_originals_within_jpeg_tolerance(mp4):
    with open_video(mp4) as video:
        path = build_proxy(video, quality=90)
        assert path == proxy_path_for(mp4) and os.path.exists(path)
        with find_proxy(video) as proxy:
            assert (proxy.num_frames, proxy.width, proxy.height) == (FRAMES, 320, 240)
            for i in (0, 7, FRAMES - 1):
                diff = np.abs(proxy.read(i).astype(int) - video.read(i).astype(int))
                assert diff.mean() < 2.5, i
                other = np.abs(proxy.read(i).astype(int) - video.read((i + 5) % FRAMES).astype(int)).mean()
                assert other > 2 * diff.mean()          # it is frame i, not a neighbour
            with pytest.raises(ProxyError, match="outside"):
                proxy.read(FRAMES)


def test_a_smaller_proxy_is_shown_at_the_source_size(mp4, tmp_path):
    with open_video(mp4) as video:
        path = build_proxy(video, str(tmp_path / "small.taproxy"), max_height=120)
        with ProxyFrames(path) as proxy:
            assert proxy.meta["proxy_height"] == 120 and proxy.meta["proxy_width"] == 160
            frame = proxy.read(3)
            assert frame.shape == (240, 320, 3)
            assert np.abs(frame.astype(int) - video.read(3).astype(int)).mean() < 8


def test_stale_and_damaged_proxies_are_not_used(mp4):
    with open_video(mp4) as video:
        path = build_proxy(video)
        assert find_proxy(video) is not None
        data = open(path, "rb").read()
        open(path, "wb").write(data[:-40])                        # cut short
        assert find_proxy(video) is None
        with pytest.raises(ProxyError, match="clip.mp4.taproxy"):
            ProxyFrames(path)
        open(path, "wb").write(data)
        st = os.stat(mp4)
        os.utime(mp4, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the video changed since
        assert find_proxy(video) is None


def test_a_cancelled_build_leaves_no_file(mp4):
    with open_video(mp4) as video:
        calls = []
        assert build_proxy(video, cancel=lambda: (calls.append(1), len(calls) > 10)[1]) is None
    assert not os.path.exists(proxy_path_for(mp4))
    assert [n for n in os.listdir(os.path.dirname(mp4)) if n != "clip.mp4"] == []


def test_command_line_builds_the_proxy_the_loader_finds(mp4, tmp_path, capsys):
    assert main(["proxy", mp4, "--quality", "80"]) == 0
    with open_video(mp4) as video, find_proxy(video) as proxy:
        assert proxy.meta["jpeg_quality"] == 80
    assert main(["proxy", str(tmp_path / "missing.mp4")]) == 2
    assert "missing.mp4" in capsys.readouterr().err
