"""The learned part of FCOT on top of a frozen EfficientNet-Lite0 trunk.

Layout (strides for the default 288-pixel search crop; the paper's names in brackets):

    trunk taps 4 (24 ch), 8 (40), 16 (112)            frozen, ImageNet weights
    decoder    s16 (64 ch) -> up -> s8 (48) [UP-1] -> up -> s4 (16) [UP-2]
    cls heads  s16 -> X18 (32 ch)  [Score Map-18 features]
               s4  -> X72 (16 ch)  [Score Map-72 features]
    reg head   UP-1 (16 ch, upsampled) + UP-2 -> Xreg (16 ch), fused as in the paper's Table 3

The stride-4 part is kept narrow (16 channels): at 72x72 cells it dominates
the cost of both CPU training and tracking.

The online models (``f18`` 32x3x3, ``f72`` 16x5x5, ``freg`` 4x16x3x3) are not
parameters of this module: initializers here produce them from first-frame
features and boxes; :mod:`trackers.fcot.optim` refines them online.  The
paper's deformable convolutions are replaced by plain 3x3 convolutions (no
deformable op on a CPU-only torch build without extensions).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import roi_align

TRUNK_TAPS = (4, 8, 16)
TRUNK_CHANNELS = {4: 24, 8: 40, 16: 112}
C18, C72, CREG = 32, 16, 16
K18, K72, KREG = 3, 5, 3
# ltrb distances are regressed in units of REG_UNIT search-crop pixels (keeps targets ~0.1..2)
REG_UNIT = 64.0


def _conv(cin: int, cout: int, k: int = 3, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=k // 2)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Decoder(nn.Module):
    """Light FPN-style decoder: stride 16 -> 8 -> 4 with lateral 1x1 convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.top = _conv(TRUNK_CHANNELS[16], 64, 1)
        self.lat8 = _conv(TRUNK_CHANNELS[8], 48, 1, relu=False)
        self.up1 = _conv(64 + 48, 48)
        self.lat4 = _conv(TRUNK_CHANNELS[4], 16, 1, relu=False)
        self.up2 = _conv(48 + 16, 16)

    def forward(self, t4: torch.Tensor, t8: torch.Tensor, t16: torch.Tensor):
        d16 = self.top(t16)
        u = F.interpolate(d16, size=t8.shape[-2:], mode="bilinear", align_corners=False)
        d8 = self.up1(torch.cat([u, self.lat8(t8)], 1))
        u = F.interpolate(d8, size=t4.shape[-2:], mode="bilinear", align_corners=False)
        d4 = self.up2(torch.cat([u, self.lat4(t4)], 1))
        return d16, d8, d4


class FCOTNet(nn.Module):
    """Decoder, heads, model initializers and the few learned scalars of the online recipe."""

    def __init__(self) -> None:
        super().__init__()
        self.decoder = Decoder()
        self.head18 = nn.Sequential(_conv(64, 64), _conv(64, C18, relu=False))
        self.head72 = nn.Sequential(_conv(16, 16), _conv(16, C72, relu=False))
        self.reg_lat8 = _conv(48, 16, 1)
        self.head_reg = nn.Sequential(_conv(16 + 16, 32), _conv(32, CREG, relu=False))
        # initializers: RoIAlign of the target's features -> 1x1 conv -> filter
        self.init18 = nn.Conv2d(C18, C18, 1)
        self.init72 = nn.Conv2d(C72, C72, 1)
        self.init_reg = nn.Conv2d(CREG, 4 * CREG, 1)
        # a generic regressor the target-specific one starts from
        self.reg_base = nn.Parameter(torch.zeros(4, CREG, KREG, KREG))
        self.reg_bias = nn.Parameter(torch.full((4,), 0.5))
        # online-optimisation scalars (log-parametrised to stay positive)
        self.log_reg_lambda = nn.Parameter(torch.tensor(math.log(0.1)))   # lambda of Eq. 4/7
        self.log_cls_lambda = nn.Parameter(torch.tensor([math.log(0.1), math.log(0.1)]))
        self.log_step = nn.Parameter(torch.zeros(3))                        # multiplies the GN step (18, 72, reg)
        # fusion M = alpha * M18 + beta * M72 (Eq. 1)
        self.fuse = nn.Parameter(torch.tensor([0.5, 0.5]))

    # -- features ---------------------------------------------------------------
    def features(self, taps: dict[int, torch.Tensor], outputs=("x18", "x72", "xreg")) -> dict[str, torch.Tensor]:
        """The heads' features named in ``outputs`` (the tracker skips ``x18`` when Score Map-18 works on the
        trunk's features)."""
        d16, d8, d4 = self.decoder(taps[4], taps[8], taps[16])
        feats = {}
        if "x18" in outputs:
            feats["x18"] = self.head18(d16)
        if "x72" in outputs:
            feats["x72"] = self.head72(d4)
        if "xreg" in outputs:
            d8_up = F.interpolate(self.reg_lat8(d8), size=d4.shape[-2:], mode="bilinear", align_corners=False)
            feats["xreg"] = self.head_reg(torch.cat([d8_up, d4], 1))
        return feats

    # -- initializers ---------------------------------------------------------------
    @staticmethod
    def _pool(x: torch.Tensor, boxes_xyxy: torch.Tensor, stride: int, k: int) -> torch.Tensor:
        rois = torch.cat([torch.arange(len(boxes_xyxy), dtype=x.dtype, device=x.device)[:, None],
                          boxes_xyxy.to(x.dtype)], 1)
        return roi_align(x, rois, k, spatial_scale=1.0 / stride, sampling_ratio=2)

    def init_classifiers(self, feats: dict[str, torch.Tensor], boxes_xyxy: torch.Tensor):
        """Initial f18, f72 from the (augmented) first-frame samples: mean over samples.

        Features other than the trained heads' (the tracker's ``coarse_features="trunk"`` and
        ``fine_features="trunk"`` options: the frozen trunk's taps) skip the trained 1x1 initializers.
        """
        p18 = self._pool(feats["x18"], boxes_xyxy, 16, K18)
        p18 = (self.init18(p18) if p18.shape[1] == C18 else p18).mean(0)
        p72 = self._pool(feats["x72"], boxes_xyxy, 4, K72)
        p72 = (self.init72(p72) if p72.shape[1] == C72 else p72).mean(0)
        # f = p / |p|^2: the response to a sample equal to the pooled features is 1
        f18 = p18 / (p18.pow(2).sum() + 1e-6)
        f72 = p72 / (p72.pow(2).sum() + 1e-6)
        return f18, f72

    def init_regressor(self, feats: dict[str, torch.Tensor], boxes_xyxy: torch.Tensor) -> torch.Tensor:
        pooled = self.init_reg(self._pool(feats["xreg"], boxes_xyxy, 4, KREG)).mean(0)   # (4C, k, k)
        return self.reg_base + 0.1 * pooled.view(4, CREG, KREG, KREG)

    # -- fusion ---------------------------------------------------------------------
    def fuse_maps(self, m18: torch.Tensor, m72: torch.Tensor) -> torch.Tensor:
        """alpha * M18 (bilinearly upsampled to the fine grid) + beta * M72."""
        up = F.interpolate(m18, size=m72.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse[0] * up + self.fuse[1] * m72


class FeatureHeads(nn.Module):
    """``FCOTNet.features`` as tensors in, tensors out ``(t4, t8, t16) -> (x18, x72, xreg)``: the form
    :class:`trackers.backbones.onnx_module.OnnxModuleRunner` exports (the tracker runs it on ONNX Runtime)."""

    def __init__(self, net: FCOTNet, outputs: tuple[str, ...] = ("x18", "x72", "xreg")) -> None:
        super().__init__()
        self.net, self.outputs = net, tuple(outputs)

    def forward(self, t4: torch.Tensor, t8: torch.Tensor, t16: torch.Tensor):
        feats = self.net.features({4: t4, 8: t8, 16: t16}, self.outputs)
        return tuple(feats[name] for name in self.outputs)


def normalize_regression_features(xreg: torch.Tensor, scale: float | None, power: float = 1.0):
    """``xreg`` (N, C, H, W) with that power of each cell's norm divided out and ``scale`` (the init crop's
    median cell norm; taken from ``xreg[0]`` when None) multiplied in -> (features, scale).  Shared by the
    tracker (``normalize_regression``) and training (``--normalize-regression``): see FCOTTracker._features."""
    norm = xreg.norm(dim=1, keepdim=True).clamp(min=1e-6)
    if scale is None:
        scale = float(norm[0].median().detach())
    return xreg * (scale / norm) ** power, scale
