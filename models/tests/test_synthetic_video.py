"""Synthetic video sequences: deterministic, one id per thing for the whole sequence (a new one after a
wrap-around), occlusions that end, the files' layout; and the still scenes and the demo video unchanged."""

import hashlib
import json
import os
import sys
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from fusionseg_model.synthetic import CAR, LABEL_IDS, make_scene, perspective_scale  # noqa: E402
from fusionseg_model.synthetic_video import (  # noqa: E402
    Mover, plan_sequence, reach, render_sequence, sequence_key, sequence_name, write_sequences,
)

# sha256 of make_scene's four arrays as drawn before synthetic_video.py existed: the shipped model was trained
# on these scenes and models/demo/street.mp4 was encoded from these frames.
STILL_SHA256 = {
    100000: "1210eaa6dcdca62d12d367d2468bca1de1b14cf996ca0bd87543cb4d93359e43",
    100001: "05d0834e4b31c6670f7af4992da2ecfb4be1640d91208c8a7ff6638979971b69",
    100002: "79e21b2e91a58a7a22afb7945f9763cb984b6d78dba9dac29312c7fce90a3717",
    100003: "564836a8d0ff1201fc26dbb9e1550f21362c83ee0b862f63a33647541dededc0",
    100004: "c577db8c4329558eaad1260de29aaf384e754a5b73489c4c1dac0db85f2584bb",
    100005: "8a622ab190024f8170c01b2c747b6c6d17455142a95a4039c241b57fcedbde9e",
    100006: "03c56d863b6106ac4ab97ab4e2ec739535d6f118b635f7c4b6b9a1e9b4a0e59d",
    100007: "5cc52874f1dd6cbea4334febc19b25de34c1e5e4637b31efdb255337577134d7",
    100008: "a69506921f63d2e561ddd04a776415ac06358b9cd11dcdef7c61801d337427a2",
    100009: "93351638d77dcfc33ff5475067b3401ae99e187adfbdd2aac7dfb8408dece42a",
}
DEMO_VIDEO_SHA256 = "b569fbd078fde04be2d0d810623c6d8aa31f2f445b3ec936697d334ea2992ec6"  # seed 7, 512x256, 60 frames


def sha256(arrays) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(str(a.dtype).encode())
        digest.update(str(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def test_still_scenes_and_demo_video_frames_are_unchanged():
    assert {seed: sha256(make_scene(seed, 512, 256)) for seed in STILL_SHA256} == STILL_SHA256
    frames = [a for i in range(60) for a in make_scene(7, 512, 256, frame=i / 10)]
    assert sha256(frames) == DEMO_VIDEO_SHA256


@pytest.fixture(scope="module")
def default_val():
    """The default val set (seed 0, 8 sequences of 30 frames at 10 fps, 512x256), drawn in memory."""
    out = []
    for i in range(8):
        seq = plan_sequence(sequence_name(i), sequence_key("val", 0, i), 30, 10, 512, 256)
        frames, tracks = render_sequence(seq)
        out.append((seq, frames, tracks))
    return out


def shifted(mask: np.ndarray, dx: int) -> np.ndarray:
    out = np.zeros_like(mask)
    if dx >= 0:
        out[:, dx:] = mask[:, : mask.shape[1] - dx]
    else:
        out[:, :dx] = mask[:, -dx:]
    return out


def test_label_and_instance_maps_agree(default_val):
    for _, frames, tracks in default_val:
        ids = {t.id for t in tracks}
        assert len(ids) == len(tracks)  # one id per track
        for _, label_ids, instance in frames:
            assert instance.dtype == np.uint16
            things = instance >= 1000
            assert set(np.unique(instance[things]).tolist()) <= ids
            assert np.array_equal(label_ids[things], instance[things] // 1000)
            assert np.array_equal(instance[~things], label_ids[~things])  # stuff: the label id (0 for void)
            assert not np.isin(label_ids[~things], [LABEL_IDS[c] for c in range(11, 19)]).any()


def test_a_moving_thing_keeps_its_id_and_its_region_moves_with_it(default_val):
    checked = 0
    for seq, frames, tracks in default_val:
        movers = {m.index: m for m in seq.movers}
        for t in tracks:
            if movers[t.mover].speed == 0:
                continue
            for f in range(seq.frames - 1):
                if not (t.pixels[f] and t.pixels[f + 1]):
                    continue
                a, b = frames[f][2] == t.id, frames[f + 1][2] == t.id
                cols = np.flatnonzero(a.any(axis=0) | b.any(axis=0))
                dx = t.x[f + 1] - t.x[f]
                assert dx != 0 or abs(movers[t.mover].speed) < 10
                # Unoccluded (or equally occluded) away from the edges: the same region moved by dx.
                if cols[0] > 0 and cols[-1] < seq.width - 1 and np.array_equal(shifted(a, dx), b):
                    checked += 1
    assert checked > 500


def test_a_hidden_thing_shows_only_parts_of_its_own_drawing(default_val):
    """The planned occludee of each sequence, drawn alone: its region moves with it, and in the whole scene
    it shows a part of that region (none while hidden), under the same id in every frame."""
    hidden_frames = 0
    for seq, frames, tracks in default_val[:4]:
        hidden = seq.movers[-2]
        alone = replace(seq, movers=[hidden])  # (its index seeds its look)
        alone_frames, alone_tracks = render_sequence(alone)
        for t in alone_tracks:
            [full] = [u for u in tracks if (u.mover, u.incarnation, u.role) == (hidden.index, t.incarnation, t.role)]
            for f in range(seq.frames):
                own, shown = alone_frames[f][2] == t.id, frames[f][2] == full.id
                assert not (shown & ~own).any()
                assert own.any() == full.in_view[f] and shown.sum() == full.pixels[f]
                hidden_frames += own.any() and not shown.any()
                before = alone_frames[f - 1][2] == t.id if f else own
                cols = np.flatnonzero(own.any(axis=0) | before.any(axis=0))
                if f and len(cols) and 0 < cols[0] and cols[-1] < seq.width - 1:
                    assert np.array_equal(shifted(before, t.x[f] - t.x[f - 1]), own)
    assert hidden_frames >= 10


def test_a_thing_that_wraps_around_comes_back_as_a_new_thing():
    seq = plan_sequence("wrap", "test/wrap", 10, 10, 512, 256)
    base = seq.road_top + 60
    scale = perspective_scale(base, seq.road_top, seq.height)
    seq.movers = [Mover(0, CAR, base, scale, seq.width - 40, 400.0, *reach(CAR, scale))]
    frames, tracks = render_sequence(seq)
    assert [(t.incarnation, t.cls) for t in tracks] == [(0, CAR), (1, CAR)]
    first, second = tracks
    assert first.id != second.id and first.id // 1000 == second.id // 1000 == LABEL_IDS[CAR]
    gone = first.pixels.index(0)  # it leaves through the right edge ...
    back = second.visible.index(True)  # ... and a different car enters through the left edge
    assert 0 < gone <= back < seq.frames
    for f, (_, _, instance) in enumerate(frames):
        assert (first.id in instance) == (f < gone)
        assert (second.id in instance) == (f >= back)
    cols = np.flatnonzero((frames[back][2] == second.id).any(axis=0))
    assert cols[0] == 0  # it enters at the left edge


def test_the_default_val_set_has_occlusions_that_end_enters_leaves_and_wraps(default_val):
    reemerged = enters = leaves = wraps = 0
    for seq, frames, tracks in default_val:
        incarnations = {}
        for t in tracks:
            incarnations.setdefault(t.mover, set()).add(t.incarnation)
            events = t.events()
            enters += events["entered"] is not None
            leaves += events["left"] is not None
            for hidden in events["hidden"]:
                if not hidden["reemerged"]:
                    continue
                start, end = hidden["frames"]
                # Fully hidden inside the image: gone from the maps, there before and after.
                assert all(t.id not in frames[f][2] for f in range(start, end + 1))
                assert t.id in frames[start - 1][2] and t.id in frames[end + 1][2]
                assert all(0 <= t.x[f] < seq.width for f in range(start, end + 1))
                reemerged += 1
        wraps += sum(len(k) - 1 for k in incarnations.values())
    assert reemerged >= 4 and enters >= 4 and leaves >= 4 and wraps >= 1


def test_written_sequences_are_deterministic_and_in_the_vps_layout(tmp_path):
    runs = []
    for run in ("a", "b"):
        root = tmp_path / run
        summary = write_sequences(str(root), "val", 2, 4, 10, 256, 128, 3)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        runs.append((summary, {f: (root / f).read_bytes() for f in files}))
    assert runs[0] == runs[1]
    summary, files = runs[0]
    assert len(files) == 2 * 4 * 3 + 1
    root = tmp_path / "a"
    with open(root / "gtFine_sequence/val/sequences.json") as f:
        assert json.load(f) == summary
    assert [(s["name"], s["frames"], s["fps"], s["width"], s["height"]) for s in summary["sequences"]] == [
        ("street000", 4, 10, 256, 128), ("street001", 4, 10, 256, 128),
    ]
    gt = root / "gtFine_sequence/val/street001"
    image = Image.open(root / "leftImg8bit_sequence/val/street001/street001_000003_leftImg8bit.png")
    assert image.mode == "RGB" and image.size == (256, 128)
    assert Image.open(gt / "street001_000003_gtFine_labelIds.png").mode == "L"
    png = (gt / "street001_000003_gtFine_instanceIds.png").read_bytes()
    assert png[24:26] == bytes([16, 0])  # IHDR: 16-bit grayscale
    instance = np.asarray(Image.open(gt / "street001_000003_gtFine_instanceIds.png"))
    assert instance.shape == (128, 256)
    ids = {t["id"] for s in summary["sequences"][1:] for t in s["tracks"]}
    assert set(np.unique(instance[instance >= 1000]).tolist()) <= ids
    assert summary["sequences"][1]["objects"] == len(summary["sequences"][1]["tracks"])
