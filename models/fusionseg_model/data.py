"""Reading a Cityscapes-layout split (the real Cityscapes folders, or the synthetic ones) for training."""

from __future__ import annotations

import glob
import os
import random

import numpy as np
import torch
from PIL import Image

from .network import THING_TRAIN_IDS

# Cityscapes label id -> train id (void: 255).
LABEL_TO_TRAIN = np.full(256, 255, dtype=np.uint8)
for train_id, label_id in enumerate([7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]):
    LABEL_TO_TRAIN[label_id] = train_id


class CityscapesSplit(torch.utils.data.Dataset):
    """Images, semantic train ids and instance targets from `root/{leftImg8bit,gtFine}/{split}/*/`."""

    def __init__(self, root: str, split: str, size: tuple[int, int] | None = None, flip: bool = False, min_area: int = 16):
        self.images = sorted(glob.glob(os.path.join(root, "leftImg8bit", split, "*", "*_leftImg8bit.png")))
        if not self.images:
            raise FileNotFoundError(f"no images under {os.path.join(root, 'leftImg8bit', split)}")
        self.size = size  # (height, width) to resize to, for full-size Cityscapes
        self.flip = flip
        self.min_area = min_area

    def __len__(self) -> int:
        return len(self.images)

    def paths(self, index: int) -> tuple[str, str]:
        image = self.images[index]
        base = image.replace(os.sep + "leftImg8bit" + os.sep, os.sep + "gtFine" + os.sep, 1).replace("_leftImg8bit.png", "_gtFine_")
        return image, base

    def __getitem__(self, index: int):
        image_path, base = self.paths(index)
        image = Image.open(image_path).convert("RGB")
        label_ids = Image.open(base + "labelIds.png")
        instance = Image.open(base + "instanceIds.png")
        if self.size is not None:
            h, w = self.size
            image = image.resize((w, h), Image.BILINEAR)
            label_ids = label_ids.resize((w, h), Image.NEAREST)
            instance = instance.resize((w, h), Image.NEAREST)
        image = np.asarray(image, dtype=np.uint8)
        semantic = LABEL_TO_TRAIN[np.asarray(label_ids, dtype=np.uint8)]
        instance = np.asarray(instance, dtype=np.int64)
        if self.flip and random.random() < 0.5:
            image, semantic, instance = image[:, ::-1], semantic[:, ::-1], instance[:, ::-1]
        boxes, labels, masks = [], [], []
        for value in np.unique(instance):
            if value < 1000:
                continue  # stuff, or things without instances (crowds)
            train_id = LABEL_TO_TRAIN[value // 1000]
            if train_id not in THING_TRAIN_IDS:
                continue
            mask = instance == value
            if mask.sum() < self.min_area:
                continue
            ys, xs = np.nonzero(mask)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            labels.append(THING_TRAIN_IDS.index(int(train_id)) + 1)
            masks.append(mask)
        h, w = semantic.shape
        target = {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "masks": torch.from_numpy(np.stack(masks)).to(torch.uint8) if masks else torch.zeros((0, h, w), dtype=torch.uint8),
        }
        return (
            torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1),
            torch.from_numpy(np.ascontiguousarray(semantic)).long(),
            target,
        )


def collate(batch):
    images, semantics, targets = zip(*batch)
    return torch.stack(images), torch.stack(semantics), list(targets)
