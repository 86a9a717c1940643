"""Validation of requested feature taps (shared by every backbone)."""
from __future__ import annotations


def check_taps(taps, channels: dict[int, int]) -> tuple[int, ...]:
    """Sorted unique strides; ``ValueError`` naming the valid ones if any is unknown."""
    taps = tuple(sorted(set(int(t) for t in taps)))
    if not taps or any(t not in channels for t in taps):
        raise ValueError(f"taps must be among {sorted(channels)}, got {taps}")
    return taps
