"""Speed of the frozen EfficientNet-Lite0 trunk: torch (BN folded) vs the ONNX Runtime engine.

    python benchmarks/trunk_speed.py [--sizes 288x288 640x360 1280x720] [--threads 1 2] [--taps 16 32]
                                     [--runs 10] [--trackers fcot siamtfa ...] [--markdown docs/BENCHMARKS.md]

For every input size, thread count and deepest tap, both engines run the same
normalised random batch of one frame, alternately (one torch run, one ONNX run,
...) so that load from other processes hits both alike; the figures are the
median and the fastest of ``--runs`` runs after two warm-up runs, in ms per
frame.  The ONNX engine's first-use cost (writing the graph into an empty cache
and opening the session) is measured once.  The load average is printed before
and after: on a shared machine, read the figures with it.  ``--trackers`` adds
whole trackers: each is created twice (trunk engine torch / ONNX, 1 thread, the
trackers' default), both are initialised on a synthetic 640x360 clip and track
it frame by frame alternately; ms per ``track()`` call.  ``--markdown`` writes
the tables into the ``trunk-speed`` section of that file.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from trackers import backbones  # noqa: E402
from trackers.backbones import onnx_engine  # noqa: E402
from trackers.eval.benchmark import splice_marked_section  # noqa: E402

SECTION = "trunk-speed"


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def first_use_seconds(tap: int) -> tuple[float, float]:
    """(graph written + first frame, first frame with the graph cached) in s, in an empty cache folder."""
    old = os.environ.get(onnx_engine.CACHE_ENV)
    x = torch.randn(1, 3, 288, 288)
    try:
        with tempfile.TemporaryDirectory() as folder:
            os.environ[onnx_engine.CACHE_ENV] = folder
            times = []
            for _ in range(2):
                net = backbones.build("lite0", taps=(tap,), engine="onnx")
                start = time.perf_counter()
                with torch.no_grad():
                    net(x)
                times.append(time.perf_counter() - start)
            return times[0], times[1]
    finally:
        if old is None:
            os.environ.pop(onnx_engine.CACHE_ENV, None)
        else:
            os.environ[onnx_engine.CACHE_ENV] = old


def measure(size: tuple[int, int], threads: int, tap: int, runs: int) -> dict[str, list[float]]:
    """ms per frame of each engine, interleaved run by run."""
    torch.set_num_threads(threads)
    nets = {"torch": backbones.build("lite0", taps=(tap,), engine="torch"),
            "onnx": backbones.build("lite0", taps=(tap,), engine="onnx")}
    w, h = size
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {name: [] for name in nets}
    with torch.no_grad():
        for name, net in nets.items():          # warm-up (and the ONNX session)
            for _ in range(2):
                net(x)
        if nets["onnx"].runtime.disabled:
            raise SystemExit("the ONNX engine failed (see the warning above)")
        for _ in range(runs):
            for name, net in nets.items():
                start = time.perf_counter()
                net(x)
                times[name].append((time.perf_counter() - start) * 1000)
    return times


def measure_tracker(name: str, frames: int) -> dict[str, list[float]]:
    """ms per ``track()`` of one registered tracker with each trunk engine, interleaved frame by frame."""
    import trackers
    from trackers.data.synthetic import SyntheticClip

    clip = SyntheticClip(width=640, height=360, num_frames=frames + 1, seed=3)
    old = os.environ.get(onnx_engine.ENGINE_ENV)
    made = {}
    try:
        for engine in ("torch", "onnx"):
            os.environ[onnx_engine.ENGINE_ENV] = engine
            made[engine] = trackers.create(name, device="cpu")
    finally:
        if old is None:
            os.environ.pop(onnx_engine.ENGINE_ENV, None)
        else:
            os.environ[onnx_engine.ENGINE_ENV] = old
    for tracker in made.values():
        tracker.init(clip.frame(0), box=clip.box(0))
    times: dict[str, list[float]] = {engine: [] for engine in made}
    for i in range(1, frames + 1):
        frame = clip.frame(i)
        for engine, tracker in made.items():
            start = time.perf_counter()
            tracker.track(frame)
            times[engine].append((time.perf_counter() - start) * 1000)
    return times


def render(rows: list[dict], command: str, load_before, load_after, first_use: tuple[float, float],
           tracker_rows: list[dict] = ()) -> str:
    import onnxruntime

    lines = [
        "## Trunk speed: torch vs ONNX Runtime",
        "",
        f"EfficientNet-Lite0 trunk (`backbones.build(\"lite0\", taps=(stride,))`, BN folded), one frame, ms per "
        f"frame (median / fastest of the runs). torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"{os.cpu_count()} CPU cores. Load average (1/5/15 min) {_load(load_before)} before, "
        f"{_load(load_after)} after: the cores were shared with that much other work, so these are upper bounds.",
        "",
        "```sh",
        command,
        "```",
        "",
        "| input (w×h) | threads | deepest tap | torch ms | ONNX Runtime ms | speed-up (medians) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, o = r["torch"], r["onnx"]
        lines.append(f"| {r['size'][0]}×{r['size'][1]} | {r['threads']} | {r['tap']} | "
                     f"{statistics.median(t):.1f} / {min(t):.1f} | {statistics.median(o):.1f} / {min(o):.1f} | "
                     f"{statistics.median(t) / statistics.median(o):.1f}× |")
    if tracker_rows:
        lines += ["", "Whole trackers on a synthetic 640×360 clip (1 thread, ms per `track()`, median / fastest; "
                  "the rest of each tracker is unchanged torch/numpy):", "",
                  "| tracker | frames | trunk on torch ms | trunk on ONNX Runtime ms | speed-up (medians) |",
                  "|---|---|---|---|---|"]
        for r in tracker_rows:
            t, o = r["torch"], r["onnx"]
            lines.append(f"| `{r['name']}` | {len(t)} | {statistics.median(t):.1f} / {min(t):.1f} | "
                         f"{statistics.median(o):.1f} / {min(o):.1f} | "
                         f"{statistics.median(t) / statistics.median(o):.1f}× |")
    lines += [
        "",
        f"First use of the ONNX engine (288×288, 1 thread): {first_use[0] * 1000:.0f} ms with an empty cache "
        f"(graph written from the torch weights, session opened, one frame), {first_use[1] * 1000:.0f} ms with the "
        "graph cached. `backbones.build(..., engine=\"auto\")` (the default) uses ONNX Runtime for inference on CPU; "
        "`TRACKASSIST_TRUNK_ENGINE=torch` turns it off (trackers/backbones/onnx_engine.py).",
        "",
        "With 2 threads on a loaded machine the torch rows suffer most: its thread pool waits for a core the "
        "other processes hold (oversubscription, /work/shared/MACHINE-NOTES.md); the ONNX Runtime session's "
        "idle threads do not spin. Trackers default to 1 thread.",
    ]
    return "\n".join(lines) + "\n"


def _load(load) -> str:
    return " / ".join(f"{v:.2f}" for v in load)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=_size, default=[(288, 288), (640, 360), (1280, 720)])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--taps", nargs="+", type=int, default=[16, 32])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--trackers", nargs="*", default=[], help="registered trackers to time end to end")
    parser.add_argument("--tracker-frames", type=int, default=20)
    parser.add_argument("--markdown", help=f"splice the table into this file's `{SECTION}` section")
    args = parser.parse_args(argv)
    command = "python benchmarks/trunk_speed.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if os.nice(0) > 0:
        command = f"nice -n {os.nice(0)} {command}"
    if "OMP_NUM_THREADS" in os.environ:
        command = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} {command}"
    print(command.strip(), flush=True)
    load_before = os.getloadavg()
    print(f"load average before: {_load(load_before)}", flush=True)
    torch.set_num_threads(1)
    first_use = first_use_seconds(16)
    print(f"first use: {first_use[0] * 1000:.0f} ms (empty cache), {first_use[1] * 1000:.0f} ms (cached)", flush=True)
    rows = []
    for size in args.sizes:
        for threads in args.threads:
            for tap in args.taps:
                times = measure(size, threads, tap, args.runs)
                rows.append({"size": size, "threads": threads, "tap": tap, **times})
                print(f"{size[0]}x{size[1]} threads={threads} tap={tap}: torch {statistics.median(times['torch']):.1f} ms, "
                      f"onnx {statistics.median(times['onnx']):.1f} ms", flush=True)
    tracker_rows = []
    for name in args.trackers:
        torch.set_num_threads(1)
        times = measure_tracker(name, args.tracker_frames)
        tracker_rows.append({"name": name, **times})
        print(f"{name}: torch {statistics.median(times['torch']):.1f} ms, onnx {statistics.median(times['onnx']):.1f} ms",
              flush=True)
    load_after = os.getloadavg()
    print(f"load average after: {_load(load_after)}", flush=True)
    text = render(rows, command.strip(), load_before, load_after, first_use, tracker_rows)
    print(text)
    if args.markdown:
        merged = splice_marked_section(args.markdown, SECTION, text)
        with open(args.markdown + ".tmp", "w") as f:
            f.write(merged)
        os.replace(args.markdown + ".tmp", args.markdown)
        print(f"wrote section {SECTION!r} of {args.markdown}")


if __name__ == "__main__":
    main()
