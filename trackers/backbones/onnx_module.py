"""ONNX Runtime inference for a tracker's small learned head (fixed input shapes), torch otherwise.

Why: after the trunk moved to ONNX Runtime, FCOT's decoder and heads (a dozen
small convolutions at 18x18-72x72) became a third of the per-frame feature
time; ONNX Runtime runs them in ~5 ms where torch takes ~9 ms on one core
(measured on the 2-core machine, 288-pixel crop).

:class:`OnnxModuleRunner` wraps a module whose ``forward`` takes tensors and
returns a tensor or a tuple of tensors.  Like :class:`.onnx_engine.OnnxTrunkRunner`
it serves a call only when that is exactly equivalent (eval mode, float32 CPU
inputs, no gradient wanted) and falls back to the torch module on anything
else, including any failure to export or load (logged once).  The graph is
exported in memory with torch's TorchScript-based exporter for the call's
input shapes but any batch size (a tracker's crop size is fixed, so there is one graph per
tracker: its first-frame augmentations, a correction's and a frame's crops share it; ~0.3 s to
write), and rebuilt when a weight changes.
``TRACKASSIST_TRUNK_ENGINE=torch`` turns it off like the trunk's engine.
"""
from __future__ import annotations

import io
import logging
import os
import threading
import warnings

import torch

from .onnx_engine import ENGINE_ENV, OnnxTrunkRunner, _weights_fingerprint, onnxruntime_available

log = logging.getLogger(__name__)
OPSET = 17


class OnnxModuleRunner:
    """``runner(*tensors)`` = ``module(*tensors)``, on ONNX Runtime when that is equivalent."""

    def __init__(self, module: torch.nn.Module, input_names: tuple[str, ...], output_names: tuple[str, ...],
                 enabled: bool = True) -> None:
        self.module = module
        self.input_names, self.output_names = tuple(input_names), tuple(output_names)
        forced_torch = os.environ.get(ENGINE_ENV, "").strip().lower() == "torch"
        self.disabled = not enabled or forced_torch or not onnxruntime_available()
        self.exports = 0
        self._sessions: dict[tuple, tuple[tuple, object]] = {}
        self._lock = threading.Lock()

    def serves(self, args: tuple) -> bool:
        if self.disabled or any(m.training for m in self.module.modules()) or torch.compiler.is_compiling():
            return False
        if not all(isinstance(a, torch.Tensor) and a.device.type == "cpu" and a.dtype == torch.float32
                   for a in args):
            return False
        if torch.is_grad_enabled() and (any(a.requires_grad for a in args)
                                        or any(p.requires_grad for p in self.module.parameters())):
            return False
        return True

    def __call__(self, *args: torch.Tensor):
        if self.serves(args):
            try:
                session = self._session(args)
            except Exception as exc:  # noqa: BLE001 -- any failure means "use torch", never a crash
                self.disabled = True
                log.warning("ONNX Runtime unavailable for %s (%s: %s); it runs with torch instead",
                            type(self.module).__name__, type(exc).__name__, exc)
            else:
                outs = session.run(None, {n: a.detach().contiguous().numpy()
                                          for n, a in zip(self.input_names, args)})
                outs = tuple(torch.from_numpy(o) for o in outs)
                return outs[0] if len(outs) == 1 else outs
        return self.module(*args)

    def _session(self, args: tuple):
        threads = max(1, torch.get_num_threads())
        key = (tuple(tuple(a.shape[1:]) for a in args), threads)     # the batch axis is dynamic
        tensors = list(self.module.parameters()) + list(self.module.buffers())
        fingerprint = _weights_fingerprint(tensors)
        with self._lock:
            cached = self._sessions.get(key)
            if cached is None or cached[0] != fingerprint:
                self._sessions[key] = (fingerprint, OnnxTrunkRunner._new_session(self._export(args), threads))
            return self._sessions[key][1]

    def _export(self, args: tuple) -> bytes:
        buf = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            # the TorchScript-based exporter is deprecated in favour of the dynamo one, which needs
            # onnxscript and takes much longer; for a few fixed-shape convolutions the old one is exact
            warnings.simplefilter("ignore")
            torch.onnx.export(self.module, tuple(a.detach() for a in args), buf, dynamo=False,
                              input_names=list(self.input_names), output_names=list(self.output_names),
                              dynamic_axes={name: {0: "batch"} for name in self.input_names + self.output_names},
                              opset_version=OPSET)
        self.exports += 1
        return buf.getvalue()
