"""The shipped weights: local and global model in one state dict (``local.*``, ``global_.*``)."""
from __future__ import annotations

import os

import torch
from torch import nn

from ..base import TrackerError
from .global_model import GlobalModel
from .local_model import MATCH_CHANNELS, LocalModel

DEFAULT_WEIGHTS = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "resources", "weights",
                                                "pixelwise", "pixelwise_lite0.pth"))


class PixelwiseNet(nn.Module):
    def __init__(self, fine: bool = False) -> None:
        super().__init__()
        self.local = LocalModel(fine=fine)
        self.global_ = GlobalModel()


def is_fine(state: dict, prefix: str = "local.") -> bool:
    """Whether a state dict holds a fine local model (F-CNN reads 8 match maps, not 4)."""
    w = state.get(prefix + "fcnn.0.weight")
    return w is not None and w.shape[1] == 2 * MATCH_CHANNELS


def load_state(path: str) -> dict:
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise TrackerError(f"pixel-wise tracker weights not found: {path} "
                           "(train them with `python -m trackers.pixelwise.train`)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TrackerError(f"pixel-wise weights {path} do not load: {exc}") from exc


def load_net(path: str | None = None, device: str = "cpu") -> PixelwiseNet:
    path = path or DEFAULT_WEIGHTS
    state = load_state(path)
    net = PixelwiseNet(fine=is_fine(state))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TrackerError(f"pixel-wise weights {path} do not fit the model: {exc}") from exc
    return net.to(device).eval()
