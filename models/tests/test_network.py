"""The unified network: the semantic head's structure and shapes, a training step, and an export that the
server's engine loads and runs (through onnxruntime-node)."""

import json
import os
import subprocess
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from export import export  # noqa: E402
from fusionseg_model.data import CityscapesSplit, collate  # noqa: E402
from fusionseg_model.network import AtrousSpatialPyramid, SemanticHead, UnifiedNet  # noqa: E402
from fusionseg_model.synthetic import write_split  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def features(batch=2, channels=32, height=64, width=128):
    return {str(i): torch.randn(batch, channels, height // 4 // 2**i, width // 4 // 2**i) for i in range(4)}


def test_asp_rp_head_shapes_and_dilations():
    head = SemanticHead(32, 19, "asp-rp")
    assert isinstance(head.levels["2"], AtrousSpatialPyramid) and isinstance(head.levels["3"], AtrousSpatialPyramid)
    assert head.levels["3"].dilations == (6, 12, 18)
    assert [b[0].dilation for b in head.levels["3"].branches] == [(1, 1), (6, 6), (12, 12), (18, 18)]
    assert head.levels["3"].project[0].out_channels == 128
    maps = head.level_maps(features())
    assert [m.shape[1] for m in maps] == [128, 128, 128, 128]
    assert [tuple(m.shape[-2:]) for m in maps] == [(16, 32), (8, 16), (4, 8), (2, 4)]
    assert head.classifier.in_channels == 512  # four levels of 128 concatenated at 1/4
    assert tuple(head(features()).shape) == (2, 19, 16, 32)


def test_refinement_pyramid_adds_coarser_levels():
    head = SemanticHead(32, 19, "asp-rp").eval()
    f = features(batch=1)
    with torch.no_grad():
        refined = head.level_maps(f)
        coarse = head.levels["3"](f["3"])
        finer = head.levels["2"](f["2"])
    expected = finer + torch.nn.functional.interpolate(coarse, size=finer.shape[-2:], mode="nearest")
    assert torch.allclose(refined[2], expected, atol=1e-5)


def test_baseline_head_has_two_convs_per_level_and_no_asp():
    head = SemanticHead(32, 19, "baseline")
    assert not any(isinstance(m, AtrousSpatialPyramid) for m in head.modules())
    assert all(len(level) == 2 for level in head.levels.values())
    assert tuple(head(features()).shape) == (2, 19, 16, 32)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    write_split(root, "train", 2, 1, 256, 128)
    return root


def test_forward_and_backward(tiny_data):
    torch.manual_seed(0)
    net = UnifiedNet(width=0.25, fpn_channels=32, representation=64, mask_channels=16)
    data = CityscapesSplit(tiny_data, "train")
    images, semantic, targets = collate([data[0], data[1]])
    losses = net(images, targets, semantic)
    assert set(losses) >= {"loss_objectness", "loss_classifier", "loss_mask", "loss_semantic"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert net.semantic_head.classifier.weight.grad is not None
    assert net.backbone.body.conv1.weight.grad is not None


def test_export_runs_in_the_servers_engine(tmp_path):
    torch.manual_seed(0)
    net = UnifiedNet(width=0.25, fpn_channels=32, representation=64, mask_channels=16)
    out = str(tmp_path / "model")
    export(net, out, batch=2, height=64, width=128, name="tiny-random")
    manifest = json.load(open(os.path.join(out, "model.json")))
    assert manifest["input"] == {"name": "images", "width": 128, "height": 64}
    result = subprocess.run(
        ["node", "--import", "tsx", "scripts/check-model.ts", out], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["name"] == "tiny-random"
    assert report["semanticPixels"] == 64 * 128
    assert all(0 <= label < 19 for label in report["semanticLabels"])
    assert report["maskSize"] in (None, 28)
