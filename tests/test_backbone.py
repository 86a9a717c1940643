"""The shared backbone: strict loading of the shipped ImageNet weights, taps, SAME padding, BN folding."""
import numpy as np
import pytest
import torch

from trackers import backbones
from trackers.backbones.efficientnet_lite import EfficientNetLite, SameConv2d, weight_file
from trackers.base import TrackerError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lite0():
    return backbones.build("lite0", pretrained=True, fold_bn=False)


def _crossword(size=224, cell=15, seed=0):
    """A crossword grid (black squares on white, ruled): ImageNet class 918 'crossword puzzle'."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 255, np.uint8)
    n = size // cell
    for i in range(n):
        for j in range(n):
            if rng.random() < 0.2:
                img[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell] = 0
    img[::cell, :] = 0
    img[:, ::cell] = 0
    return img


def test_weights_load_strictly_from_the_installed_package():
    state = torch.load(weight_file("lite0"), map_location="cpu", weights_only=True)
    model = EfficientNetLite("lite0")
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.65e6, rel=0.01)


def test_imagenet_head_recognises_a_crossword(lite0):
    with torch.no_grad():
        probs = lite0.classify(backbones.normalize(_crossword())).softmax(-1)[0]
    assert int(probs.argmax()) == 918
    assert float(probs[918]) > 0.5


def test_stride2_convs_pad_like_tensorflow_same():
    conv = SameConv2d(1, 1, 3, stride=2)
    assert conv.same_padding(224, 224) == (0, 1, 0, 1)     # extra pixel right/bottom
    assert conv.same_padding(225, 225) == (1, 1, 1, 1)
    conv5 = SameConv2d(1, 1, 5, stride=2)
    assert conv5.same_padding(28, 30) == (1, 2, 1, 2)
    # symmetric padding would change the outputs of the pretrained net noticeably
    model = backbones.build("lite0", fold_bn=False)
    x = backbones.normalize(_crossword())
    with torch.no_grad():
        same = model.classify(x)
        for m in model.modules():
            if isinstance(m, SameConv2d) and m._dynamic_pad:
                m._dynamic_pad = False
                m.padding = ((m.kernel_size[0] - 1) // 2,) * 2
        symmetric = model.classify(x)
    assert float((same - symmetric).abs().max()) > 0.5


def test_taps_shapes_and_early_stop(lite0):
    x = torch.randn(1, 3, 128, 160)
    with torch.no_grad():
        feats = lite0(x)
    assert {s: tuple(f.shape) for s, f in feats.items()} == {
        4: (1, 24, 32, 40), 8: (1, 40, 16, 20), 16: (1, 112, 8, 10), 32: (1, 320, 4, 5)}
    shallow = backbones.build("lite0", taps=(4, 8), fold_bn=False, engine="torch")   # torch: hooks see blocks
    calls = []
    hooks = [b.register_forward_hook(lambda *a, i=i: calls.append(i)) for i, b in enumerate(shallow._blocks)]
    with torch.no_grad():
        out = shallow(x)
    for h in hooks:
        h.remove()
    assert sorted(out) == [4, 8] and max(calls) == 4      # blocks after block 4 never ran
    assert torch.allclose(out[8], feats[8], atol=1e-4)     # feats came from ONNX Runtime (default engine)


def test_bn_folding_is_exact(lite0):
    folded = backbones.build("lite0", taps=(16,))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(folded(x)[16], lite0(x)[16], atol=1e-3)


def test_normalize_layouts():
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 0] = 255
    x = backbones.normalize(img)
    assert x.shape == (1, 3, 4, 6)
    assert torch.allclose(x[0, 0], torch.ones(4, 6)) and torch.allclose(x[0, 1], -torch.ones(4, 6))
    nchw = torch.from_numpy(img).permute(2, 0, 1)[None]
    assert torch.equal(backbones.normalize(nchw), x)


def test_resnet50_loads_a_user_state_dict(tmp_path):
    src = backbones.build("resnet50", taps=(8,), fold_bn=False)
    path = tmp_path / "r50.pth"
    torch.save(src.state_dict(), path)
    net = backbones.build("resnet50", taps=(4, 8), weights=str(path), fold_bn=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = net(x)
        assert torch.allclose(out[8], src(x)[8].detach(), atol=1e-5)
    assert tuple(out[4].shape) == (1, 256, 16, 16) and tuple(out[8].shape) == (1, 512, 8, 8)
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(TrackerError, match="resnet50"):
        backbones.build("resnet50", weights=str(bad))
    with pytest.raises(TrackerError, match="unknown backbone"):
        backbones.build("vgg")
