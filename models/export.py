"""Exports a trained checkpoint as a model folder that honours the model contract (models/README.md):
`model.onnx` (uint8 [N, 3, H, W] in, normalisation inside; semantic labels, boxes, scores, classes, mask
probabilities before pasting, batch index out) and `model.json`.

    /usr/bin/python3 models/export.py --checkpoint models/checkpoints/run/last.pt --out models/default \
        [--batch 1] [--size 256x512] [--name fusionseg-r18w05-asprp]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fusionseg_model.graph_rewrite import merge_levels_by_gather  # noqa: E402
from fusionseg_model.network import THING_TRAIN_IDS, ExportModule, UnifiedNet  # noqa: E402

OUTPUTS = ["semantic", "boxes", "scores", "classes", "masks", "batch_index"]


def export(
    net: UnifiedNet,
    out: str,
    batch: int,
    height: int,
    width: int,
    name: str,
    training: dict | None = None,
    rewrite: bool = True,
) -> None:
    """Writes `out`/model.onnx and model.json; `rewrite` applies graph_rewrite's exact rewrites."""
    os.makedirs(out, exist_ok=True)
    net.eval()
    module = ExportModule(net)
    example = torch.randint(0, 256, (batch, 3, height, width), dtype=torch.uint8)
    with torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            os.path.join(out, "model.onnx"),
            input_names=["images"],
            output_names=OUTPUTS,
            dynamic_axes={name: {0: "K"} for name in OUTPUTS[1:]},
            opset_version=16,
            do_constant_folding=True,
        )
    if rewrite:
        graph = onnx.load(os.path.join(out, "model.onnx"))
        merge_levels_by_gather(graph)
        onnx.checker.check_model(graph)
        onnx.save(graph, os.path.join(out, "model.onnx"))
    manifest = {
        "format": "fusionseg-model/1",
        "name": name,
        "kind": "unified",
        "onnx": "model.onnx",
        "input": {"name": "images", "width": width, "height": height},
        "outputs": {
            "semantic": {"name": "semantic", "type": "labels"},
            "boxes": "boxes",
            "scores": "scores",
            "classes": "classes",
            "masks": "masks",
            "batchIndex": "batch_index",
        },
        "maskSize": 28,
        "labelSpace": "cityscapes",
        "classMap": {str(k + 1): train_id for k, train_id in enumerate(THING_TRAIN_IDS)},
        "training": {**net.config, **(training or {})},
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--batch", type=int, default=1, help="the graph's fixed batch size: 1 suits CPU sessions; GPUs gain from more (the engine pads)"
    )
    parser.add_argument("--size", default="256x512")
    parser.add_argument("--name")
    parser.add_argument(
        "--no-graph-rewrite", action="store_true", help="keep the graph as torch.onnx exports it (graph_rewrite.py)"
    )
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split("x"))
    state = torch.load(args.checkpoint, map_location="cpu")
    net = UnifiedNet(**state["config"])
    net.load_state_dict(state["model"])
    config = state["config"]
    name = args.name or f"fusionseg-r{config['depth']}w{str(config['width']).replace('.', '')}-{config['head']}"
    export(net, args.out, args.batch, height, width, name, {"iterations": state["iteration"]}, not args.no_graph_rewrite)
    print(f"wrote {args.out}/model.onnx and model.json ({os.path.getsize(os.path.join(args.out, 'model.onnx')) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
