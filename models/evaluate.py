"""Validation figures of a checkpoint on a Cityscapes-layout split, each head on its own (before fusion):
semantic mIoU over the 19 train classes (void ignored) from the semantic head, and mask AP (IoU
0.50:0.05:0.95, regions under 100 px ignored, mean over the thing classes present) and AP50 from the
instance head's own masks (pasted, thresholded at 0.5).

    /usr/bin/python3 models/evaluate.py --checkpoint CKPT --data DIR [--split val] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fusionseg_model.data import CityscapesSplit  # noqa: E402
from fusionseg_model.network import NUM_CLASSES, THING_TRAIN_IDS, UnifiedNet  # noqa: E402

THRESHOLDS = np.arange(0.5, 0.96, 0.05)
MIN_AREA = 100


def average_precision(scores: list[float], matched: list[bool], positives: int) -> float:
    if positives == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores))
    hits = np.asarray(matched, dtype=np.float64)[order]
    tp = np.cumsum(hits)
    fp = np.cumsum(1 - hits)
    recall = tp / positives
    precision = tp / np.maximum(tp + fp, 1e-9)
    # Precision made monotone, sampled at 101 recall points (COCO style).
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    ap = 0.0
    for r in np.linspace(0, 1, 101):
        above = np.nonzero(recall >= r)[0]
        ap += precision[above[0]] if len(above) else 0.0
    return ap / 101


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    state = torch.load(args.checkpoint, map_location="cpu")
    net = UnifiedNet(**state["config"])
    net.load_state_dict(state["model"])
    net.eval()
    data = CityscapesSplit(args.data, args.split)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    # Per class and threshold: (score, matched) of every prediction; counts of ground-truth regions.
    records = {(c, t): ([], []) for c in range(1, len(THING_TRAIN_IDS) + 1) for t in range(len(THRESHOLDS))}
    positives = {c: 0 for c in range(1, len(THING_TRAIN_IDS) + 1)}
    with torch.no_grad():
        for index in range(len(data)):
            image, semantic, target = data[index]
            detections, logits = net(image[None])
            predicted = logits.argmax(1)[0].numpy()
            truth = semantic.numpy()
            valid = truth != 255
            confusion += np.bincount(truth[valid] * NUM_CLASSES + predicted[valid], minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)
            d = detections[0]
            masks = paste_masks_in_image(d["masks"], d["boxes"], tuple(truth.shape))[:, 0].numpy() >= 0.5 if len(d["boxes"]) else np.zeros((0,) + truth.shape, bool)
            gt_masks = target["masks"].numpy().astype(bool)
            gt_labels = target["labels"].numpy()
            for c in positives:
                gts = [m for m, l in zip(gt_masks, gt_labels) if l == c and m.sum() >= MIN_AREA]
                positives[c] += len(gts)
                preds = [(s, m) for s, l, m in zip(d["scores"].numpy(), d["labels"].numpy(), masks) if l == c]
                preds.sort(key=lambda p: -p[0])
                for t, threshold in enumerate(THRESHOLDS):
                    used = [False] * len(gts)
                    scores, matched = records[(c, t)]
                    for score, mask in preds:
                        best, best_iou = -1, threshold
                        for g, gt in enumerate(gts):
                            if used[g]:
                                continue
                            iou = (mask & gt).sum() / max(1, (mask | gt).sum())
                            if iou >= best_iou:
                                best, best_iou = g, iou
                        if best >= 0:
                            used[best] = True
                        elif mask.sum() < MIN_AREA:
                            continue  # an unmatched small prediction is ignored, like the small regions
                        scores.append(float(score))
                        matched.append(best >= 0)
            print(f"\r{index + 1}/{len(data)} images", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    iou = np.diag(confusion) / np.maximum(confusion.sum(0) + confusion.sum(1) - np.diag(confusion), 1)
    present = confusion.sum(1) > 0
    miou = float(iou[present].mean())
    per_class_ap = {}
    for c in positives:
        aps = [average_precision(*records[(c, t)], positives[c]) for t in range(len(THRESHOLDS))]
        per_class_ap[THING_TRAIN_IDS[c - 1]] = (float(np.mean(aps)), aps[0])
    valid_ap = [v for v in per_class_ap.values() if not np.isnan(v[0])]
    result = {
        "images": len(data),
        "semantic_mIoU": 100 * miou,
        "semantic_IoU_per_class": {int(c): 100 * float(v) for c, v in enumerate(iou) if present[c]},
        "mask_AP": 100 * float(np.mean([v[0] for v in valid_ap])) if valid_ap else float("nan"),
        "mask_AP50": 100 * float(np.mean([v[1] for v in valid_ap])) if valid_ap else float("nan"),
        "mask_AP_per_class": {int(c): [100 * v[0], 100 * v[1]] for c, v in per_class_ap.items()},
        "iterations": state["iteration"],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
