"""Seeded synthetic video sequences with ground-truth tracks, in a Cityscapes-VPS-like layout.

A static camera looks at a street drawn like the still scenes of synthetic.py (same background, vehicles,
people and riders); the things move along the road at their own speeds: pedestrians slowly, riders and
vehicles faster, in both directions, some parked. Nearer things are drawn later (painter's order by depth),
so they pass in front of farther ones; each sequence also has a bus or truck that hides a farther car or
two-wheeler completely for some frames before it re-emerges. Things enter and leave through the left and
right image edges; one that has left comes back through the other edge later as a NEW thing (new look,
new id), as a real camera would see a different car.

Output:
    {out}/leftImg8bit_sequence/{split}/{seq}/{seq}_{frame:06d}_leftImg8bit.png
    {out}/gtFine_sequence/{split}/{seq}/{seq}_{frame:06d}_gtFine_labelIds.png      Cityscapes label ids
    {out}/gtFine_sequence/{split}/{seq}/{seq}_{frame:06d}_gtFine_instanceIds.png   16-bit: labelId * 1000 + n
                                                                                   for things, label id for stuff
    {out}/gtFine_sequence/{split}/sequences.json   sequences, frames, fps, size, objects, tracks and events
where n identifies one thing for the whole sequence (its ground-truth track): numbered per class in the
order the things first become visible.

    /usr/bin/python3 -m models.fusionseg_model.synthetic_video --out DIR --split val --sequences 8 --frames 30
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .synthetic import (
    BICYCLE, BUS, CAR, LABEL_IDS, MOTORCYCLE, PERSON, RIDER, THINGS, TRAIN, TRUCK, VOID,
    Canvas, draw_background, draw_thing, finish, perspective_scale,
)

CLASS_NAMES = {PERSON: "person", RIDER: "rider", CAR: "car", TRUCK: "truck", BUS: "bus", TRAIN: "train", MOTORCYCLE: "motorcycle", BICYCLE: "bicycle"}
# How often each class is drawn, and its speed along the road in pixels per second at scale 1 (a range; the
# drawn speed grows with the perspective scale). Two-wheelers without a rider are parked.
CLASS_WEIGHTS = {PERSON: 3, RIDER: 2, CAR: 4, TRUCK: 1, BUS: 1, TRAIN: 0.25, MOTORCYCLE: 1, BICYCLE: 1}
SPEEDS = {PERSON: (8, 25), RIDER: (35, 70), CAR: (50, 130), TRUCK: (45, 100), BUS: (40, 90), TRAIN: (60, 120), MOTORCYCLE: (0, 0), BICYCLE: (0, 0)}
PARKED_CARS = 0.15
# Nominal body sizes (width, height at scale 1) of synthetic.py's vehicles, which jitter them by 0.85..1.15 in
# width and 0.9..1.1 in height.
VEHICLE_SIZE = {CAR: (60, 28), TRUCK: (80, 44), BUS: (130, 46), TRAIN: (260, 50)}
PAD = 6  # columns between the image edge and a thing about to wrap around: it is fully out of sight there
PROVISIONAL = 1_000_000  # instance ids while rendering; renumbered to labelId * 1000 + n at the end


def reach(cls: int, scale: float) -> tuple[int, int]:
    """Bounds on how far a thing drawn at x reaches left and right of x (checked against the drawing)."""
    if cls in VEHICLE_SIZE:
        return 3, math.ceil(VEHICLE_SIZE[cls][0] * scale * 1.15) + 3
    if cls == PERSON:
        half = math.ceil(10 * scale) + 4
        return half, half
    r = max(3, int(9 * scale))  # a two-wheeler, with or without its rider
    return r + 4, int(26 * scale) + r + 4


@dataclass
class Mover:
    """A lane of traffic: one thing at a time moving at a constant speed, wrapping around the image."""

    index: int
    cls: int
    base: int  # the row it stands on (its depth)
    scale: float
    u0: float  # x (unwrapped) at t = 0
    speed: float  # pixels per second, negative leftwards
    left: int
    right: int

    def position(self, t: float, width: int) -> tuple[int, int]:
        """(x, k) at time t: k counts the wrap-arounds, each one a different thing (incarnation)."""
        span = width + self.left + self.right + 2 * PAD
        u = self.u0 + self.speed * t + self.right + PAD
        k = math.floor(u / span)
        return math.floor(u - k * span) - self.right - PAD, k


@dataclass
class Sequence:
    name: str
    key: str  # seeds everything
    width: int
    height: int
    frames: int
    fps: float
    horizon: int
    movers: list[Mover]

    @property
    def road_top(self) -> int:
        return self.horizon + 26


@dataclass
class Sprite:
    """One incarnation drawn alone: its look (seed), provisional ids, and where its pixels are relative to x."""

    seed: str
    ids: dict[str, int]  # role ("body", "vehicle") -> provisional instance id
    classes: dict[str, int]
    offset: int  # sprite column of x
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # role -> cumulative pixel count per column


@dataclass
class Track:
    """A ground-truth track: one thing (role of an incarnation of a mover) over the whole sequence."""

    provisional: int
    cls: int
    mover: int
    incarnation: int
    role: str
    in_view: list[bool]  # geometrically inside the image (occluded or not)
    pixels: list[int]  # pixels visible in the label maps
    x: list[int | None]  # where it is drawn, None in frames of other incarnations of its mover
    id: int = 0

    @property
    def visible(self) -> list[bool]:
        return [p > 0 for p in self.pixels]

    def events(self) -> dict:
        """Entering and leaving through the image edges, and stretches fully hidden behind other things."""
        frames = len(self.in_view)
        entered = next((f for f in range(1, frames) if self.in_view[f] and not self.in_view[f - 1]), None)
        left = next((f for f in range(1, frames) if self.in_view[f - 1] and not self.in_view[f]), None)
        hidden, f = [], 0
        while f < frames:
            if self.in_view[f] and self.pixels[f] == 0:
                start = f
                while f < frames and self.in_view[f] and self.pixels[f] == 0:
                    f += 1
                seen_before = any(self.visible[:start])
                seen_after = f < frames and self.pixels[f] > 0
                hidden.append({"frames": [start, f - 1], "reemerged": seen_before and seen_after})
            else:
                f += 1
        return {"entered": entered, "left": left, "hidden": hidden}


def plan_sequence(name: str, key: str, frames: int, fps: float, width: int, height: int) -> Sequence:
    """Where the things of one sequence are, how fast they go, and which of them hides which."""
    rng = random.Random(key)
    horizon = int(height * rng.uniform(0.32, 0.45))
    seq = Sequence(name, key, width, height, frames, fps, horizon, [])
    road_top = seq.road_top

    def add(cls: int, base: int, u0: float, speed: float) -> None:
        scale = perspective_scale(base, road_top, height)
        seq.movers.append(Mover(len(seq.movers), cls, base, scale, u0, speed * scale, *reach(cls, scale)))

    classes, weights = list(CLASS_WEIGHTS), list(CLASS_WEIGHTS.values())
    for _ in range(rng.randint(5, 10)):
        cls = rng.choices(classes, weights)[0]
        speed = rng.uniform(*SPEEDS[cls]) * rng.choice((-1, 1))
        if cls == CAR and rng.random() < PARKED_CARS:
            speed = 0.0
        add(cls, rng.randint(road_top + 10, height + 10), rng.uniform(-60, width), speed)

    # A planned occlusion: a bus or truck near the camera passes a farther (slow or parked) car or two-wheeler
    # in the middle of the sequence. Its body (top .. base - h/6) must cover the farther thing from top to base.
    occluder = rng.choice((BUS, BUS, TRUCK))
    base_o = rng.randint(height - 25, height + 5)
    scale_o = perspective_scale(base_o, road_top, height)
    w_o, h_o = VEHICLE_SIZE[occluder]
    gap = math.ceil(h_o * 1.1 * scale_o / 6) + 3
    base_p = base_o - gap
    scale_p = perspective_scale(base_p, road_top, height)
    heights = {CAR: 28 * 1.1 * scale_p, MOTORCYCLE: 2 * max(3, int(9 * scale_p)) + 6, BICYCLE: 2 * max(3, int(9 * scale_p)) + 3}
    fits = [cls for cls in (CAR, MOTORCYCLE, BICYCLE) if heights[cls] + gap + 2 <= h_o * 0.9 * scale_o]
    if occluder == TRUCK and CAR in fits:
        fits.remove(CAR)  # a truck is hardly wider than a car
    if fits and base_p > road_top + 4:
        hidden = rng.choice(fits)
        t_mid = frames / fps / 2
        centre = rng.uniform(0.3, 0.7) * width
        w_p = 60 * scale_p if hidden == CAR else 26 * scale_p
        speed_p = rng.choice((0.0, rng.uniform(-15, 15))) if hidden == CAR else 0.0
        add(hidden, base_p, centre - w_p / 2 - speed_p * scale_p * t_mid, speed_p)
        speed_o = rng.uniform(60, 110) * rng.choice((-1, 1))
        add(occluder, base_o, centre - w_o * scale_o / 2 - speed_o * scale_o * t_mid, speed_o)
    return seq


def render_sequence(seq: Sequence):
    """Draws every frame: ([(RGB, label ids, instance ids uint16)] per frame, tracks with their final ids)."""
    width, height = seq.width, seq.height
    background = Canvas(
        Image.new("RGB", (width, height)), Image.new("L", (width, height), VOID), Image.new("I", (width, height), 0),
        random.Random(f"{seq.key}/background"),
    )
    draw_background(background, width, height, seq.horizon)
    sprites: dict[tuple[int, int], Sprite] = {}
    tracks: dict[int, Track] = {}

    def sprite(m: Mover, k: int) -> Sprite:
        """Draws an incarnation alone once: its pixels' columns relative to x, and its provisional ids."""
        if (m.index, k) in sprites:
            return sprites[(m.index, k)]
        s = Sprite(f"{seq.key}/thing{m.index}/{k}", {}, {}, m.left + 8)
        canvas_width = m.left + m.right + 16

        def new_id(role: str, cls: int) -> int:
            s.ids[role], s.classes[role] = PROVISIONAL + len(tracks), cls
            tracks[s.ids[role]] = Track(s.ids[role], cls, m.index, k, role, [False] * seq.frames, [0] * seq.frames, [None] * seq.frames)
            return s.ids[role]

        c = Canvas(
            Image.new("RGB", (canvas_width, height + 16)), Image.new("L", (canvas_width, height + 16), VOID),
            Image.new("I", (canvas_width, height + 16), 0), random.Random(s.seed),
        )
        draw_thing(c, m.cls, s.offset, m.base, m.scale, new_id("body", m.cls), lambda cls: new_id("vehicle", cls))
        instance = np.asarray(c.instance, dtype=np.int32)
        for role, pid in s.ids.items():
            mask = instance == pid
            cols = np.flatnonzero(mask.any(axis=0))
            if len(cols) and (cols[0] < s.offset - m.left or cols[-1] > s.offset + m.right):
                raise AssertionError(
                    f"a {CLASS_NAMES[s.classes[role]]} at scale {m.scale:.2f} reaches {s.offset - cols[0]} left and "
                    f"{cols[-1] - s.offset} right of x, beyond the bounds {m.left} and {m.right}"
                )
            s.columns[role] = np.concatenate([[0], np.cumsum(mask[:height].sum(axis=0))])
        sprites[(m.index, k)] = s
        return s

    order = sorted(seq.movers, key=lambda m: (m.base, m.index))  # far first: nearer things occlude them
    frames = []
    for f in range(seq.frames):
        c = Canvas(background.image.copy(), background.train.copy(), background.instance.copy(), background.rng)
        for m in order:
            x, k = m.position(f / seq.fps, width)
            s = sprite(m, k)
            shown = False
            for role, pid in s.ids.items():  # pixels of the thing inside the image if nothing were in front
                tracks[pid].x[f] = x
                first, last = max(0, s.offset - x), min(len(s.columns[role]) - 1, s.offset - x + width)
                if first < last and s.columns[role][last] > s.columns[role][first]:
                    tracks[pid].in_view[f] = shown = True
            if shown:
                c.rng = random.Random(s.seed)  # the same look in every frame
                draw_thing(c, m.cls, x, m.base, m.scale, s.ids["body"], lambda cls: s.ids["vehicle"])
        noise_seed = random.Random(f"{seq.key}/noise").getrandbits(32) * 10_000 + f
        image, _, label_ids, instance = finish(c, random.Random(f"{seq.key}/camera"), noise_seed)
        for pid, count in zip(*np.unique(instance[instance >= PROVISIONAL], return_counts=True)):
            tracks[int(pid)].pixels[f] = int(count)
        frames.append((image, label_ids, instance))

    # Final ids: labelId * 1000 + n, n counting each class's visible things in the order they first show.
    seen = sorted((t for t in tracks.values() if any(t.pixels)), key=lambda t: (t.visible.index(True), t.provisional))
    counts = {cls: 0 for cls in THINGS}
    for t in seen:
        if counts[t.cls] >= 1000:
            raise ValueError(f"{seq.name}: more than 1000 {CLASS_NAMES[t.cls]} tracks")
        t.id = LABEL_IDS[t.cls] * 1000 + counts[t.cls]
        counts[t.cls] += 1
    out = []
    for image, label_ids, instance in frames:
        final = instance.copy()
        for pid in np.unique(instance[instance >= PROVISIONAL]):
            final[instance == pid] = tracks[int(pid)].id
        out.append((image, label_ids, final.astype(np.uint16)))
    return out, seen


def summarize(seq: Sequence, tracks: list[Track]) -> dict:
    """The sequence's entry in sequences.json."""
    entries, enter, leave, reemerged, never_back = [], 0, 0, 0, 0
    for t in tracks:
        e = t.events()
        enter += e["entered"] is not None
        leave += e["left"] is not None
        reemerged += sum(h["reemerged"] for h in e["hidden"])
        never_back += sum(not h["reemerged"] for h in e["hidden"])
        visible = [f for f, v in enumerate(t.visible) if v]
        entries.append({
            "id": t.id, "class": CLASS_NAMES[t.cls], "firstFrame": visible[0], "lastFrame": visible[-1],
            "visibleFrames": len(visible), "entered": e["entered"], "left": e["left"],
            "hidden": [h["frames"] for h in e["hidden"]],
        })
    incarnations: dict[int, set[int]] = {}
    for t in tracks:
        incarnations.setdefault(t.mover, set()).add(t.incarnation)
    by_class: dict[str, int] = {}
    for t in tracks:
        by_class[CLASS_NAMES[t.cls]] = by_class.get(CLASS_NAMES[t.cls], 0) + 1
    return {
        "name": seq.name, "frames": seq.frames, "fps": seq.fps, "width": seq.width, "height": seq.height,
        "objects": len(tracks), "objectsByClass": dict(sorted(by_class.items())),
        "events": {
            "enter": enter, "leave": leave, "occludedAndReemerged": reemerged, "occludedNotReemerged": never_back,
            "wrapArounds": sum(len(k) - 1 for k in incarnations.values()),
        },
        "tracks": entries,
    }


def sequence_name(index: int) -> str:
    return f"street{index:03d}"


def sequence_key(split: str, seed: int, index: int) -> str:
    return f"synthetic-video/{split}/{seed}/{index}"


def write_sequences(out: str, split: str, count: int, frames: int, fps: float, width: int, height: int, seed: int) -> dict:
    """Writes `count` sequences of `frames` frames and sequences.json; returns what sequences.json holds."""
    image_root = os.path.join(out, "leftImg8bit_sequence", split)
    gt_root = os.path.join(out, "gtFine_sequence", split)
    summary = {"split": split, "seed": seed, "fps": fps, "width": width, "height": height, "frames": frames, "sequences": []}
    for i in range(count):
        name = sequence_name(i)
        seq = plan_sequence(name, sequence_key(split, seed, i), frames, fps, width, height)
        rendered, tracks = render_sequence(seq)
        os.makedirs(os.path.join(image_root, name), exist_ok=True)
        os.makedirs(os.path.join(gt_root, name), exist_ok=True)
        for f, (image, label_ids, instance) in enumerate(rendered):
            stem = f"{name}_{f:06d}"
            Image.fromarray(image).save(os.path.join(image_root, name, f"{stem}_leftImg8bit.png"))
            Image.fromarray(label_ids).save(os.path.join(gt_root, name, f"{stem}_gtFine_labelIds.png"))
            Image.fromarray(instance).save(os.path.join(gt_root, name, f"{stem}_gtFine_instanceIds.png"))
        summary["sequences"].append(summarize(seq, tracks))
    with open(os.path.join(gt_root, "sequences.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="dataset root")
    parser.add_argument("--split", default="val")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--frames", type=int, default=30, help="frames per sequence")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.sequences < 1 or args.frames < 1 or args.fps <= 0 or args.width < 16 or args.height < 16:
        parser.error("--sequences and --frames must be at least 1, --fps positive, --width and --height at least 16")
    fps = int(args.fps) if args.fps.is_integer() else args.fps
    start = time.monotonic()
    summary = write_sequences(args.out, args.split, args.sequences, args.frames, fps, args.width, args.height, args.seed)
    events = {k: sum(s["events"][k] for s in summary["sequences"]) for k in summary["sequences"][0]["events"]}
    objects = sum(s["objects"] for s in summary["sequences"])
    print(
        f"wrote {args.sequences} {args.split} sequences of {args.frames} frames ({args.width}x{args.height}, {args.fps:g} fps) "
        f"to {args.out} in {time.monotonic() - start:.1f} s: {objects} objects, "
        + ", ".join(f"{k} {v}" for k, v in events.items())
    )


if __name__ == "__main__":
    main()
