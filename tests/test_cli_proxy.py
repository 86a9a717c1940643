"""``trackassist proxy``: builds a valid proxy, keeps a fresh one, Ctrl-C leaves nothing, bad videos are clear errors."""
import os
import signal

import pytest

from app.cli import proxy_cmd
from app.core import proxy_progress
from app.cli.main import main
from app.core.proxy import ProxyFrames, find_proxy, proxy_path_for
from app.core.video import open_video
from trackers.data.synthetic import SyntheticClip

FRAMES = 30


@pytest.fixture()
def mp4(tmp_path):
    return SyntheticClip(num_frames=FRAMES, seed=5).write_video(str(tmp_path / "clip.mp4"))


def _quality(path):
    with ProxyFrames(path) as proxy:
        return proxy.meta["jpeg_quality"], proxy.meta["proxy_height"]


def test_builds_a_proxy_the_loader_finds_with_progress_on_stderr(mp4, capsys, monkeypatch):
    monkeypatch.setattr(proxy_progress, "REPORT_INTERVAL_S", 0.0)
    assert main(["proxy", mp4, "--max-height", "120", "--quality", "70"]) == 0
    err = capsys.readouterr().err
    assert f"{FRAMES}/{FRAMES} frames (100%)" in err and "frames/s" in err and "ETA" in err
    assert _quality(proxy_path_for(mp4)) == (70, 120)
    with open_video(mp4) as video:
        proxy = find_proxy(video)
        assert proxy is not None and proxy.num_frames == FRAMES
        proxy.close()


def test_a_fresh_proxy_is_kept_unless_force(mp4, capsys):
    assert main(["proxy", mp4, "--quality", "60"]) == 0
    assert main(["proxy", mp4, "--quality", "90"]) == 0
    assert "already there" in capsys.readouterr().err
    assert _quality(proxy_path_for(mp4))[0] == 60            # kept
    assert main(["proxy", mp4, "--quality", "90", "--force"]) == 0
    assert _quality(proxy_path_for(mp4))[0] == 90            # rebuilt


def test_a_damaged_proxy_is_rebuilt(mp4, capsys):
    path = proxy_path_for(mp4)
    with open(path, "wb") as f:
        f.write(b"TAPROXY1 not really")
    assert main(["proxy", mp4]) == 0
    assert "stale or damaged" in capsys.readouterr().err
    ProxyFrames(path).close()                                # valid now


def test_ctrl_c_leaves_no_partial_file(mp4, capsys, monkeypatch):
    real_open = proxy_cmd.open_video

    class InterruptedAtFrame5:
        """The real video; a Ctrl-C arrives while frame 5 is read."""

        def __init__(self, video):
            self.video = video

        def __getattr__(self, name):
            return getattr(self.video, name)

        def __len__(self):
            return len(self.video)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.video.close()

        def read(self, index, *args, **kwargs):
            if index == 5:
                os.kill(os.getpid(), signal.SIGINT)
            return self.video.read(index, *args, **kwargs)

    monkeypatch.setattr(proxy_cmd, "open_video", lambda path, **kw: InterruptedAtFrame5(real_open(path, **kw)))
    # whatever handled SIGINT before (Python's default, or SIG_IGN when the suite runs in a background job)
    before = signal.getsignal(signal.SIGINT)
    assert main(["proxy", mp4]) == 130
    assert "interrupted; no proxy written" in capsys.readouterr().err
    assert sorted(os.listdir(os.path.dirname(mp4))) == ["clip.mp4"]
    assert signal.getsignal(signal.SIGINT) is before   # handler restored


def test_missing_and_corrupt_videos_are_clear_errors(tmp_path, capsys):
    assert main(["proxy", str(tmp_path / "missing.mp4")]) == 2
    err = capsys.readouterr().err
    assert "trackassist proxy: error:" in err and "missing.mp4" in err and "Traceback" not in err
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    assert main(["proxy", str(corrupt)]) == 2
    assert "corrupt.mp4" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["corrupt.mp4"]


def test_out_of_range_quality_is_refused(mp4, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["proxy", mp4, "--quality", "101"])
    assert exc.value.code != 0 and "--quality" in capsys.readouterr().err
    assert not os.path.exists(proxy_path_for(mp4))
