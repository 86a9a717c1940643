"""The GUI's frame loader: read-ahead, its cancellation on a jump, previews before exact frames."""
import threading
import time

import numpy as np
import pytest

from app.core.proxy import build_proxy
from app.core.video import ReadCancelled, open_video
from app.gui.frame_loader import FrameLoader
from trackers.data.synthetic import SyntheticClip


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    return SyntheticClip(num_frames=60, seed=4).write_video(str(tmp_path_factory.mktemp("loader") / "clip.mp4"))


class SlowVideo:
    """A source whose every decode takes a while and is logged with the requests (in one timeline)."""

    def __init__(self, events, lock):
        self.path, self.width, self.height, self.num_frames = "slow.mp4", 8, 6, 1000
        self.cache_budget_bytes = 10**9
        self.events, self.lock, self._cache = events, lock, {}

    def __len__(self):
        return self.num_frames

    def clone(self):
        return self

    def peek(self, index):
        return self._cache.get(index)

    def frames_to_reach(self, index):
        return 0 if index in self._cache else None

    def nearest_cached(self, index):
        return None

    def read(self, index, cancel=lambda: False):
        with self.lock:
            self.events.append(("read", index))
        time.sleep(0.01)
        if cancel() and index != 500:
            raise ReadCancelled("cancelled")
        self._cache[index] = np.full((6, 8, 3), index % 256, np.uint8)
        return self._cache[index]

    def close(self):
        pass


def test_read_ahead_runs_after_a_frame_and_stops_at_the_next_request(qtbot):
    events, lock = [], threading.Lock()
    loader = FrameLoader(SlowVideo(events, lock), proxy=None, read_ahead=50, read_behind=0)
    shown = []
    loader.frameReady.connect(lambda i, f: shown.append(i))
    try:
        loader.request(0)
        qtbot.waitUntil(lambda: ("read", 4) in events, timeout=5000)      # reading ahead of frame 0
        with lock:
            events.append(("request", 500))
            loader.request(500)
        qtbot.waitUntil(lambda: 500 in shown, timeout=5000)
        qtbot.waitUntil(lambda: ("read", 505) in events, timeout=5000)    # now reading ahead of 500
        after = events[events.index(("request", 500)) + 1:]
        stale = [i for kind, i in after if kind == "read" and i < 500]
        assert len(stale) <= 1          # at most the decode already running when the jump came
        assert shown == [0, 500]
        assert ("read", 50) not in events   # frame 0's read-ahead never finished
    finally:
        loader.close()


def test_read_ahead_fills_the_cache_so_steps_are_served_without_decoding(qtbot, mp4):
    with open_video(mp4) as video:
        loader = FrameLoader(video, proxy=None, read_ahead=10, read_behind=5)
        try:
            shown = []
            loader.frameReady.connect(lambda i, f: shown.append((i, f)))
            loader.request(30)
            qtbot.waitUntil(lambda: all(loader._video.peek(j) is not None for j in range(25, 41)), timeout=5000)
            decodes = []
            real = type(loader._video)._decode
            ours = loader._video

            def counting(self, i, cancel):
                if self is ours:
                    decodes.append(i)
                return real(self, i, cancel)

            type(ours)._decode = counting
            try:
                for j in (31, 32, 29):
                    loader.request(j)
                    qtbot.waitUntil(lambda: shown[-1][0] == j, timeout=5000)
                    assert np.array_equal(shown[-1][1], video.read(j))
            finally:
                type(loader._video)._decode = real
            assert decodes == [] or min(decodes) > 40 or max(decodes) < 25   # only further read-ahead decoded
        finally:
            loader.close()


def _slow_decoder(loader):
    """Decoding takes 0.2 s (like a long-GOP seek), so the order of preview and exact is deterministic."""
    ours = loader._video
    real = ours._decode
    ours._decode = lambda index, cancel: (time.sleep(0.2), real(index, cancel))[1]


def _collect(loader):
    events = []
    loader.previewReady.connect(lambda req, shown, frame, kind: events.append(("preview", req, shown, kind, frame)))
    loader.frameReady.connect(lambda i, frame: events.append(("exact", i, i, "exact", frame)))
    return events


def test_proxy_preview_comes_before_the_exact_frame_and_matches_it(qtbot, mp4):
    with open_video(mp4) as video:
        build_proxy(video, quality=90)
        loader = FrameLoader(video, read_ahead=0, read_behind=0)       # finds VIDEO.taproxy by itself
        try:
            assert loader.proxy is not None
            events = _collect(loader)
            loader.read_now(2)
            _slow_decoder(loader)
            loader.request(50)                                         # far from the decoder: a seek
            qtbot.waitUntil(lambda: any(e[0] == "exact" for e in events), timeout=5000)
            qtbot.wait(50)
            kinds = [(e[0], e[1], e[2], e[3]) for e in events]
            assert kinds == [("preview", 50, 50, "proxy"), ("exact", 50, 50, "exact")]
            assert np.abs(events[0][4].astype(int) - events[1][4].astype(int)).mean() < 2.5
            events.clear()
            loader.request(50)                                         # cached now: exact only, once
            qtbot.waitUntil(lambda: bool(events), timeout=5000)
            qtbot.wait(50)
            assert [e[0] for e in events] == ["exact"]
        finally:
            loader.close()


def test_without_a_proxy_the_nearest_decoded_frame_is_the_preview(qtbot, mp4):
    with open_video(mp4) as video:
        loader = FrameLoader(video, proxy=None, read_ahead=0, read_behind=0)
        try:
            events = _collect(loader)
            loader.read_now(10)
            _slow_decoder(loader)
            loader.request(45)
            qtbot.waitUntil(lambda: any(e[0] == "exact" for e in events), timeout=5000)
            qtbot.wait(50)
            assert [e[0] for e in events] == ["preview", "exact"]
            _, requested, shown, kind, frame = events[0]
            assert (requested, kind) == (45, "nearest") and shown != 45
            assert np.array_equal(frame, video.read(shown))            # labelled with the frame it really is
        finally:
            loader.close()
