"""The ONNX Runtime engine of the Lite0 trunk: same outputs as torch, cached graph, safe fallbacks.

Tolerance: max |onnx - torch| <= 1e-4 x max |torch| per tap (measured: about 2e-6 relative,
i.e. 5e-5 absolute on features whose magnitude reaches 30-75).
"""
import copy
import logging
import os

import pytest
import torch

from trackers import backbones
from trackers.backbones import onnx_engine
from trackers.base import TrackerError

torch.set_num_threads(1)
REL_TOL = 1e-4


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder, so counts of written graphs do not depend on other tests."""
    monkeypatch.setenv(onnx_engine.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(onnx_engine.ENGINE_ENV, raising=False)
    return tmp_path / "onnx"


def _torch_ran(model):
    """Calls to the torch stem, to tell which engine served a forward."""
    calls = []
    model._conv_stem.register_forward_hook(lambda *a: calls.append(1))
    return calls


def _assert_same(onnx_out, torch_out):
    assert sorted(onnx_out) == sorted(torch_out)
    for tap, ref in torch_out.items():
        assert onnx_out[tap].shape == ref.shape and onnx_out[tap].dtype == torch.float32
        scale = float(ref.abs().max())
        assert scale > 1.0                       # real features, not an all-zero map
        assert float((onnx_out[tap] - ref).abs().max()) <= REL_TOL * scale, tap


@pytest.mark.parametrize("shape", [(1, 3, 96, 128), (2, 3, 75, 101)])   # even and odd sizes (SAME padding)
def test_onnx_trunk_equals_torch_trunk(cache, shape):
    fast = backbones.build("lite0", taps=(4, 8, 16, 32))
    slow = backbones.build("lite0", taps=(4, 8, 16, 32), engine="torch")
    assert isinstance(fast.runtime, onnx_engine.OnnxTrunkRunner) and slow.runtime is None
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape))) * 1.5
    torch_calls = _torch_ran(fast)
    with torch.no_grad():
        ref = slow(x)
        out = fast(x)
    assert not torch_calls                       # ONNX Runtime served it
    _assert_same(out, ref)
    # set_taps switches the graph too; one graph serves every input size
    fast.set_taps((16,))
    with torch.inference_mode():
        only16 = fast(x[:, :, :64, :80])
    assert sorted(only16) == [16] and tuple(only16[16].shape) == (shape[0], 112, 4, 5)
    assert not torch_calls


def test_unfolded_trunk_gives_the_same_graph_outputs(cache):
    fast = backbones.build("lite0", taps=(8,), fold_bn=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = fast(x)
        fast.runtime.disabled = True
        ref = fast(x)
    _assert_same(out, ref)


def test_graph_is_cached_and_reused(cache):
    x = torch.randn(1, 3, 64, 64)
    first = backbones.build("lite0", taps=(8, 16))
    with torch.no_grad():
        a = first(x)
    assert first.runtime.exports == 1
    path = first.runtime.graph_paths[(8, 16)]
    assert os.path.dirname(path) == str(cache) and os.path.isfile(path + ".sha256")
    mtime = os.stat(path).st_mtime_ns
    second = backbones.build("lite0", taps=(8, 16))
    with torch.no_grad():
        b = second(x)
    assert second.runtime.exports == 0 and os.stat(path).st_mtime_ns == mtime
    assert torch.equal(a[16], b[16])
    # other weights mean another file, never a stale graph
    other = backbones.build("lite0", taps=(8, 16), pretrained=False)
    with torch.no_grad():
        other(x)
    assert other.runtime.exports == 1 and other.runtime.graph_paths[(8, 16)] != path


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_cache_file_is_rebuilt(cache, damage):
    x = torch.randn(1, 3, 64, 64)
    first = backbones.build("lite0", taps=(16,))
    with torch.no_grad():
        ref = first(x)
    path = first.runtime.graph_paths[(16,)]
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2] if damage == "truncate" else b"\0" * len(data))
    again = backbones.build("lite0", taps=(16,))
    torch_calls = _torch_ran(again)
    with torch.no_grad():
        out = again(x)
    assert again.runtime.exports == 1 and not again.runtime.disabled and not torch_calls
    assert open(path, "rb").read() == data
    assert torch.equal(out[16], ref[16])


def test_torch_engine_forced_by_parameter_or_environment(cache, monkeypatch):
    assert backbones.build("lite0", taps=(8,), engine="torch").runtime is None
    monkeypatch.setenv(onnx_engine.ENGINE_ENV, "torch")
    net = backbones.build("lite0", taps=(8,))
    assert net.runtime is None and isinstance(net, backbones.EfficientNetLite)
    with pytest.raises(TrackerError, match="engine"):
        backbones.build("lite0", engine="tensorrt")


def test_onnx_engine_for_resnet_warns_and_uses_torch(cache, caplog):
    with caplog.at_level(logging.WARNING):
        net = backbones.build("resnet50", taps=(8,), engine="onnx")
    assert not hasattr(net, "runtime") or net.runtime is None
    assert "only covers EfficientNet-Lite" in caplog.text


def test_gradients_and_train_mode_keep_torch(cache):
    net = backbones.build("lite0", taps=(8,))
    torch_calls = _torch_ran(net)
    x = torch.randn(1, 3, 64, 64)
    out = net(x)                                  # autograd on, weights require grad
    assert out[8].requires_grad and len(torch_calls) == 1
    out[8].sum().backward()
    assert net._conv_stem.weight.grad is not None
    net.train()
    with torch.no_grad():
        net(x)
    assert len(torch_calls) == 2
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    net(x)                                        # nothing needs a gradient: ONNX may serve it
    assert len(torch_calls) == 2


def test_changed_weights_rebuild_the_session(cache):
    net = backbones.build("lite0", taps=(8,))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = net(x)[8]
        net._blocks[0]._project_conv.weight.mul_(0.5)      # in place, e.g. load_state_dict
        after = net(x)[8]
        net.runtime.disabled = True
        ref = net(x)[8]
    assert not torch.allclose(before, after)
    _assert_same({8: after}, {8: ref})
    net.runtime.disabled = False
    conv = net._blocks[1]._expand_conv                     # a weight replaced, not modified
    conv.weight = torch.nn.Parameter(conv.weight.detach() * 2.0, requires_grad=False)
    with torch.no_grad():
        replaced = net(x)[8]
        net.runtime.disabled = True
        ref = net(x)[8]
    assert not torch.allclose(after, replaced)
    _assert_same({8: replaced}, {8: ref})


def test_failure_falls_back_to_torch_with_one_warning(cache, monkeypatch, caplog):
    def broken(*a, **k):
        raise RuntimeError("simulated exporter failure")
    monkeypatch.setattr(onnx_engine, "write_graph", broken)
    net = backbones.build("lite0", taps=(8,))
    x = torch.randn(1, 3, 64, 64)
    with caplog.at_level(logging.WARNING), torch.no_grad():
        a = net(x)
        b = net(x)
    warnings = [r for r in caplog.records if "ONNX Runtime trunk unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "simulated exporter failure" in warnings[0].getMessage()
    assert net.runtime.disabled and torch.equal(a[8], b[8])
    ref = backbones.build("lite0", taps=(8,), engine="torch")
    with torch.no_grad():
        assert torch.allclose(a[8], ref(x)[8], atol=1e-5)


def test_session_threads_follow_torch_and_copies_work(cache):
    net = backbones.build("lite0", taps=(8,))
    x = torch.randn(1, 3, 64, 64)
    old = torch.get_num_threads()
    try:
        with torch.no_grad():
            torch.set_num_threads(1)
            net(x)
            torch.set_num_threads(2)
            net(x)
    finally:
        torch.set_num_threads(old)
    assert sorted(k[1] for k in net.runtime._sessions) == [1, 2]
    twin = copy.deepcopy(net)
    assert twin.runtime is not net.runtime and not twin.runtime._sessions
    with torch.no_grad():
        assert torch.equal(twin(x)[8], net(x)[8])


def test_without_onnxruntime_auto_is_torch_and_onnx_warns(cache, monkeypatch, caplog):
    monkeypatch.setattr(onnx_engine, "onnxruntime_available", lambda: False)
    assert backbones.build("lite0", taps=(8,)).runtime is None
    with caplog.at_level(logging.WARNING):
        assert backbones.build("lite0", taps=(8,), engine="onnx").runtime is None
    assert "pip install onnxruntime" in caplog.text
