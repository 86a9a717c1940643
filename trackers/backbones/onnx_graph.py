"""Write an EfficientNet-Lite trunk as an ONNX graph, straight from its torch modules.

Why not ``torch.onnx.export``: the trunk's TensorFlow-SAME padding depends on
the input size, and exporting it with dynamic height/width makes the dynamo
exporter reason symbolically about every stride-2 layer (about 160 s on this
machine, 189 nodes of shape arithmetic), while the old exporter turns it into
~500 nodes that run 2x slower.  ONNX's ``Conv`` has the padding built in
(``auto_pad="SAME_UPPER"``: the extra pixel of a stride-2 layer goes
right/bottom, exactly TF ``SAME``), so the whole trunk is ~50 ``Conv``/``Clip``/
``Add`` nodes with symbolic ``N``, ``H``, ``W`` -- written in well under a second.

BatchNorm is folded here (in numpy) when the module still has it, so the graph is
the same for ``fold_bn=True`` and ``fold_bn=False`` trunks.  The graph stops
after the deepest requested tap, like ``EfficientNetLite.forward``; one output
per tap, named ``s<stride>``, in increasing stride order.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

# Bump whenever the graph written for the same weights changes (it is part of the cache key).
GRAPH_VERSION = 1
OPSET = 17
IR_VERSION = 8   # readable by every onnxruntime >= 1.14


def _folded(conv: nn.Conv2d, bn: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias of ``bn(conv(x))`` as one convolution (float32 numpy)."""
    weight = conv.weight.detach().double()
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros(weight.shape[0], dtype=torch.float64)
    if isinstance(bn, nn.BatchNorm2d):
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        weight = weight * scale.view(-1, 1, 1, 1)
        bias = (bias - bn.running_mean.double()) * scale + bn.bias.detach().double()
    return weight.float().numpy(), bias.float().numpy()


def trunk_layers(model) -> list[tuple]:
    """The trunk as a flat list of layers, up to the deepest tap.

    Each entry is ``("conv", weight, bias, stride, groups, relu6)``,
    ``("block_start",)``, ``("residual",)`` or ``("tap", stride)``.
    """
    layers: list[tuple] = []

    def conv(c: nn.Conv2d, bn: nn.Module, relu6: bool) -> None:
        w, b = _folded(c, bn)
        layers.append(("conv", w, b, c.stride[0], c.groups, relu6))

    conv(model._conv_stem, model._bn0, True)
    for i, block in enumerate(model._blocks):
        layers.append(("block_start",))
        if block.has_expand:
            conv(block._expand_conv, block._bn0, True)
        conv(block._depthwise_conv, block._bn1, True)
        conv(block._project_conv, block._bn2, False)
        if block.residual:
            layers.append(("residual",))
        if i in model._tap_after:
            layers.append(("tap", model._tap_after[i]))
        if i == model._last_block:
            break
    return layers


def weights_digest(layers: list[tuple], variant: str, taps: tuple[int, ...]) -> str:
    """Hash of everything the graph depends on: weights, layout, taps, writer version."""
    h = hashlib.sha256(f"lite-graph v{GRAPH_VERSION} opset{OPSET} {variant} taps={taps}".encode())
    for layer in layers:
        h.update(repr([v for v in layer if not isinstance(v, np.ndarray)]).encode())
        for v in layer:
            if isinstance(v, np.ndarray):
                h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


def write_graph(layers: list[tuple], name: str = "trunk") -> bytes:
    """Serialized ONNX model of ``layers`` with input ``image`` (N, 3, H, W)."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array(6.0, np.float32), "six")]
    nodes, outputs = [], []
    x, block_input, n, channels = "image", "image", 0, 3
    for layer in layers:
        kind = layer[0]
        if kind == "block_start":
            block_input = x
        elif kind == "conv":
            _, w, b, stride, groups, relu6 = layer
            n += 1
            inits += [numpy_helper.from_array(w, f"w{n}"), numpy_helper.from_array(b, f"b{n}")]
            k = int(w.shape[-1])
            pad = {"auto_pad": "SAME_UPPER"} if stride > 1 else {"pads": [(k - 1) // 2] * 4}
            nodes.append(helper.make_node("Conv", [x, f"w{n}", f"b{n}"], [f"c{n}"], kernel_shape=[k, k],
                                          strides=[stride, stride], group=groups, **pad))
            x, channels = f"c{n}", int(w.shape[0])
            if relu6:
                nodes.append(helper.make_node("Clip", [x, "zero", "six"], [f"r{n}"]))
                x = f"r{n}"
        elif kind == "residual":
            nodes.append(helper.make_node("Add", [x, block_input], [f"a{n}"]))
            x = f"a{n}"
        elif kind == "tap":
            stride = layer[1]
            nodes.append(helper.make_node("Identity", [x], [f"s{stride}"]))
            outputs.append(helper.make_tensor_value_info(f"s{stride}", TensorProto.FLOAT,
                                                         ["N", channels, f"H/{stride}", f"W/{stride}"]))
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])
    graph = helper.make_graph(nodes, name, [image], outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="trackassist", producer_version=str(GRAPH_VERSION))
    model.ir_version = IR_VERSION
    return model.SerializeToString()
