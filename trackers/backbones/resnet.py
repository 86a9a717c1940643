"""ResNet-50 in plain torch (torchvision layout), with feature taps.

Optional: it loads a user-supplied torchvision-format state dict
(``build("resnet50", weights="resnet50.pth")``) with ``weights_only=True``.
Nothing is ever downloaded; without ``weights`` the network is random and only
good for tests.
"""
from __future__ import annotations

import torch
from torch import nn

from .taps import check_taps

# ImageNet normalisation used by torchvision's weights
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, mid: int, stride: int = 1) -> None:
        super().__init__()
        out = mid * self.expansion
        self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    """``forward(x) -> {stride: features}`` for taps among 4, 8, 16, 32."""

    mean, std = MEAN, STD
    channels = {4: 256, 8: 512, 16: 1024, 32: 2048}

    def __init__(self, taps: tuple[int, ...] = (4, 8, 16, 32)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = 64
        for i, (mid, n, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))):
            layers = []
            for j in range(n):
                layers.append(Bottleneck(in_ch, mid, stride if j == 0 else 1))
                in_ch = mid * Bottleneck.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.fc = nn.Linear(2048, 1000)
        self.set_taps(taps)

    def set_taps(self, taps: tuple[int, ...]) -> None:
        self.taps = taps = check_taps(taps, self.channels)

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        out: dict[int, torch.Tensor] = {}
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stride, layer in zip((4, 8, 16, 32), (self.layer1, self.layer2, self.layer3, self.layer4)):
            x = layer(x)
            if stride in self.taps:
                out[stride] = x
            if stride == self.taps[-1]:
                break
        return out

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def resnet50(taps: tuple[int, ...] = (4, 8, 16, 32), weights: str | None = None) -> ResNet50:
    model = ResNet50(taps)
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        model.load_state_dict(state, strict=True)
    return model.eval()
