"""OnnxModuleRunner: a tracker's head on ONNX Runtime gives torch's outputs, and torch runs whenever
ONNX Runtime would not be equivalent (gradients, training mode, a changed weight, the engine forced)."""
import pytest
import torch

from trackers.backbones import onnx_engine
from trackers.backbones.onnx_module import OnnxModuleRunner
from trackers.fcot.model import FCOTNet, FeatureHeads
from trackers.fcot.tracker import DEFAULT_WEIGHTS, load_net

torch.set_num_threads(1)
REL_TOL = 1e-4


def _taps(seed=0):
    g = torch.Generator().manual_seed(seed)
    # the trunk's tap shapes for FCOT's 288-pixel crop, with feature-like magnitudes
    return (torch.randn(1, 24, 72, 72, generator=g) * 3, torch.randn(1, 40, 36, 36, generator=g) * 3,
            torch.randn(1, 112, 18, 18, generator=g) * 3)


@pytest.fixture
def heads(monkeypatch):
    monkeypatch.delenv(onnx_engine.ENGINE_ENV, raising=False)
    module = FeatureHeads(load_net(DEFAULT_WEIGHTS, "cpu")).eval()
    calls = []
    module.net.decoder.top.register_forward_hook(lambda *a: calls.append(1))
    return module, OnnxModuleRunner(module, ("t4", "t8", "t16"), ("x18", "x72", "xreg")), calls


def test_runner_equals_torch_on_the_fcot_heads(heads):
    module, runner, torch_calls = heads
    args = _taps()
    with torch.no_grad():
        ref = module(*args)
        runner(*args)                                        # exporting traces the torch module once
        torch_calls.clear()
        out = runner(*args)
    assert not torch_calls and runner.exports == 1          # then ONNX Runtime serves it
    assert len(out) == 3
    for o, r in zip(out, ref):
        assert o.shape == r.shape and o.dtype == torch.float32
        scale = float(r.abs().max())
        assert scale > 0.1
        assert float((o - r).abs().max()) <= REL_TOL * scale
    # same shapes again, or another batch size: the same graph; another crop size: a second graph
    with torch.no_grad():
        runner(*_taps(1))
        batch = tuple(torch.cat([t, 2 * t]) for t in _taps(3))
        out = runner(*batch)
        assert runner.exports == 1 and out[2].shape[0] == 2
        assert torch.allclose(out[2], module(*batch)[2], atol=REL_TOL * float(out[2].abs().max()))
        small = tuple(t[..., : t.shape[-1] // 2, : t.shape[-1] // 2] for t in _taps(2))
        out = runner(*small)
        assert runner.exports == 2
        ref = module(*small)
    assert all(float((o - r).abs().max()) <= REL_TOL * float(r.abs().max()) for o, r in zip(out, ref))


def test_runner_leaves_gradients_and_training_to_torch(heads):
    module, runner, torch_calls = heads
    args = _taps()
    out = runner(*args)                                      # grad enabled, the weights require grad
    assert torch_calls and all(o.requires_grad for o in out)
    assert runner.exports == 0
    module.train()
    torch_calls.clear()
    with torch.no_grad():
        runner(*args)
    assert torch_calls and runner.exports == 0


def test_a_changed_weight_rebuilds_the_graph(heads):
    module, runner, _ = heads
    args = _taps()
    with torch.no_grad():
        before = runner(*args)[1]
        module.net.head72[1][0].bias.add_(1.0)              # x72 = head72(...): every output moves by 1
        after = runner(*args)[1]
    assert runner.exports == 2
    assert torch.allclose(after, before + 1.0, atol=1e-3)


def test_forcing_torch_disables_the_runner(monkeypatch):
    monkeypatch.setenv(onnx_engine.ENGINE_ENV, "torch")
    runner = OnnxModuleRunner(FeatureHeads(FCOTNet()).eval(), ("t4", "t8", "t16"), ("x18", "x72", "xreg"))
    with torch.no_grad():
        runner(*_taps())
    assert runner.disabled and runner.exports == 0


def test_export_failure_falls_back_to_torch(heads, monkeypatch, caplog):
    module, runner, torch_calls = heads

    def broken(*a, **k):
        raise RuntimeError("no exporter here")
    monkeypatch.setattr(torch.onnx, "export", broken)
    with torch.no_grad(), caplog.at_level("WARNING"):
        out = runner(*_taps())
    assert torch_calls and runner.disabled and len(out) == 3
    assert "runs with torch instead" in caplog.text
