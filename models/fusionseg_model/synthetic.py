"""Seeded synthetic street scenes written in the Cityscapes layout.

Each scene has all kinds of Cityscapes classes: road, sidewalk, buildings, walls, fences, poles, traffic
lights and signs, vegetation, terrain and sky as background, and the eight thing classes, drawn so that
the paper's problem is real: look-alike subcategories (car / truck / bus, person / rider, bicycle /
motorcycle), many scales with perspective, occlusion (painter's order), texture and lighting noise.

Output (like Cityscapes' gtFine):
    leftImg8bit/{split}/{city}/{name}_leftImg8bit.png
    gtFine/{split}/{city}/{name}_gtFine_labelIds.png        Cityscapes label ids
    gtFine/{split}/{city}/{name}_gtFine_labelTrainIds.png   train ids 0..18, 255 void
    gtFine/{split}/{city}/{name}_gtFine_instanceIds.png     16-bit: labelId * 1000 + n for things

synthetic_video.py moves the same things through video sequences with ground-truth tracks.
"""

from __future__ import annotations

import argparse
import os
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Train id -> Cityscapes label id.
LABEL_IDS = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = range(11, 19)
THINGS = (PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE)
VOID = 255


@dataclass
class Canvas:
    """The picture and its label maps, drawn together shape by shape."""

    image: Image.Image
    train: Image.Image
    instance: Image.Image
    rng: random.Random

    @property
    def draws(self):
        return ImageDraw.Draw(self.image), ImageDraw.Draw(self.train), ImageDraw.Draw(self.instance)

    def shape(self, kind: str, box, color, train_id: int, instance_id: int, **kw) -> None:
        image, train, instance = self.draws
        getattr(image, kind)(box, fill=tuple(int(c) for c in color), **kw)
        getattr(train, kind)(box, fill=train_id, **kw)
        getattr(instance, kind)(box, fill=instance_id, **kw)


def jitter(rng: random.Random, color, amount=25):
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in color)


def stuff_id(train_id: int) -> int:
    return LABEL_IDS[train_id]


def draw_background(c: Canvas, width: int, height: int, horizon: int) -> None:
    rng = c.rng
    # Sky: a vertical gradient.
    top, bottom = jitter(rng, (90, 140, 200), 20), jitter(rng, (170, 200, 230), 20)
    for y in range(horizon + 1):
        t = y / max(1, horizon)
        c.shape("line", [(0, y), (width, y)], [a + (b - a) * t for a, b in zip(top, bottom)], SKY, stuff_id(SKY))
    # Buildings and vegetation along the horizon, walls and fences in front of them.
    x = -rng.randint(0, 40)
    while x < width:
        w = rng.randint(40, 140)
        if rng.random() < 0.7:
            h = rng.randint(30, horizon)
            color = jitter(rng, rng.choice([(110, 100, 95), (150, 140, 120), (90, 90, 100), (160, 120, 100)]))
            c.shape("rectangle", [x, horizon - h, x + w, horizon + 20], color, BUILDING, stuff_id(BUILDING))
            window = jitter(rng, (60, 70, 90), 15)
            for wy in range(horizon - h + 6, horizon + 10, 12):
                for wx in range(x + 5, x + w - 6, 11):
                    if rng.random() < 0.8:
                        c.shape("rectangle", [wx, wy, wx + 5, wy + 6], window, BUILDING, stuff_id(BUILDING))
        else:
            green = jitter(rng, (70, 120, 40), 25)
            for _ in range(rng.randint(3, 7)):
                r = rng.randint(10, 30)
                cx, cy = x + rng.randint(0, w), horizon - rng.randint(0, 50)
                c.shape("ellipse", [cx - r, cy - r, cx + r, cy + r + 20], green, VEGETATION, stuff_id(VEGETATION))
        x += w
    wall_y = horizon + 20
    x = 0
    while x < width:
        w = rng.randint(30, 120)
        kind = rng.random()
        if kind < 0.3:
            c.shape("rectangle", [x, wall_y - 14, x + w, wall_y + 4], jitter(rng, (140, 140, 150)), WALL, stuff_id(WALL))
        elif kind < 0.55:
            color = jitter(rng, (150, 130, 110))
            for fx in range(x, x + w, 5):
                c.shape("rectangle", [fx, wall_y - 12, fx + 2, wall_y + 4], color, FENCE, stuff_id(FENCE))
            c.shape("rectangle", [x, wall_y - 10, x + w, wall_y - 8], color, FENCE, stuff_id(FENCE))
        elif kind < 0.75:
            c.shape("rectangle", [x, wall_y - 6, x + w, wall_y + 6], jitter(rng, (120, 170, 90)), TERRAIN, stuff_id(TERRAIN))
        x += w
    # Sidewalk and road in perspective.
    road_top = wall_y + 6
    c.shape("rectangle", [0, road_top, width, height], jitter(rng, (170, 150, 160), 15), SIDEWALK, stuff_id(SIDEWALK))
    spread = rng.randint(60, 140)
    road = [(width // 2 - spread, road_top), (width // 2 + spread, road_top), (width + 200, height), (-200, height)]
    c.shape("polygon", road, jitter(rng, (90, 90, 95), 12), ROAD, stuff_id(ROAD))
    for y in range(road_top + 8, height, 22):
        t = (y - road_top) / max(1, height - road_top)
        lw = 1 + 3 * t
        c.shape("rectangle", [width // 2 - lw, y, width // 2 + lw, y + 6 + 8 * t], (230, 230, 230), ROAD, stuff_id(ROAD))
    # Poles with traffic lights and signs.
    for _ in range(rng.randint(2, 5)):
        px = rng.randint(0, width)
        base = rng.randint(road_top, height - 10)
        t = (base - road_top) / max(1, height - road_top)
        ph = int(50 + 90 * t)
        pw = max(1, int(2 + 3 * t))
        c.shape("rectangle", [px, base - ph, px + pw, base], jitter(rng, (120, 120, 120), 10), POLE, stuff_id(POLE))
        if rng.random() < 0.5:
            s = int(6 + 8 * t)
            c.shape("rectangle", [px - s // 3, base - ph - 2 * s, px + s // 2 + pw, base - ph], (40, 40, 40), LIGHT, stuff_id(LIGHT))
            lamp = rng.choice([(230, 40, 30), (240, 200, 40), (40, 220, 90)])
            c.shape("ellipse", [px - s // 4, base - ph - 2 * s + 2, px + s // 4 + pw, base - ph - s - 2], lamp, LIGHT, stuff_id(LIGHT))
        else:
            s = int(6 + 10 * t)
            color = rng.choice([(230, 200, 30), (30, 80, 200), (220, 40, 40)])
            c.shape("rectangle", [px - s // 2, base - ph - s, px + s // 2 + pw, base - ph], color, SIGN, stuff_id(SIGN))


def draw_vehicle(c: Canvas, cls: int, x: int, base: int, scale: float, instance_id: int) -> None:
    rng = c.rng
    # Look-alike shapes: the same body plan with different proportions.
    w, h = {CAR: (60, 28), TRUCK: (80, 44), BUS: (130, 46), TRAIN: (260, 50)}[cls]
    w, h = int(w * scale * rng.uniform(0.85, 1.15)), int(h * scale * rng.uniform(0.9, 1.1))
    body = jitter(rng, rng.choice([(180, 30, 30), (30, 60, 160), (200, 200, 200), (40, 40, 40), (220, 180, 40), (60, 130, 70)]), 30)
    top = base - h
    c.shape("rounded_rectangle", [x, top, x + w, base - h // 6], body, cls, instance_id, radius=max(1, h // 6))
    glass = jitter(rng, (60, 80, 110), 20)
    if cls == CAR:
        c.shape("rectangle", [x + w // 5, top + h // 8, x + 4 * w // 5, top + h // 2], glass, cls, instance_id)
    elif cls == TRUCK:
        c.shape("rectangle", [x + 3 * w // 4, top + h // 6, x + w - 3, top + h // 2], glass, cls, instance_id)
    else:
        for wx in range(x + 4, x + w - 8, max(6, int(14 * scale))):
            c.shape("rectangle", [wx, top + h // 6, wx + max(3, int(9 * scale)), top + h // 2], glass, cls, instance_id)
    r = max(2, h // 5)
    for wx in (x + w // 6, x + 5 * w // 6):
        c.shape("ellipse", [wx - r, base - 2 * r, wx + r, base], (20, 20, 20), cls, instance_id)


def draw_two_wheeler(c: Canvas, cls: int, x: int, base: int, scale: float, instance_id: int) -> tuple[int, int]:
    rng = c.rng
    r = max(3, int(9 * scale))
    gap = int(26 * scale)
    thick = max(1, int((3 if cls == MOTORCYCLE else 1) * scale))
    color = jitter(rng, (30, 30, 30) if cls == MOTORCYCLE else rng.choice([(180, 30, 30), (30, 90, 180), (200, 200, 200)]), 20)
    for wx in (x, x + gap):
        c.shape("ellipse", [wx - r, base - 2 * r, wx + r, base], (25, 25, 25), cls, instance_id, width=thick)
    c.shape("line", [(x, base - r), (x + gap // 2, base - 2 * r), (x + gap, base - r)], color, cls, instance_id, width=thick + 1)
    if cls == MOTORCYCLE:
        c.shape("rounded_rectangle", [x + gap // 4, base - 2 * r - 4, x + 3 * gap // 4, base - r], color, cls, instance_id, radius=2)
    return x + gap // 2, base - 2 * r


def draw_person(c: Canvas, cls: int, x: int, base: int, scale: float, instance_id: int) -> None:
    rng = c.rng
    h = int(60 * scale * rng.uniform(0.85, 1.15))
    w = max(3, h // 4)
    clothes = jitter(rng, rng.choice([(40, 40, 120), (150, 40, 40), (60, 60, 60), (200, 200, 190), (40, 110, 60)]), 30)
    skin = jitter(rng, (220, 180, 150), 30)
    head = max(2, h // 7)
    c.shape("ellipse", [x - head // 2, base - h, x + head // 2, base - h + head], skin, cls, instance_id)
    c.shape("rectangle", [x - w // 2, base - h + head, x + w // 2, base - h // 2 + 2], clothes, cls, instance_id)
    legs = jitter(rng, (40, 40, 60), 20)
    c.shape("rectangle", [x - w // 2, base - h // 2, x - 1, base], legs, cls, instance_id)
    c.shape("rectangle", [x + 1, base - h // 2, x + w // 2, base], legs, cls, instance_id)


def perspective_scale(base: int, road_top: int, height: int) -> float:
    """How big a thing standing at row `base` is drawn: 0.3 at the top of the road, 1.6 at the bottom."""
    return 0.3 + 1.3 * (base - road_top) / max(1, height - road_top)


def draw_thing(c: Canvas, cls: int, x: int, base: int, scale: float, instance_id: int, vehicle_id: Callable[[int], int]) -> None:
    """One thing of train id `cls` standing at (x, base). A rider sits on a bicycle or motorcycle (c.rng
    chooses) that is its own instance: `vehicle_id(vehicle class)` gives its instance id."""
    if cls in (CAR, TRUCK, BUS, TRAIN):
        draw_vehicle(c, cls, x, base, scale, instance_id)
    elif cls in (MOTORCYCLE, BICYCLE):
        draw_two_wheeler(c, cls, x, base, scale, instance_id)
    elif cls == PERSON:
        draw_person(c, PERSON, x, base, scale, instance_id)
    else:  # a rider: a person on a bicycle or motorcycle (the vehicle is its own instance)
        vehicle = c.rng.choice((BICYCLE, MOTORCYCLE))
        seat_x, seat_y = draw_two_wheeler(c, vehicle, x, base, scale, vehicle_id(vehicle))
        draw_person(c, RIDER, seat_x, seat_y + int(20 * scale), scale * 0.8, instance_id)


def make_scene(seed: int, width: int = 512, height: int = 256, frame: float | None = None):
    """One scene: (RGB uint8 HxWx3, train ids HxW, Cityscapes label ids HxW, instance ids HxW uint16)."""
    rng = random.Random(seed)
    c = Canvas(Image.new("RGB", (width, height)), Image.new("L", (width, height), VOID), Image.new("I", (width, height), 0), rng)
    horizon = int(height * rng.uniform(0.32, 0.45))
    draw_background(c, width, height, horizon)
    road_top = horizon + 26
    counts = {cls: 0 for cls in THINGS}
    objects = []
    for _ in range(rng.randint(3, 12)):
        cls = rng.choice(THINGS)
        base = rng.randint(road_top + 10, height + 10)
        objects.append((base, cls, rng.randint(-60, width), rng.random()))
    objects.sort()  # far (small y) first: nearer objects occlude them

    def next_id(cls: int) -> int:  # labelId * 1000 + n, n counting the scene's things of each class
        counts[cls] += 1
        return LABEL_IDS[cls] * 1000 + counts[cls] - 1

    for base, cls, x, phase in objects:
        if frame is not None:  # the demo video: traffic moves along the road
            x = int((x + frame * (40 + 60 * phase)) % (width + 120)) - 60
        draw_thing(c, cls, x, base, perspective_scale(base, road_top, height), next_id(cls), next_id)
    image, train, label_ids, instance = finish(c, rng, seed)
    return image, train, label_ids, instance.astype(np.uint16)


def finish(c: Canvas, rng: random.Random, noise_seed: int):
    """Blur, lighting (drawn from `rng`) and pixel noise (seeded by `noise_seed`) on the picture, and the
    label maps: (RGB uint8 HxWx3, train ids HxW, Cityscapes label ids HxW, instance ids HxW int32)."""
    image = np.asarray(c.image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8))), dtype=np.float32)
    image = image * rng.uniform(0.7, 1.25) + rng.uniform(-25, 25)
    image += np.random.default_rng(noise_seed).normal(0, rng.uniform(2, 8), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    train = np.asarray(c.train, dtype=np.uint8)
    label_ids = np.zeros_like(train)
    for train_id, label_id in enumerate(LABEL_IDS):
        label_ids[train == train_id] = label_id
    return image, train, label_ids, np.asarray(c.instance, dtype=np.int32)


def write_split(root: str, split: str, count: int, seed: int, width: int, height: int) -> None:
    city = "synthetic"
    image_dir = os.path.join(root, "leftImg8bit", split, city)
    gt_dir = os.path.join(root, "gtFine", split, city)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(gt_dir, exist_ok=True)
    for i in range(count):
        image, train, label_ids, instance = make_scene(seed * 100_000 + i, width, height)
        name = f"{city}_{i:06d}_000019"
        Image.fromarray(image).save(os.path.join(image_dir, f"{name}_leftImg8bit.png"))
        Image.fromarray(label_ids).save(os.path.join(gt_dir, f"{name}_gtFine_labelIds.png"))
        Image.fromarray(train).save(os.path.join(gt_dir, f"{name}_gtFine_labelTrainIds.png"))
        Image.fromarray(instance.astype(np.int32), mode="I").save(os.path.join(gt_dir, f"{name}_gtFine_instanceIds.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="dataset root (Cityscapes layout)")
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--val", type=int, default=60)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=256)
    args = parser.parse_args()
    write_split(args.out, "train", args.train, 1, args.width, args.height)
    write_split(args.out, "val", args.val, 2, args.width, args.height)
    print(f"wrote {args.train} train and {args.val} val scenes to {args.out}")


if __name__ == "__main__":
    main()
