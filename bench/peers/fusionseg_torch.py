"""The shipped default model in PyTorch eager: rebuilds `UnifiedNet` from models/fusionseg_model/network.py
and takes every weight from the model folder's ONNX export (no PyTorch checkpoint of it exists).

The export (models/export.py) kept module names for the FPN, RPN, RoI heads and semantic-head convs. Two
kinds of tensor lost them:
  * the backbone's convs: the exporter folded each eval-mode BatchNorm into the conv before it, leaving a
    weight and a bias named `onnx::Conv_N`. They are matched to the ResNet's convs in forward order (the
    order of their Conv nodes in the graph), the folded bias is set on the conv and the BatchNorm becomes
    an identity.
  * the semantic head's GroupNorm affine parameters, exported as `Mul`/`Add` constants after an
    InstanceNormalization. They are found by walking the graph from each InstanceNormalization back to the
    (named) Conv it normalises and forward to its Mul and Add.
Shapes are checked at every step, and every ONNX initializer must be used exactly once.

RoIAlign: torchvision 0.14 exports roi_align with its opset-11 symbolic, which writes no
`coordinate_transformation_mode`; in an opset-16 graph ONNX Runtime then applies the opset-16 default,
"half_pixel", i.e. torchvision's `aligned=True`, whereas the network was trained with `aligned=False`. So
the served model pools RoIs half a pixel off the trained one. `load_from_onnx` reads the mode the graph
asks for and makes torchvision's MultiScaleRoIAlign (in this process) use the same one, so that the peer
computes what the service computes (`roi_align="trained"` keeps aligned=False).
"""

from __future__ import annotations

import json
import os
import sys

import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "models"))
from fusionseg_model.network import THING_TRAIN_IDS, UnifiedNet  # noqa: E402

NET_KEYS = ("depth", "head", "width", "fpn_channels", "representation", "max_detections", "mask_channels")


def _backbone_conv_bn_pairs(net: UnifiedNet) -> list[tuple[nn.Module, str, nn.Conv2d, str]]:
    """(parent, bn attribute path, conv, conv name) of every conv followed by a BatchNorm, in forward order."""
    body = net.backbone.body
    pairs = []
    modules = list(body.named_modules())
    for i, (name, module) in enumerate(modules):
        if isinstance(module, nn.Conv2d):
            bn_name, bn = modules[i + 1]
            assert isinstance(bn, nn.BatchNorm2d), f"{name} is not followed by a BatchNorm ({bn_name})"
            pairs.append((module, name, bn_name))
    return pairs


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, leaf, module)


def graph_roi_aligned(graph) -> bool:
    """Whether the graph's RoiAlign nodes run as torchvision's aligned=True (ONNX "half_pixel")."""
    import onnx

    modes = set()
    for node in graph.node:
        if node.op_type == "RoiAlign":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            mode = attrs.get("coordinate_transformation_mode", b"half_pixel")  # the opset-16 default
            modes.add(mode.decode() if isinstance(mode, bytes) else mode)
    assert len(modes) <= 1, f"mixed RoiAlign modes {modes}"
    return modes == {"half_pixel"}


def use_roi_alignment(aligned: bool) -> None:
    """Makes torchvision's MultiScaleRoIAlign (poolers.py calls the module-level roi_align) use `aligned`."""
    import functools

    import torchvision.ops.poolers as poolers
    from torchvision.ops import roi_align

    poolers.roi_align = functools.partial(roi_align, aligned=aligned) if aligned else roi_align


def load_from_onnx(model_dir: str, roi_align: str = "served") -> tuple[UnifiedNet, dict]:
    """The network of `model_dir` (model.json + its ONNX file) in eval mode, and its manifest.
    roi_align: "served" pools RoIs as ONNX Runtime runs the graph, "trained" as torchvision (aligned=False)."""
    if roi_align not in ("served", "trained"):
        raise ValueError(f"roi_align must be 'served' or 'trained', got {roi_align!r}")
    import onnx
    from onnx import numpy_helper

    with open(os.path.join(model_dir, "model.json")) as f:
        manifest = json.load(f)
    config = {k: v for k, v in manifest["training"].items() if k in NET_KEYS}
    net = UnifiedNet(**config).eval()
    graph = onnx.load(os.path.join(model_dir, manifest["onnx"])).graph
    use_roi_alignment(roi_align == "served" and graph_roi_aligned(graph))
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    used: set[str] = set()

    def take(name: str, shape) -> torch.Tensor:
        tensor = inits[name]
        assert tuple(tensor.shape) == tuple(shape), f"{name}: {tuple(tensor.shape)} != {tuple(shape)}"
        assert name not in used, f"{name} used twice"
        used.add(name)
        return tensor

    state = net.state_dict()
    with torch.no_grad():
        # 1. Tensors that kept their module names.
        for name, tensor in inits.items():
            if name.startswith("net."):
                key = name[len("net."):]
                state[key].copy_(take(name, state[key].shape))

        # 2. Backbone convs with BatchNorm folded in, by forward order.
        folded = [n for n in graph.node if n.op_type == "Conv" and n.input[1].startswith("onnx::Conv_")]
        pairs = _backbone_conv_bn_pairs(net)
        assert len(folded) == len(pairs), f"{len(folded)} folded ONNX convs, {len(pairs)} backbone conv+BN pairs"
        for node, (conv, conv_name, bn_name) in zip(folded, pairs):
            assert len(node.input) == 3, f"{node.name} has no folded bias"
            conv.weight.copy_(take(node.input[1], conv.weight.shape))
            conv.bias = nn.Parameter(take(node.input[2], (conv.out_channels,)).clone())
            _set_module(net.backbone.body, bn_name, nn.Identity())

        # 3. GroupNorm affine parameters: InstanceNormalization -> Reshape -> Mul(weight) -> Add(bias).
        producer = {o: n for n in graph.node for o in n.output}
        consumers: dict[str, list] = {}
        for n in graph.node:
            for i in n.input:
                consumers.setdefault(i, []).append(n)
        for node in graph.node:
            if node.op_type != "InstanceNormalization":
                continue
            back = producer[node.input[0]]
            while back.op_type != "Conv":
                back = producer[back.input[0]]
            forward = consumers[node.output[0]][0]
            while forward.op_type != "Mul":
                forward = consumers[forward.output[0]][0]
            add = consumers[forward.output[0]][0]
            assert add.op_type == "Add"
            conv_key = back.input[1][len("net."):]  # e.g. semantic_head.levels.0.0.0.weight
            block = net.get_submodule(conv_key.rsplit(".", 2)[0])  # conv_block: Sequential(conv, gn, relu)
            norm = block[1]
            assert isinstance(norm, nn.GroupNorm), conv_key
            mul_name = next(i for i in forward.input if i in inits)
            add_name = next(i for i in add.input if i in inits)
            norm.weight.copy_(take(mul_name, (norm.num_channels, 1, 1)).flatten())
            norm.bias.copy_(take(add_name, (norm.num_channels, 1, 1)).flatten())

    unused = set(inits) - used
    assert not unused, f"ONNX initializers left unused: {sorted(unused)}"
    # Parameters the ONNX file never set would be silently random: every BatchNorm is gone and every
    # GroupNorm set above; check no other normalisation survives.
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    return net, manifest


def class_map(manifest: dict) -> dict[int, int]:
    """Detector class (1..8) -> semantic train id."""
    return {int(k): int(v) for k, v in manifest.get("classMap", {}).items()} or {
        k + 1: t for k, t in enumerate(THING_TRAIN_IDS)
    }
