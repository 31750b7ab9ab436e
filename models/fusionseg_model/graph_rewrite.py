"""Rewrites of an exported graph that keep every output bit for bit and make it cheaper to run.

`merge_levels_by_gather`: torchvision's MultiScaleRoIAlign exports its level merge (`_onnx_merge_levels`)
as a chain of ScatterElements over the whole [R, C, h, w] result, one per FPN level, each with an int64
index tensor of the same size built by Expand. On ONNX Runtime's CPU provider that chain costs more than
the RoIAligns themselves. The rewrite concatenates the per-level results in level order and gathers the
rows back into RoI order with the inverse permutation (a ScatterElements over R indices): the same values,
moved once.

`align_rois_as_trained`: torchvision 0.14 exports `roi_align` with its opset-11 rule, which writes no
`coordinate_transformation_mode`; in an opset-16 graph ONNX Runtime then takes that opset's default,
`half_pixel` (torchvision's `aligned=True`), while the network was trained with `aligned=False`, which is
ONNX's `output_half_pixel`. Setting the attribute makes the served graph pool RoIs as training did. It
changes outputs (towards the trained network's), so it is not applied unless asked
(`--align-rois-as-trained`): the shipped models' figures are those of the served alignment, and
models/README.md ("Known issue") has what the fix does to them.

    /usr/bin/python3 -m models.fusionseg_model.graph_rewrite models/default/model.onnx [--out FILE] \
        [--align-rois-as-trained]
"""

from __future__ import annotations

import argparse

import onnx
from onnx import TensorProto, helper


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {output: node for node in graph.node for output in node.output}


def _level_index(producers: dict[str, onnx.NodeProto], expanded: str) -> str:
    """The 1-D RoI index of one level behind `Expand(Reshape(index, [-1, 1, 1, 1]), shape)`."""
    expand = producers[expanded]
    reshape = producers[expand.input[0]]
    if expand.op_type != "Expand" or reshape.op_type != "Reshape":
        raise ValueError(f"{expand.name}: not the index pattern of torchvision's level merge")
    return reshape.input[0]


def _merge_chains(graph: onnx.GraphProto) -> list[list[onnx.NodeProto]]:
    """Chains of ScatterElements whose first data input is a ConstantOfShape (the zeros) and whose indices
    are expanded (torchvision's pattern; the inverse permutation this rewrite writes has neither)."""
    producers = _producers(graph)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    chains = []
    for node in graph.node:
        if node.op_type != "ScatterElements":
            continue
        first = producers.get(node.input[0])
        index = producers.get(node.input[1])
        if first is None or first.op_type != "ConstantOfShape" or index is None or index.op_type != "Expand":
            continue
        chain = [node]
        while True:
            users = consumers.get(chain[-1].output[0], [])
            if len(users) == 1 and users[0].op_type == "ScatterElements" and users[0].input[0] == chain[-1].output[0]:
                chain.append(users[0])
            else:
                break
        chains.append(chain)
    return chains


def merge_levels_by_gather(model: onnx.ModelProto) -> int:
    """Rewrites every level-merge chain in `model` in place; returns how many it rewrote."""
    graph = model.graph
    producers = _producers(graph)
    chains = _merge_chains(graph)
    for number, chain in enumerate(chains):
        prefix = f"merge_levels_{number}"
        indices = [_level_index(producers, scatter.input[1]) for scatter in chain]
        values = [scatter.input[2] for scatter in chain]
        out = chain[-1].output[0]
        scalar = lambda value: helper.make_tensor("value", TensorProto.INT64, [], [value])  # noqa: E731
        nodes = [
            helper.make_node("Constant", [], [f"{prefix}/zero"], value=scalar(0), name=f"{prefix}/Zero"),
            helper.make_node("Constant", [], [f"{prefix}/one"], value=scalar(1), name=f"{prefix}/One"),
            helper.make_node("Concat", indices, [f"{prefix}/order"], axis=0, name=f"{prefix}/ConcatIndex"),
            helper.make_node("Concat", values, [f"{prefix}/by_level"], axis=0, name=f"{prefix}/ConcatValues"),
            helper.make_node("Shape", [f"{prefix}/order"], [f"{prefix}/count"], name=f"{prefix}/Shape"),
            helper.make_node("Squeeze", [f"{prefix}/count"], [f"{prefix}/count_scalar"], name=f"{prefix}/Squeeze"),
            helper.make_node(
                "Range", [f"{prefix}/zero", f"{prefix}/count_scalar", f"{prefix}/one"], [f"{prefix}/positions"],
                name=f"{prefix}/Range",
            ),
            helper.make_node(
                "ConstantOfShape", [f"{prefix}/count"], [f"{prefix}/zeros"], name=f"{prefix}/Zeros",
                value=helper.make_tensor("value", TensorProto.INT64, [1], [0]),
            ),
            # inverse[order[i]] = i: where RoI r sits in the level-ordered results.
            helper.make_node(
                "ScatterElements", [f"{prefix}/zeros", f"{prefix}/order", f"{prefix}/positions"],
                [f"{prefix}/inverse"], axis=0, name=f"{prefix}/Inverse",
            ),
            helper.make_node("Gather", [f"{prefix}/by_level", f"{prefix}/inverse"], [out], axis=0, name=f"{prefix}/Gather"),
        ]
        position = list(graph.node).index(chain[-1])
        for scatter in chain:
            graph.node.remove(scatter)
        for offset, node in enumerate(nodes):
            graph.node.insert(position - len(chain) + 1 + offset, node)
    _remove_dead_nodes(graph)
    return len(chains)


def align_rois_as_trained(model: onnx.ModelProto) -> int:
    """Sets `coordinate_transformation_mode = "output_half_pixel"` (torchvision's aligned=False) on every
    RoiAlign that has no mode; returns how many it set. Any mode written by the exporter is left alone."""
    count = 0
    for node in model.graph.node:
        if node.op_type == "RoiAlign" and all(a.name != "coordinate_transformation_mode" for a in node.attribute):
            node.attribute.append(helper.make_attribute("coordinate_transformation_mode", "output_half_pixel"))
            count += 1
    return count


def _remove_dead_nodes(graph: onnx.GraphProto) -> None:
    """Drops nodes none of whose outputs reach a graph output (walking back from the outputs)."""
    needed = {output.name for output in graph.output}
    keep = []
    for node in reversed(list(graph.node)):
        if any(name in needed for name in node.output):
            keep.append(node)
            needed.update(name for name in node.input if name)
            for attribute in node.attribute:  # subgraphs read outer names too
                for subgraph in [attribute.g, *attribute.graphs]:
                    for inner in subgraph.node:
                        needed.update(inner.input)
    kept = set(id(node) for node in keep)
    for node in list(graph.node):
        if id(node) not in kept:
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for initializer in list(graph.initializer):
        if initializer.name not in used:
            graph.initializer.remove(initializer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--out", help="where to write (default: in place)")
    parser.add_argument(
        "--align-rois-as-trained", action="store_true", help="also set RoiAlign's mode to aligned=False (changes outputs)"
    )
    args = parser.parse_args()
    model = onnx.load(args.model)
    counts = {"level merges": merge_levels_by_gather(model)}
    if args.align_rois_as_trained:
        counts["RoIAligns aligned as trained"] = align_rois_as_trained(model)
    onnx.checker.check_model(model)
    onnx.save(model, args.out or args.model)
    print(f"rewrote {', '.join(f'{n} {what}' for what, n in counts.items())}; {len(model.graph.node)} nodes")


if __name__ == "__main__":
    main()
