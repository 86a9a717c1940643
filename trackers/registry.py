"""One registry of trackers: name -> "module:Class", imported lazily.

Lazy import keeps ``trackassist --help`` fast and means a tracker whose
optional dependency is missing only fails when someone asks for it.  New
trackers add one :func:`register` call in ``trackers/__init__.py``; nothing
else in the code base names trackers (no ``elif`` chains).
"""
from __future__ import annotations

import importlib
import os
from typing import Any

from .base import Tracker, TrackerError, TrackerInfo

_REGISTRY: dict[str, TrackerInfo] = {}


def register(name: str, target: str, description: str = "", *, produces_masks: bool = False,
             needs_weights: bool = False, uses_torch: bool = True, look_ahead: bool = False,
             trained_on: str | None = None, **defaults: Any) -> None:
    """Add a tracker; ``look_ahead=True`` asks the engines for ``info["next_frame"]`` (see TrackerInfo);
    ``trained_on`` names the list of dev sequences its weights learned from (see :func:`training_sequences`)."""
    if name in _REGISTRY:
        raise ValueError(f"tracker {name!r} is registered twice")
    _REGISTRY[name] = TrackerInfo(name, target, description, produces_masks, needs_weights, uses_torch, defaults,
                                  look_ahead=bool(look_ahead), trained_on=trained_on)


def unregister(name: str) -> None:
    """Remove a tracker (tests register throw-away trackers and clean up after themselves)."""
    info(name)  # unknown names: the usual TrackerError
    del _REGISTRY[name]


def looks_ahead(tracker: Any) -> bool:
    """Whether an engine should pass ``info["next_frame"]`` to this tracker instance.

    :func:`create` stamps the registry's ``look_ahead`` on the instance; a tracker
    built without the registry may declare a class attribute ``look_ahead = True``.
    """
    return bool(getattr(tracker, "look_ahead", False))


WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources", "weights")


def training_sequences(name: str) -> list[str] | None:
    """Dev sequences the tracker's shipped weights were trained on; ``None`` = it learned nothing
    from the dev data (the OpenCV baselines) or the tracker is not registered."""
    entry = _REGISTRY.get(name)
    if entry is None or not entry.trained_on:
        return None
    from .eval.dataset import read_name_list  # lazy: the evaluation package imports this module

    return read_name_list(os.path.join(WEIGHTS_DIR, entry.trained_on))


def available() -> list[str]:
    return sorted(_REGISTRY)


def info(name: str) -> TrackerInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise TrackerError(f"unknown tracker {name!r}; available: {', '.join(available())}") from None


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            return "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise TrackerError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device


def create(name: str, device: str = "auto", **params: Any) -> Tracker:
    entry = info(name)
    module_name, _, class_name = entry.target.partition(":")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    merged = {**entry.defaults, **params}
    # Importing torch costs seconds; classic trackers never need it.
    resolved = resolve_device(device) if entry.uses_torch else "cpu"
    tracker = cls(device=resolved, **merged)
    tracker.name = name
    tracker.look_ahead = entry.look_ahead
    return tracker
