"""ONNX Runtime inference for the EfficientNet-Lite trunk (3-6x faster than torch on CPU here).

``backbones.build(..., engine="auto")`` attaches an :class:`OnnxTrunkRunner` to
the torch trunk (``model.runtime``).  The module stays the same torch module
(state dict, ``set_taps``, ``_blocks``, ``classify``, ``.to(device)`` all
unchanged); only ``forward`` asks the runner first, and the runner serves the
call only when that is exactly equivalent:

* the input is a float32 CPU tensor (CUDA users keep torch),
* the module is in eval mode and no gradient is wanted (autograd off, or
  neither the input nor any weight requires grad): training keeps torch.

Anything else, and any failure to write or load the graph (logged once as a
warning), runs the torch code.  ``TRACKASSIST_TRUNK_ENGINE=torch`` in the
environment forces torch for ``engine="auto"`` (debugging).

The graph (see :mod:`.onnx_graph`) is written at first use into
``$TRACKASSIST_CACHE_DIR/onnx`` (default ``$XDG_CACHE_HOME/trackassist/onnx``,
i.e. ``~/.cache/trackassist/onnx``), named by a hash of the weights, taps and
writer version; the file and a ``.sha256`` beside it are written atomically
(temporary file + rename) and the checksum is verified at every load, so a
truncated or corrupted file is rebuilt.  Height, width and batch are dynamic:
one file serves every input size.  One ONNX Runtime session per (taps, torch
thread count): intra-op threads follow ``torch.get_num_threads()`` (trackers
set 1), inter-op is 1 and idle threads do not spin, so the GUI's core is left alone.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading

import torch

from .onnx_graph import trunk_layers, weights_digest, write_graph

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx")
ENGINE_ENV = "TRACKASSIST_TRUNK_ENGINE"
CACHE_ENV = "TRACKASSIST_CACHE_DIR"


def onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401  (writes the graph)
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> str:
    """Folder of the cached ONNX graphs (created on demand)."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "trackassist")
    return os.path.join(root, "onnx")


def _atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)   # mkstemp makes it private; the graph holds nothing secret
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_verified(path: str) -> bytes | None:
    """The cached graph if it and its checksum file agree, else None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        with open(path + ".sha256", encoding="ascii") as f:
            expected = f.read().strip()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == expected else None


class _Registrations:
    """Counts parameter/buffer/submodule assignments on any torch module in the process.

    Walking a trunk's ~100 parameters on every call costs ~0.5 ms; instead the
    runner keeps the list and walks again only when this count moved (a weight
    or layer was *replaced* somewhere).  Weights modified *in place*
    (``load_state_dict``, an optimiser step) show in ``Tensor._version``.
    """

    count = 0

    @classmethod
    def bump(cls, *args) -> None:
        cls.count += 1


from torch.nn.modules import module as _torch_module  # noqa: E402

_torch_module.register_module_parameter_registration_hook(_Registrations.bump)
_torch_module.register_module_buffer_registration_hook(_Registrations.bump)
_torch_module.register_module_module_registration_hook(_Registrations.bump)


def _weights_fingerprint(tensors: list[torch.Tensor]) -> tuple:
    """Changes whenever one of ``tensors`` is modified in place or its storage swapped (``.data = ...``)."""
    return tuple((t.data_ptr(), t._version) for t in tensors)


class OnnxTrunkRunner:
    """Runs an ``EfficientNetLite`` trunk's ``forward`` with ONNX Runtime (see the module doc)."""

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.disabled = False
        self.exports = 0          # graphs written by this runner (0 when all came from the cache)
        self.graph_paths: dict[tuple[int, ...], str] = {}
        self._sessions: dict[tuple, tuple[tuple, object]] = {}
        self._tensors: list[torch.Tensor] = []
        self._tensors_at = -1      # _Registrations.count when _tensors was listed
        self._lock = threading.Lock()

    # sessions cannot be copied or pickled: a copied trunk builds its own
    def __deepcopy__(self, memo) -> "OnnxTrunkRunner":
        return OnnxTrunkRunner(self.variant)

    def __getstate__(self) -> dict:
        return {"variant": self.variant}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["variant"])

    def serves(self, model: torch.nn.Module, x: torch.Tensor) -> bool:
        """True when running ``x`` through ONNX Runtime is equivalent to the torch forward."""
        if self.disabled or model.training or not isinstance(x, torch.Tensor) or torch.compiler.is_compiling():
            return False
        if x.device.type != "cpu" or x.dtype != torch.float32 or x.ndim != 4 or x.shape[1] != 3:
            return False
        if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in model.parameters())):
            return False
        return True

    def __call__(self, model: torch.nn.Module, x: torch.Tensor) -> dict[int, torch.Tensor] | None:
        """``{stride: features}`` like the torch forward, or None to let torch run this call."""
        if not self.serves(model, x):
            return None
        try:
            session = self.session(model)
        except Exception as exc:  # noqa: BLE001 -- any failure means "use torch", never a crash
            self.disabled = True
            log.warning("ONNX Runtime trunk unavailable (%s: %s); the %s trunk runs with torch instead "
                        "(set %s=torch to silence this)", type(exc).__name__, exc, self.variant, ENGINE_ENV)
            return None
        outputs = session.run(None, {"image": x.detach().contiguous().numpy()})
        return {tap: torch.from_numpy(out) for tap, out in zip(model.taps, outputs)}

    def session(self, model: torch.nn.Module):
        """The session for the model's current taps, weights and torch thread count."""
        threads = max(1, torch.get_num_threads())
        key = (tuple(model.taps), threads)
        with self._lock:
            if self._tensors_at != _Registrations.count:
                self._tensors = list(model.parameters()) + list(model.buffers())
                self._tensors_at = _Registrations.count
            fingerprint = _weights_fingerprint(self._tensors)
            cached = self._sessions.get(key)
            if cached is None or cached[0] != fingerprint:
                self._sessions[key] = (fingerprint, self._new_session(self._graph(model), threads))
            return self._sessions[key][1]

    def _graph(self, model: torch.nn.Module) -> bytes:
        """Serialized graph from the cache, written there first if missing or damaged."""
        layers = trunk_layers(model)
        digest = weights_digest(layers, self.variant, tuple(model.taps))
        folder = cache_dir()
        path = os.path.join(folder, f"{self.variant}-{'-'.join(map(str, model.taps))}-{digest[:24]}.onnx")
        self.graph_paths[tuple(model.taps)] = path
        data = _read_verified(path)
        if data is not None:
            return data
        data = write_graph(layers, name=f"{self.variant}_trunk")
        self.exports += 1
        try:
            os.makedirs(folder, exist_ok=True)
            _atomic_write(path, data)
            _atomic_write(path + ".sha256", hashlib.sha256(data).hexdigest().encode("ascii"))
            log.info("wrote ONNX trunk graph %s", path)
        except OSError as exc:   # a read-only cache only costs the (sub-second) rewrite next time
            log.info("could not cache the ONNX trunk graph in %s: %s", folder, exc)
        return data

    @staticmethod
    def _new_session(data: bytes, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # spinning worker threads would burn the core the GUI and the decoder need
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def resolve_engine(engine: str, variant_supported: bool) -> str:
    """"torch" or "onnx" for a ``build(engine=...)`` request (warns when "onnx" cannot be had)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "auto":
        forced = os.environ.get(ENGINE_ENV, "").strip().lower()
        if forced in ("torch", "onnx"):
            engine = forced
        elif forced not in ("", "auto"):
            log.warning("ignoring %s=%r (expected torch, onnx or auto)", ENGINE_ENV, forced)
        else:
            return "onnx" if variant_supported and onnxruntime_available() else "torch"
    if engine == "onnx":
        if not variant_supported:
            log.warning("the ONNX Runtime engine only covers EfficientNet-Lite trunks; using torch")
            return "torch"
        if not onnxruntime_available():
            log.warning("engine='onnx' needs the onnxruntime and onnx packages (pip install onnxruntime onnx); "
                        "using torch")
            return "torch"
    return engine
