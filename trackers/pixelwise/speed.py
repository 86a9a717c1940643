"""CPU time per frame of ``track()`` (what the tracker costs on an idle core, whatever the load).

    python -m trackers.pixelwise.speed /work/shared/data/dev/davis-libby [--frames 30]

Wall time is printed too, with the load average it was measured under.
"""
from __future__ import annotations

import argparse
import glob
import os
import time

import cv2

import trackers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trackers.pixelwise.speed")
    ap.add_argument("sequence", help="a sequence folder with masks/ (the first mask initialises)")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--tracker", action="append", default=None)
    a = ap.parse_args(argv)
    files = sorted(glob.glob(os.path.join(a.sequence, "*.jpg")))[:a.frames]
    frames = [cv2.imread(f)[:, :, ::-1].copy() for f in files]
    first_mask = cv2.imread(os.path.join(a.sequence, "masks", os.path.basename(files[0])[:-4] + ".png"), 0) > 127
    for name in a.tracker or ["pixelwise", "pixelwise-1stage"]:
        t = trackers.create(name, device="cpu")
        t.init(frames[0], mask=first_mask)
        c0, w0 = time.process_time(), time.perf_counter()
        for f in frames[1:]:
            t.track(f)
        n = len(frames) - 1
        cpu, wall = (time.process_time() - c0) / n, (time.perf_counter() - w0) / n
        print(f"{name}: CPU {1000 * cpu:.1f} ms/frame ({1 / cpu:.1f} frames/s of CPU time), "
              f"wall {1000 * wall:.1f} ms/frame, load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
