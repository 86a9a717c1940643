"""``trackassist proxy VIDEO``: build the display proxy ``VIDEO.taproxy`` (see :mod:`app.core.proxy`).

Example::

    trackassist proxy long_video.mp4 --max-height 720 --quality 85

Progress (frames/s, ETA) goes to stderr.  Ctrl-C stops the build and leaves no
partial file (``build_proxy`` writes a temporary file and renames it only when
complete).  A proxy that is already there and fresh (built from the video as
it is now) is kept unless ``--force``; a stale or damaged one is rebuilt.
The GUI's "Build display proxy" action uses the same :mod:`app.core.proxy_progress`.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from app.core.proxy import DEFAULT_MAX_HEIGHT, DEFAULT_QUALITY, ProxyError, find_proxy, proxy_path_for
from app.core.proxy_progress import build_with_progress, format_progress
from app.core.video import open_video


def _int_in(lo: int, hi: int, what: str):
    def parse(text: str) -> int:
        import argparse

        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be in {lo}..{hi}, got {value}")
        return value
    return parse


def add_arguments(parser) -> None:
    parser.add_argument("video", help="video file or image folder; the proxy is written beside it as VIDEO.taproxy")
    parser.add_argument("--max-height", type=_int_in(16, 100000, "--max-height"), default=DEFAULT_MAX_HEIGHT,
                        metavar="N", help=f"proxy frame height at most N pixels (default {DEFAULT_MAX_HEIGHT})")
    parser.add_argument("--quality", type=_int_in(1, 100, "--quality"), default=DEFAULT_QUALITY, metavar="Q",
                        help=f"JPEG quality 1-100 (default {DEFAULT_QUALITY})")
    parser.add_argument("--force", action="store_true", help="rebuild even if a fresh proxy is already there")


def run(args) -> int:
    with open_video(args.video, cache_mb=16) as video:
        path = proxy_path_for(video.path)
        existing = find_proxy(video)
        if existing is not None:
            meta = existing.meta
            existing.close()
            if not args.force:
                print(f"{path}: a fresh proxy is already there ({meta.get('proxy_width')}x{meta.get('proxy_height')}, "
                      f"JPEG quality {meta.get('jpeg_quality')}); kept (--force rebuilds it)", file=sys.stderr)
                return 0
        elif os.path.exists(path):
            print(f"{path}: stale or damaged proxy, rebuilding it", file=sys.stderr)
        interrupted = _CtrlC()
        t0 = time.perf_counter()
        try:
            with interrupted:
                built = build_with_progress(
                    video, args.max_height, args.quality, cancel=interrupted.is_set,
                    report=lambda *p: print("\r" + format_progress(*p).ljust(72), end="", file=sys.stderr, flush=True))
        except OSError as exc:   # e.g. a read-only folder: the project's error names the file
            raise ProxyError(f"{path}: cannot write the proxy ({exc.strerror or exc})") from None
        finally:
            print(file=sys.stderr)
    if built is None:
        print(f"trackassist proxy: interrupted; no proxy written ({path})", file=sys.stderr)
        return 130
    size_mb = os.path.getsize(built) / 2 ** 20
    print(f"{built}: {len(video)} frames, {size_mb:.1f} MB in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


class _CtrlC:
    """Within the block, Ctrl-C asks the build to stop (between two frames) instead of raising at once.

    A second Ctrl-C raises KeyboardInterrupt as usual; ``build_proxy`` removes
    its temporary file either way.
    """

    def __init__(self) -> None:
        self._set = False
        self._installed, self._old = False, None

    def is_set(self) -> bool:
        return self._set

    def _handle(self, signum, frame) -> None:
        if self._set:
            raise KeyboardInterrupt
        self._set = True

    def __enter__(self) -> "_CtrlC":
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        except ValueError:   # not the main thread: no handler, KeyboardInterrupt cannot arrive here anyway
            pass
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._old if self._old is not None else signal.SIG_DFL)
