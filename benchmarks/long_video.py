"""Long videos: open time, scrub latency as the window sees it, peak memory, a CSRT run.

    python benchmarks/long_video.py [--minutes 60] [--minutes-720p 10] [--folder-minutes 60] [--proxy-1080p]
                                    [--work /tmp/trackassist_long] [--markdown docs/BENCHMARKS.md]

Generates (once; reused while the files are complete) these sources, all a
static background with a moving red rectangle at 25 fps:

* a 720p mp4v video (``--minutes-720p``) by ``cv2.VideoWriter``, whose FFmpeg
  writer puts a keyframe every 12 frames (it ignores
  ``VIDEOWRITER_PROP_KEY_INTERVAL`` for mp4v; the ``stss`` box counts them);
* a 720p and a 1080p (``--minutes``) H.264 video with a keyframe every 250
  frames, typical of cameras and the web, written with PyAV's libx264 (the
  ``bench`` extra: ``pip install -e '.[bench]'``; never needed at run time);
* the 720p H.264 video's display proxy (``VIDEO.taproxy``, app/core/proxy.py),
  and with ``--proxy-1080p`` the 1080p one's;
* a 1080p image folder with one name per frame of an hour, hard-linked to
  ``DISTINCT_FRAMES`` distinct JPEG files (seconds to make, not an hour of
  JPEG encoding; every read still decodes a full 1080p JPEG).

Each (source, decoder, proxy or not) is measured in a fresh child process, so
the peak RSS is the measurement's own: open time, then the GUI's
:class:`app.gui.frame_loader.FrameLoader` is driven like the timeline drives
it and timed when its signals reach the main thread's event loop: random
jumps (first image shown, exact frame shown) and +1 / -1 steps.  On the 1080p
H.264 video a CSRT run of ``PROPAGATE_FRAMES`` frames goes through
:func:`app.core.propagation.propagate` into a project file.  Goals (issue 10):
open <= 2 s, peak RSS <= 1.5 GB, p95 scrub <= 30 ms at 720p.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import struct
import subprocess
import sys
import time

import cv2
import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, QTimer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FPS = 25.0
DISTINCT_FRAMES = 250
PROPAGATE_FRAMES = 300
JUMPS = 100
DWELL_S = 0.2            # looking at a frame before the next jump
STEP_START_DWELL_S = 0.5  # looking at a frame before pressing an arrow key
STEP_INTERVAL_S = 0.033
GOP = 250
STEP_BURSTS, STEP_LEN = 8, 30
MARK_BEGIN, MARK_END = "<!-- long-video -->", "<!-- /long-video -->"


# -- synthetic content ---------------------------------------------------------------

def target_box(i: int, width: int, height: int) -> tuple[float, float, float, float]:
    """The moving rectangle's box on frame ``i``: a slow back-and-forth sweep with a vertical wave."""
    w, h = width // 10, height // 7
    span = width - w - 40
    x = 20 + abs((i * 3) % (2 * span) - span)
    y = height // 2 - h // 2 + int(height * 0.15 * np.sin(i / 40.0))
    return float(x), float(y), float(w), float(h)


def background(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    bg = np.dstack([xx * 200 // width + 20, yy * 200 // height + 30, (xx + yy) * 100 // (width + height) + 60])
    bg = bg.astype(np.uint8)
    rng = np.random.default_rng(7)
    for _ in range(14):   # static clutter to track against
        x, y = int(rng.integers(0, width - width // 6)), int(rng.integers(0, height - height // 6))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.rectangle(bg, (x, y), (x + int(rng.integers(20, width // 6)), y + int(rng.integers(20, height // 6))),
                      colour, -1)
    return bg


def render(bg: np.ndarray, i: int, out: np.ndarray) -> np.ndarray:
    """Frame ``i`` (BGR) into ``out``; only the band the rectangle can touch is redrawn."""
    height, width = bg.shape[:2]
    x, y, w, h = (int(v) for v in target_box(i, width, height))
    band = slice(max(0, int(height * 0.35) - h), min(height, int(height * 0.65) + h))
    out[band] = bg[band]
    cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (30, 30, 220), -1)
    cv2.rectangle(out, (x + w // 4, y + h // 4), (x + w // 2, y + h // 2), (240, 240, 240), -1)
    return out


def keyframe_interval(path: str) -> float | None:
    """Mean distance between keyframes from the mp4 ``stss`` box (None if absent)."""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 64 * 1024 * 1024))   # moov sits at the end for cv2's muxer
        data = f.read()
    at = data.rfind(b"stss")
    if at < 0:
        return None
    count = struct.unpack(">I", data[at + 8:at + 12])[0]
    frames = cv2.VideoCapture(path).get(cv2.CAP_PROP_FRAME_COUNT)
    return frames / count if count else None


def record_seconds(path: str, seconds: float) -> float:
    """Mark ``path`` complete, keeping how long it took to make (reported when it is reused)."""
    with open(path + ".done", "w") as f:
        f.write(f"{seconds:.1f}\n")
    return seconds


def recorded_seconds(path: str) -> float | None:
    """Seconds recorded by :func:`record_seconds`, None if not recorded (older runs left it empty)."""
    try:
        return float(open(path + ".done").read().strip())
    except (OSError, ValueError):
        return None


def generate_video(path: str, width: int, height: int, frames: int) -> float:
    """Write the clip unless a complete one exists; returns seconds spent."""
    if os.path.exists(path) and os.path.exists(path + ".done"):
        return recorded_seconds(path)
    t0 = time.perf_counter()
    tmp = path + ".part.mp4"
    writer = cv2.VideoWriter(tmp, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height))
    if not writer.isOpened():
        raise SystemExit(f"cv2.VideoWriter cannot write {tmp}")
    bg = background(width, height)
    frame = bg.copy()
    for i in range(frames):
        writer.write(render(bg, i, frame))
        if i % 5000 == 0:
            print(f"  {os.path.basename(path)}: frame {i}/{frames} after {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    writer.release()
    os.replace(tmp, path)
    return record_seconds(path, time.perf_counter() - t0)


def generate_h264(path: str, width: int, height: int, frames: int, gop: int = 250) -> float:
    """Write a long-GOP H.264 clip with PyAV (the ``bench`` extra) unless a complete one exists.

    A keyframe exactly every ``gop`` frames (x264 ``keyint = min-keyint = gop``,
    no scene-cut keyframes), the typical camera/web setting that makes seeking
    expensive.  ``ultrafast`` and one encoder thread keep a 60-minute 1080p
    file at about 7 ms a frame on this machine (measured: 11 min for 90,000 frames).
    """
    if os.path.exists(path) and os.path.exists(path + ".done"):
        return recorded_seconds(path)
    try:
        import av
    except ImportError:
        raise SystemExit("generating H.264 needs PyAV: pip install -e '.[bench]'  (or: pip install av)") from None
    t0 = time.perf_counter()
    tmp = path + ".part.mp4"
    container = av.open(tmp, "w")
    stream = container.add_stream("libx264", rate=int(FPS))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.gop_size = gop
    stream.codec_context.options = {"preset": "ultrafast", "crf": "28", "threads": "1", "keyint": str(gop),
                                    "min-keyint": str(gop), "scenecut": "0"}
    bg = background(width, height)
    frame = bg.copy()
    for i in range(frames):
        yuv = cv2.cvtColor(render(bg, i, frame), cv2.COLOR_BGR2YUV_I420)
        for packet in stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
            container.mux(packet)
        if i % 5000 == 0:
            print(f"  {os.path.basename(path)}: frame {i}/{frames} after {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    os.replace(tmp, path)
    return record_seconds(path, time.perf_counter() - t0)


def generate_folder(folder: str, width: int, height: int, frames: int) -> float:
    if os.path.exists(folder + ".done"):
        return recorded_seconds(folder)
    t0 = time.perf_counter()
    sources = folder + "_distinct"
    os.makedirs(sources, exist_ok=True)
    os.makedirs(folder, exist_ok=True)
    bg = background(width, height)
    frame = bg.copy()
    for k in range(DISTINCT_FRAMES):
        cv2.imwrite(os.path.join(sources, f"{k}.jpg"), render(bg, k, frame), [cv2.IMWRITE_JPEG_QUALITY, 90])
    for i in range(frames):
        name = os.path.join(folder, f"{i:06d}.jpg")
        if not os.path.exists(name):
            os.link(os.path.join(sources, f"{i % DISTINCT_FRAMES}.jpg"), name)
    return record_seconds(folder, time.perf_counter() - t0)


# -- measurement (runs in a child process) -----------------------------------------------

def percentiles(values_s: list[float]) -> dict:
    ms = np.asarray(values_s) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "mean_ms": round(float(ms.mean()), 1), "over_30ms": round(float((ms > 30).mean()), 3),
            "max_ms": round(float(ms.max()), 1), "n": int(len(ms))}


class LoaderProbe(QObject):
    """Drives the GUI's FrameLoader like the timeline does and times what the window would show.

    Times are taken in slots running on the main thread's event loop (queued
    signals from the loader's worker), i.e. when the frame view would call
    ``setImage``: the first image (a preview or the exact frame) and the exact frame.
    """

    def __init__(self, loader) -> None:
        super().__init__()                      # lives in the main thread: the loader's signals are queued here
        self.loader = loader
        self.loop = QEventLoop()
        # One timer, restarted per wait: a stale single-shot timer would end a later wait early.
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.loop.quit)
        self.target, self.t0, self.first, self.exact, self.kind = -1, 0.0, None, None, None
        self.error = None
        queued = Qt.ConnectionType.QueuedConnection
        loader.previewReady.connect(self._preview, queued)
        loader.frameReady.connect(self._exact, queued)
        loader.failed.connect(self._failed, queued)

    def _preview(self, requested, shown, frame, kind) -> None:
        if requested == self.target and self.first is None:
            self.first, self.kind = time.perf_counter() - self.t0, kind

    def _exact(self, index, frame) -> None:
        if index == self.target and self.exact is None:
            self.exact = time.perf_counter() - self.t0
            if self.first is None:
                self.first, self.kind = self.exact, "exact"
            self.loop.quit()

    def _failed(self, index, message) -> None:
        self.error = f"frame {index} failed: {message}"
        self.loop.quit()

    def show(self, index: int) -> tuple[float, float, str]:
        """Request frame ``index``; returns (first image s, exact frame s, kind of the first image)."""
        self.target, self.first, self.exact, self.kind = index, None, None, None
        self.t0 = time.perf_counter()
        self.loader.request(index)
        if self.exact is None:
            self._run_loop(20.0)
        if self.exact is None:
            raise SystemExit(self.error or f"frame {index} was not delivered within 20 s")
        return self.first, self.exact, self.kind

    def idle(self, seconds: float) -> None:
        """Let the event loop (and the loader's read-ahead) run, as while a person looks at a frame."""
        if seconds > 0:
            self._run_loop(seconds)

    def _run_loop(self, seconds: float) -> None:
        self.timer.start(int(seconds * 1000))
        self.loop.exec()
        self.timer.stop()


def measure(path: str, backend: str, proxy: bool, propagate_frames: int, project: str | None,
            jumps: int = JUMPS, step_bursts: int = STEP_BURSTS) -> dict:
    from app.core.video import open_video
    from app.gui.frame_loader import FrameLoader

    app = QCoreApplication.instance() or QCoreApplication([])
    t0 = time.perf_counter()
    video = open_video(path, backend=backend)
    loader = FrameLoader(video, proxy="auto" if proxy else None)   # what the frame view constructs
    out = {"path": path, "backend": backend, "open_s": round(time.perf_counter() - t0, 3), "frames": len(video),
           "size": f"{video.width}x{video.height}", "proxy": loader.proxy is not None}
    if proxy and loader.proxy is None:
        raise SystemExit(f"{path}: no valid proxy beside it (trackassist proxy {path})")
    probe = LoaderProbe(loader)
    probe.show(0)
    n = len(video)
    rng = np.random.default_rng(0)
    first, same, exact, kinds = [], [], [], {}
    for i in rng.integers(0, n, jumps):
        f, e, kind = probe.show(int(i))
        first.append(f)
        same.append(e if kind == "nearest" else f)   # the requested frame itself: from the proxy or exact
        exact.append(e)
        kinds[kind] = kinds.get(kind, 0) + 1
        probe.idle(DWELL_S)
    out["jump_first"], out["jump_same"], out["jump_exact"] = percentiles(first), percentiles(same), percentiles(exact)
    out["jump_first_kinds"] = kinds
    forward, backward = [], []
    for start in rng.integers(STEP_LEN + 1, n - STEP_LEN - 1, step_bursts):
        for direction, times in ((1, forward), (-1, backward)):
            probe.show(int(start))                   # the jump there is not a step
            probe.idle(STEP_START_DWELL_S)
            for k in range(1, STEP_LEN + 1):
                times.append(probe.show(int(start) + direction * k)[1])
                probe.idle(STEP_INTERVAL_S)
    out["step_forward"], out["step_backward"] = percentiles(forward), percentiles(backward)
    loader.close()
    if propagate_frames:
        out["propagation"] = run_propagation(video, project, propagate_frames)
    video.close()
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    return out


def run_propagation(video, project: str, frames: int) -> dict:
    from app.core.model import FrameAnnotation
    from app.core.propagation import PropagationRequest, propagate
    from app.core.store import ProjectStore
    from trackers.ops.boxes import iou_xywh

    if os.path.exists(project):
        os.unlink(project)
    start = len(video) // 2
    with ProjectStore.open(project, video_path=video.path) as store:
        tid = store.add_object("rectangle", tracker="csrt")
        store.put(tid, start, FrameAnnotation(box=target_box(start, video.width, video.height)))
        request = PropagationRequest(tid, start, stop=start + frames, tracker="csrt", device="cpu")
        t0 = time.perf_counter()
        results = list(propagate(video, store, request))
        seconds = time.perf_counter() - t0
        stored = store.frames(tid)
    ious = [iou_xywh(stored[r.index].box, target_box(r.index, video.width, video.height))
            for r in results if r.written and stored[r.index].box is not None]
    return {"frames": len(results), "written": sum(r.written for r in results),
            "errors": sum(1 for r in results if r.error), "seconds": round(seconds, 1),
            "fps": round(len(results) / seconds, 1), "mean_iou": round(float(np.mean(ious)), 3) if ious else None}


def measure_in_child(path: str, backend: str = "opencv", proxy: bool = False, propagate_frames: int = 0,
                     project: str | None = None, jumps: int = JUMPS, step_bursts: int = STEP_BURSTS) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--measure", path, "--backend", backend,
           "--propagate", str(propagate_frames), "--jumps", str(jumps), "--step-bursts", str(step_bursts)]
    cmd += ["--with-proxy"] if proxy else []
    if project:
        cmd += ["--project", project]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"measuring {path} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_proxy(path: str) -> float:
    """Build ``PATH.taproxy`` with the product's builder unless a valid one exists; returns seconds spent."""
    from app.core.proxy import build_proxy, find_proxy
    from app.core.video import open_video

    with open_video(path, cache_mb=16) as video:
        existing = find_proxy(video)
        if existing is not None:
            existing.close()
            return recorded_seconds(existing.path)
        t0 = time.perf_counter()
        proxy = build_proxy(video)
        return record_seconds(proxy, time.perf_counter() - t0)


# -- report --------------------------------------------------------------------------------

def _pp(q: dict) -> str:
    return f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f} ({q['over_30ms']:.0%})"


def row(label: str, r: dict, kind: str) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["jump_first_kinds"].items()))
    display = "original + proxy" if r["proxy"] else "original"
    return (f"| {label} | {kind} | {r['backend']} | {display} | {r['open_s']:.2f} | {_pp(r['jump_exact'])} | "
            f"**{_pp(r['jump_same'])}** | {_pp(r['jump_first'])} [{kinds}] | {_pp(r['step_forward'])} | "
            f"{_pp(r['step_backward'])} | "
            f"{r['peak_rss_mb']:.0f} |")


def render_markdown(results: dict, command: str) -> str:
    lines = [MARK_BEGIN, "## Long videos", "",
             f"Measured with `{command}` on {results['machine']} (`nice -n 5`, `OMP_NUM_THREADS=1`; "
             f"load average {results['load_before']} before, {results['load_after']} after; the 2 cores were "
             "shared with other work, so latencies are upper bounds).", "",
             "What is timed is what the window shows: the GUI's `FrameLoader` (app/gui/frame_loader.py, the "
             "object the frame view uses) is asked for a frame, and the clock stops when its signal reaches a "
             "slot on the main thread's event loop, where the frame view calls `setImage`. **Exact** = the "
             "original frame (`frameReady`). **First image** = whatever is shown first: a preview "
             "(`previewReady`: `proxy` = the same frame from the JPEG display proxy, `nearest` = the nearest "
             "frame already decoded, which is a DIFFERENT frame) or the exact frame itself. **Requested frame** "
             "= the first time the requested frame itself is shown (proxy or exact; a `nearest` preview does not "
             "count): the scrub goal applies to this column. Cells: p50 / p95 in ms (share over 30 ms). " + VIEW_NOTE, "",
             "| source | encoding | decoder | display | open (s) | random jump: exact frame | "
             "random jump: requested frame | random jump: first image [what it was] | +1 step: exact | "
             "-1 step: exact | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, r, kind in results["rows"]:
        lines.append(row(label, r, kind))
    prop = results.get("propagation")
    if prop:
        lines += ["", f"CSRT through `propagate()` into a project on {results['propagation_on']}: {prop['frames']} "
                      f"frames ({prop['written']} written, {prop['errors']} failed) in {prop['seconds']} s = "
                      f"{prop['fps']} frames/s, mean IoU with the drawn rectangle {prop['mean_iou']}."]
    lines += ["", "Goals: open <= 2 s, peak RSS <= 1.5 GB, p95 scrub <= 30 ms at 720p. " + results["verdict"],
              "", results["notes"], MARK_END]
    return "\n".join(lines)


def update_markdown(path: str, section: str) -> None:
    """Replace the marked section (or append it); the rest of the file belongs to others."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        tail = rest.split(MARK_END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def verdict(results: dict) -> str:
    rows = results["rows"]
    opens = max(r["open_s"] for _, r, _ in rows)
    rss = max(r["peak_rss_mb"] for _, r, _ in rows)
    parts = [f"slowest open {opens:.2f} s ({'met' if opens <= 2 else 'missed'})",
             f"largest peak RSS {rss:.0f} MB ({'met' if rss <= 1536 else 'missed'})"]
    for label, r, kind in rows:
        if not r["size"].endswith("x720"):
            continue
        exact, same = r["jump_exact"]["p95_ms"], r["jump_same"]["p95_ms"]
        steps = max(r["step_forward"]["p95_ms"], r["step_backward"]["p95_ms"])
        display = "with proxy" if r["proxy"] else "no proxy"
        parts.append(f"{kind.split(',')[0]} ({r['backend']}, {display}): random jump p95 exact frame {exact:.0f} ms "
                     f"({'met' if exact <= 30 else 'missed'}), requested frame {same:.0f} ms "
                     f"({'met' if same <= 30 else 'missed'}), +/-1 steps {steps:.0f} ms "
                     f"({'met' if steps <= 30 else 'missed'})")
    return "Result: " + "; ".join(parts) + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the 1080p H.264 video")
    parser.add_argument("--minutes-720p", type=float, default=10.0, help="length of the 720p videos")
    parser.add_argument("--folder-minutes", type=float, default=60.0, help="length of the 1080p image folder")
    parser.add_argument("--proxy-1080p", action="store_true", help="also build and measure the 1080p video's proxy")
    parser.add_argument("--work", default="/tmp/trackassist_long", help="folder for the generated sources")
    parser.add_argument("--jumps", type=int, default=JUMPS, help="random jumps per source")
    parser.add_argument("--step-bursts", type=int, default=STEP_BURSTS, help="bursts of +1 and of -1 steps")
    parser.add_argument("--markdown", default=None, help="update the 'long-video' section of this file")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="opencv", help=argparse.SUPPRESS)
    parser.add_argument("--with-proxy", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--propagate", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--project", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.backend, args.with_proxy, args.propagate, args.project,
                                 args.jumps, args.step_bursts)))
        return 0

    command = "python benchmarks/long_video.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    os.makedirs(args.work, exist_ok=True)
    n1080, n720 = int(args.minutes * 60 * FPS), int(args.minutes_720p * 60 * FPS)
    n_folder = int(args.folder_minutes * 60 * FPS)
    results = {"machine": f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}, OpenCV {cv2.__version__}",
               "load_before": "%.1f" % os.getloadavg()[0], "rows": []}
    mp4v720 = os.path.join(args.work, f"long_720p_{n720}.mp4")
    h264_720 = os.path.join(args.work, f"long_720p_h264_gop{GOP}_{n720}.mp4")
    h264_1080 = os.path.join(args.work, f"long_1080p_h264_gop{GOP}_{n1080}.mp4")
    folder = os.path.join(args.work, f"folder_1080p_{n_folder}")
    gen = {"720p mp4v": generate_video(mp4v720, 1280, 720, n720),
           "720p H.264": generate_h264(h264_720, 1280, 720, n720, GOP),
           "1080p folder": generate_folder(folder, 1920, 1080, n_folder),
           "1080p H.264": generate_h264(h264_1080, 1920, 1080, n1080, GOP),
           "720p H.264 proxy": ensure_proxy(h264_720)}
    if args.proxy_1080p:
        gen["1080p H.264 proxy"] = ensure_proxy(h264_1080)
    print("generation seconds (None = not recorded):", json.dumps(gen), file=sys.stderr)
    gop_mp4v = keyframe_interval(mp4v720)
    m720, m1080, mf = f"720p, {args.minutes_720p:g} min", f"1080p, {args.minutes:g} min", f"{args.folder_minutes:g} min"
    plan = [(m720, mp4v720, f"mp4v, keyframe every {gop_mp4v:.0f}", "opencv", False, 0),
            (m720, mp4v720, f"mp4v, keyframe every {gop_mp4v:.0f}", "pyav", False, 0),
            (m720, h264_720, f"H.264, keyframe every {GOP}", "opencv", False, 0),
            (m720, h264_720, f"H.264, keyframe every {GOP}", "pyav", False, 0),
            (m720, h264_720, f"H.264, keyframe every {GOP}", "opencv", True, 0),
            (m1080, h264_1080, f"H.264, keyframe every {GOP}", "opencv", False, PROPAGATE_FRAMES),
            (m1080, h264_1080, f"H.264, keyframe every {GOP}", "pyav", False, 0)]
    if args.proxy_1080p:
        plan.append((m1080, h264_1080, f"H.264, keyframe every {GOP}", "opencv", True, 0))
    plan.append((f"1080p JPEG folder, {mf}", folder, f"JPEG q90 ({DISTINCT_FRAMES} distinct files)", "opencv", False, 0))
    for label, path, kind, backend, proxy, prop in plan:
        print(f"measuring {label} {kind} {backend} proxy={proxy} ...", file=sys.stderr, flush=True)
        r = measure_in_child(path, backend, proxy, prop, os.path.join(args.work, "bench.taproj") if prop else None,
                             args.jumps, args.step_bursts)
        results["rows"].append((label, r, kind))
        if "propagation" in r:
            results["propagation"], results["propagation_on"] = r["propagation"], f"the {m1080} H.264 video"
        print(json.dumps({label: r}), flush=True)
    results["load_after"] = "%.1f" % os.getloadavg()[0]
    results["verdict"] = verdict(results)
    results["notes"] = NOTES.format(jumps=args.jumps, dwell=int(DWELL_S * 1000), bursts=args.step_bursts,
                                    steps=STEP_LEN, start_dwell=int(STEP_START_DWELL_S * 1000),
                                    interval=int(STEP_INTERVAL_S * 1000), distinct=DISTINCT_FRAMES,
                                    generated=", ".join(f"{k} {v / 60:.1f} min" for k, v in gen.items() if v))
    results["notes"] += " " + proxy_note(h264_720) + ("" if args.proxy_1080p else " " + NO_PROXY_1080P)
    section = render_markdown(results, command)
    print("\n" + section)
    if args.markdown:
        update_markdown(args.markdown, section)
    return 0


VIEW_NOTE = ("The frame view (app/gui/frame_view.py) displays `previewReady`: a preview is drawn at the original "
             "frame's size and marked \"preview: proxy\" / \"preview: frame N\" until the exact frame replaces it "
             "(`tests/gui/test_frame_view_preview.py`), so the window shows the requested frame at the "
             "requested-frame column's latency (painting not timed).")
NO_PROXY_1080P = ("Not measured in this run: the 1080p video with its proxy (`--proxy-1080p`); an interrupted build "
                  "made about 26 proxy frames a second under this load, so about an hour for the 60-minute file.")
NOTES = (
    "Protocol: {jumps} jumps to uniformly random frames, each followed by {dwell} ms of looking at the frame "
    "(the loader reads ahead meanwhile; a random jump rarely lands in what it read); steps are {bursts} bursts "
    "of {steps} consecutive +1 (then -1) requests after a jump and {start_dwell} ms, one every {interval} ms after the previous frame "
    "arrived (keyboard auto-repeat). Open = `open_video` + the loader (proxy lookup included). Peak RSS is the "
    "measuring process's maximum resident size (default 256 MB frame cache). The loader reads behind a frame "
    "only after 0.3 s on it (READ_BEHIND_AFTER_S), so not between these jumps. The folder's names are hard links "
    "to {distinct} distinct JPEG files, so the page cache holds them: its reads measure JPEG decoding, not a cold "
    "disk. H.264 files are written by PyAV's libx264 (`ultrafast`, a keyframe exactly every 250 frames, no "
    "scene-cut keyframes); the proxy by `trackassist proxy` (JPEG q85, at most 720 lines). "
    "Time to make each source, single-threaded under the same load (recorded when it was made; older files "
    "have no record): {generated}.")


def proxy_note(video_path: str) -> str:
    from app.core.proxy import proxy_path_for

    proxy, frames = proxy_path_for(video_path), int(video_path.rsplit("_", 1)[1].split(".")[0])
    size = os.path.getsize(proxy)
    return (f"The 720p proxy takes {size / 2 ** 20:.0f} MB ({size / frames / 1024:.0f} KB a frame) against "
            f"{os.path.getsize(video_path) / 2 ** 20:.0f} MB for the H.264 file: disk traded for seek time.")


if __name__ == "__main__":
    sys.exit(main())
