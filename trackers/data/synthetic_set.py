"""A neutral set of synthetic sequences in GOT-10k layout, for choosing tracker defaults.

``python -m trackers.data.synthetic_set OUT [--seeds 9000-9009]`` writes one
sequence per seed (``synth-<seed>``: 640x360, 120 frames, a textured target of
64x48 px whose size swings by +-35 %, outline wobble, an occluding bar on even
seeds, a look-alike on seeds divisible by 3) plus ``list.txt``, so that
``trackassist bench OUT --tracker ...`` scores trackers on it.  No tracker was
trained on these seeds (training uses other generators and seeds), which makes
the set a second opinion beside the training sequences when a default is
chosen without looking at held-out video.
"""
from __future__ import annotations

import argparse

from .synthetic import SyntheticClip


def clip_for_seed(seed: int) -> SyntheticClip:
    return SyntheticClip(width=640, height=360, num_frames=120, seed=seed, target_size=(64, 48), speed=3.0,
                         scale_amplitude=0.35, deform=0.1, occluder=seed % 2 == 0, distractor=seed % 3 == 0)


def parse_seeds(text: str) -> list[int]:
    """``"9000-9009"`` or ``"1,5,7"`` -> seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="dataset folder to write (created)")
    p.add_argument("--seeds", default="9000-9009")
    args = p.parse_args(argv)
    for seed in parse_seeds(args.seeds):
        clip_for_seed(seed).write_got10k(args.out, f"synth-{seed}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
