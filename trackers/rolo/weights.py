"""Saving and loading ROLO weights: one file per variant, plain tensors and a config dict.

``torch.load(path, weights_only=True)`` reads them (no pickled code); the
modules are rebuilt from ``config`` and loaded with ``strict=True``, so a file
that does not match the code is refused with a clear message.
"""
from __future__ import annotations

import os

import torch

from ..base import TrackerError
from .detector import TemplateDetector
from .lstm import RoloLSTM

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "resources", "weights", "rolo")
FORMAT = "rolo-v1"


def default_path(variant: str) -> str:
    return os.path.join(WEIGHTS_DIR, f"rolo_{variant}.pt")


def save_weights(path: str, detector: TemplateDetector, lstm: RoloLSTM, step: int, long_side: int,
                 gate: float = 0.0) -> None:
    state = {
        "config": {"format": FORMAT, "detector": detector.config(), "lstm": lstm.config(),
                   "step": int(step), "long_side": int(long_side), "gate": float(gate)},
        "detector": {k: v.detach().clone() for k, v in detector.state_dict().items()},
        "lstm": {k: v.detach().clone() for k, v in lstm.state_dict().items()},
    }
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_weights(path: str, device: str = "cpu") -> tuple[TemplateDetector, RoloLSTM, dict]:
    if not os.path.exists(path):
        raise TrackerError(f"ROLO weights not found: {path} (train them with python -m trackers.rolo.train)")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        config = state["config"]
        if config.get("format") != FORMAT:
            raise KeyError(f"format {config.get('format')!r}, expected {FORMAT!r}")
        detector = TemplateDetector(**config["detector"])
        detector.load_state_dict(state["detector"], strict=True)
        lstm = RoloLSTM(**config["lstm"])
        lstm.load_state_dict(state["lstm"], strict=True)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise TrackerError(f"{path}: not usable ROLO weights: {exc}") from exc
    return detector.to(device).eval(), lstm.to(device).eval(), config


def load_detector(path: str) -> TemplateDetector:
    """Only the detector head of a ``rolo_*.pt`` (to train new LSTMs on the same detector)."""
    if not os.path.exists(path):
        raise TrackerError(f"ROLO weights not found: {path} (train them with python -m trackers.rolo.train)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    detector = TemplateDetector(**state["config"]["detector"])
    detector.load_state_dict(state["detector"], strict=True)
    return detector.eval()
