"""The paper's unified network (section 2): a ResNet-FPN backbone shared by Mask R-CNN heads and a
semantic segmentation head, with the baseline head kept for the ablation of Table 1.

Semantic head ("asp-rp"): one head per FPN level, each producing `maps` (128) feature maps. At 1/32 and
1/16 an Atrous Spatial Pyramid: a 1x1 conv and three 3x3 convs with dilation 6, 12 and 18, concatenated
and passed through 128 1x1 filters. At 1/8 and 1/4 two 3x3 convs. A refinement pyramid adds each level,
upsampled x2, to the next finer one, starting from 1/32. All four are upsampled to 1/4 and concatenated
into 512 maps, and a 1x1 conv gives the class scores. The baseline head uses two 3x3 convs at every level
and neither ASP nor RP.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import MultiScaleRoIAlign

NUM_CLASSES = 19  # Cityscapes train ids
THING_TRAIN_IDS = (11, 12, 13, 14, 15, 16, 17, 18)  # detector class k (1..8) is train id THING_TRAIN_IDS[k-1]
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
LEVELS = ("0", "1", "2", "3")  # FPN outputs at 1/4, 1/8, 1/16, 1/32


def conv_block(in_channels: int, out_channels: int, kernel: int = 3, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False),
        nn.GroupNorm(16, out_channels),
        nn.ReLU(inplace=True),
    )


class AtrousSpatialPyramid(nn.Module):
    """A 1x1 conv and three 3x3 convs dilated 6, 12, 18, concatenated, then `maps` 1x1 filters."""

    def __init__(self, in_channels: int, maps: int = 128, dilations=(6, 12, 18)):
        super().__init__()
        self.dilations = tuple(dilations)
        self.branches = nn.ModuleList(
            [conv_block(in_channels, maps, 1)] + [conv_block(in_channels, maps, 3, d) for d in self.dilations]
        )
        self.project = conv_block(maps * len(self.branches), maps, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


class SemanticHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int = NUM_CLASSES, head: str = "asp-rp", maps: int = 128):
        super().__init__()
        if head not in ("asp-rp", "baseline"):
            raise ValueError(f"head must be 'asp-rp' or 'baseline', got {head!r}")
        self.head = head
        self.maps = maps
        two_convs = lambda: nn.Sequential(conv_block(in_channels, maps), conv_block(maps, maps))  # noqa: E731
        if head == "asp-rp":
            self.levels = nn.ModuleDict(
                {"0": two_convs(), "1": two_convs(), "2": AtrousSpatialPyramid(in_channels, maps), "3": AtrousSpatialPyramid(in_channels, maps)}
            )
        else:
            self.levels = nn.ModuleDict({level: two_convs() for level in LEVELS})
        self.classifier = nn.Conv2d(4 * maps, num_classes, 1)

    def level_maps(self, features: "OrderedDict[str, torch.Tensor]") -> list[torch.Tensor]:
        """The per-level maps (finest first), after the refinement pyramid for 'asp-rp'."""
        outs = [self.levels[level](features[level]) for level in LEVELS]
        if self.head == "asp-rp":
            # Refinement pyramid: from the coarsest level, upsample x2 and add to the next finer one.
            for i in range(len(outs) - 2, -1, -1):
                outs[i] = outs[i] + F.interpolate(outs[i + 1], size=outs[i].shape[-2:], mode="nearest")
        return outs

    def forward(self, features: "OrderedDict[str, torch.Tensor]") -> torch.Tensor:
        outs = self.level_maps(features)
        size = outs[0].shape[-2:]
        merged = torch.cat([outs[0]] + [F.interpolate(o, size=size, mode="bilinear", align_corners=False) for o in outs[1:]], dim=1)
        return self.classifier(merged)  # class scores at 1/4


def scaled_resnet(depth: int, width: float = 1.0) -> ResNet:
    """torchvision's ResNet-18/34/50, its channel counts multiplied by `width` (0.5 for a small CPU model)."""
    if depth not in (18, 34, 50):
        raise ValueError(f"depth must be 18, 34 or 50, got {depth}")
    block, layers = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]), 50: (Bottleneck, [3, 4, 6, 3])}[depth]
    net = ResNet(block, layers)
    if width != 1.0:
        widths = [int(64 * width * k) for k in (1, 2, 4, 8)]
        net.inplanes = widths[0]
        net.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        net.bn1 = nn.BatchNorm2d(widths[0])
        net.layer1 = net._make_layer(block, widths[0], layers[0])
        net.layer2 = net._make_layer(block, widths[1], layers[1], stride=2)
        net.layer3 = net._make_layer(block, widths[2], layers[2], stride=2)
        net.layer4 = net._make_layer(block, widths[3], layers[3], stride=2)
    return net


def build_backbone(depth: int, fpn_channels: int, width: float = 1.0) -> BackboneWithFPN:
    resnet = scaled_resnet(depth, width)
    expansion = 4 if depth == 50 else 1
    in_channels = [int(64 * width * k) * expansion for k in (1, 2, 4, 8)]
    return BackboneWithFPN(
        resnet,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=in_channels,
        out_channels=fpn_channels,
    )


class UnifiedNet(nn.Module):
    """ResNet-FPN + Mask R-CNN heads (torchvision's) + the semantic head, sharing the backbone."""

    def __init__(
        self,
        depth: int = 18,
        head: str = "asp-rp",
        width: float = 1.0,
        fpn_channels: int = 128,
        representation: int = 256,
        max_detections: int = 30,
        mask_channels: int = 64,
    ):
        super().__init__()
        self.config = dict(
            depth=depth, head=head, width=width, fpn_channels=fpn_channels, representation=representation,
            max_detections=max_detections, mask_channels=mask_channels,
        )
        self.backbone = build_backbone(depth, fpn_channels, width)
        anchors = AnchorGenerator(sizes=((16,), (32,), (64,), (128,), (256,)), aspect_ratios=((0.5, 1.0, 2.0),) * 5)
        self.rpn = RegionProposalNetwork(
            anchors,
            RPNHead(fpn_channels, anchors.num_anchors_per_location()[0]),
            fg_iou_thresh=0.7,
            bg_iou_thresh=0.3,
            batch_size_per_image=256,
            positive_fraction=0.5,
            pre_nms_top_n=dict(training=1000, testing=500),
            post_nms_top_n=dict(training=500, testing=100),
            nms_thresh=0.7,
        )
        things = len(THING_TRAIN_IDS) + 1
        # A small box head: torchvision's default representation of 1024 alone is 13M parameters.
        self.roi_heads = RoIHeads(
            box_roi_pool=MultiScaleRoIAlign(list(LEVELS), 7, 2),
            box_head=TwoMLPHead(fpn_channels * 7 * 7, representation),
            box_predictor=FastRCNNPredictor(representation, things),
            fg_iou_thresh=0.5,
            bg_iou_thresh=0.5,
            batch_size_per_image=128,
            positive_fraction=0.25,
            bbox_reg_weights=None,
            score_thresh=0.05,
            nms_thresh=0.5,
            detections_per_img=max_detections,
            mask_roi_pool=MultiScaleRoIAlign(list(LEVELS), 14, 2),
            mask_head=MaskRCNNHeads(fpn_channels, (mask_channels,) * 4, 1),
            mask_predictor=MaskRCNNPredictor(mask_channels, mask_channels, things),
        )
        self.semantic_head = SemanticHead(fpn_channels, NUM_CLASSES, head)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255, persistent=False)

    def normalise(self, images_uint8: torch.Tensor) -> torch.Tensor:
        return (images_uint8.float() - self.mean) / self.std

    def forward(self, images: torch.Tensor, targets=None, semantic_targets=None):
        """Training: losses (dict). Evaluation: (detections per image, semantic logits at full size)."""
        x = self.normalise(images)
        sizes = [(int(x.shape[-2]), int(x.shape[-1]))] * x.shape[0]
        image_list = ImageList(x, sizes)
        features = self.backbone(x)
        proposals, rpn_losses = self.rpn(image_list, features, targets)
        detections, roi_losses = self.roi_heads(features, proposals, image_list.image_sizes, targets)
        logits = F.interpolate(self.semantic_head(features), size=x.shape[-2:], mode="bilinear", align_corners=False)
        if self.training:
            losses = dict(rpn_losses)
            losses.update(roi_losses)
            losses["loss_semantic"] = F.cross_entropy(logits, semantic_targets, ignore_index=255)
            return losses
        return detections, logits


class ExportModule(nn.Module):
    """The model contract's graph: uint8 [N, 3, H, W] in; semantic labels, boxes, scores, classes,
    mask probabilities (before pasting) and the batch index of each detection out."""

    def __init__(self, net: UnifiedNet):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor):
        detections, logits = self.net(images)
        semantic = logits.argmax(dim=1).to(torch.uint8)
        boxes = torch.cat([d["boxes"] for d in detections])
        scores = torch.cat([d["scores"] for d in detections])
        classes = torch.cat([d["labels"] for d in detections])
        masks = torch.cat([d["masks"] for d in detections])
        batch_index = torch.cat([torch.full_like(d["labels"], i) for i, d in enumerate(detections)])
        return semantic, boxes, scores, classes, masks, batch_index
