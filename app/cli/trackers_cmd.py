"""``trackassist trackers``: list what the registry offers."""
from __future__ import annotations

import trackers


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    for name in trackers.available():
        entry = trackers.info(name)
        masks = " [masks]" if entry.produces_masks else ""
        print(f"{name:16s}{entry.description}{masks}")
    return 0
