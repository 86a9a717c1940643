"""CPU time per frame of the SiamTFA variants and CSRT on a synthetic 640x360 clip, one thread.

    python -m trackers.siamtfa.speed

``time.process_time`` counts the CPU this process used, so the figures hold
on a shared machine where wall-clock speed depends on the other jobs' load
(``trackassist bench`` reports wall-clock speed with the load average).
"""
from __future__ import annotations

import time

import cv2
import torch

from .. import create
from ..data.synthetic import SyntheticClip

RUNS = (("csrt", False), ("siamtfa-base", False), ("siamtfa-causal", False), ("siamtfa", False), ("siamtfa", True))


def main(frames: int = 36) -> int:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    clip = SyntheticClip(width=640, height=360, num_frames=frames + 6, seed=2, target_size=(60, 45))
    images = [clip.frame(i) for i in range(frames + 6)]
    boxes = clip.boxes()
    reference = None
    for name, ahead in RUNS:
        tracker = create(name, device="cpu")
        tracker.init(images[0], box=boxes[0])
        info = (lambda i: {"next_frame": images[i + 1]}) if ahead else (lambda i: None)
        for i in range(1, 4):                      # warm-up
            tracker.track(images[i], info=info(i))
        t0 = time.process_time()
        for i in range(4, 4 + frames):
            tracker.track(images[i], info=info(i))
        per_frame = (time.process_time() - t0) / frames
        reference = reference or per_frame
        label = name + (" +next_frame (bidirectional)" if ahead else "")
        print(f"{label:40s} {per_frame * 1000:6.1f} ms CPU/frame  {1 / per_frame:5.1f} frames/CPU-s  "
              f"x{reference / per_frame:.2f} CSRT", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
