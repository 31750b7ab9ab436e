"""The peer bound: what a user would write instead of deploying the server. A plain Python loop decodes
the video with ffmpeg (rawvideo RGB24 at the model's input size), runs the same network with the same
weights in PyTorch eager on the CPU (bench/peers/fusionseg_torch.py rebuilds it from the model folder's
ONNX export), pastes the instance masks into the image and combines them with the semantic map the way
Panoptic FPN does (score threshold 0.5, overlap threshold 0.5, stuff area limit 4096 px at 1024x2048,
scaled to the frame, as eval/src/heuristic-combination.ts).

    /usr/bin/python3 bench/peers/python_loop.py --video models/demo/street.mp4 --frames 60 --threads 2

Prints one line per frame ("frame i ms") and a final JSON line with the figures ("summary": ...).
With --dump DIR, writes each frame's semantic labels (frame-i.semantic.u8), its detections (frame-i.json,
frame-i.masks.f32: the K x 28 x 28 mask probabilities) and its panoptic segment ids (frame-i.panoptic.u32),
for comparison with the service.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fusionseg_torch import class_map, load_from_onnx  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STUFF_AREA_FRACTION = 4096 / (1024 * 2048)


def decode(video: str, width: int, height: int, frames: int, ffmpeg: str):
    """Yields RGB24 frames (H, W, 3 uint8 tensors) from an ffmpeg pipe."""
    args = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-i", video, "-an", "-sn", "-dn",
            "-vf", f"scale={width}:{height}:flags=bilinear"]
    if frames > 0:
        args += ["-frames:v", str(frames)]
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    size = width * height * 3
    proc = subprocess.Popen(args, stdout=subprocess.PIPE)
    try:
        while True:
            data = proc.stdout.read(size)
            if len(data) < size:
                break
            yield torch.frombuffer(bytearray(data), dtype=torch.uint8).view(height, width, 3)
    finally:
        proc.stdout.close()
        proc.wait()


def frames_of(video: str, width: int, height: int, frames: int, ffmpeg: str):
    """`frames` frames of `video` (0: the whole video once), decoding it again from the start as often as
    needed for a run longer than the clip."""
    yielded = 0
    while True:
        before = yielded
        for frame in decode(video, width, height, frames - yielded if frames > 0 else 0, ffmpeg):
            yield frame
            yielded += 1
        if frames <= 0 or yielded >= frames or yielded == before:
            return


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                threshold: float = 0.5) -> torch.Tensor:
    """[K, 1, M, M] mask probabilities, [K, 4] boxes -> [K, H, W] bool, the rule of Detectron2's
    paste_masks_in_image on the CPU: each mask is resampled bilinearly (grid_sample at pixel centres) over
    the whole-pixel extent of its box only, and thresholded."""
    pasted = torch.zeros((masks.shape[0], height, width), dtype=torch.bool)
    for k in range(masks.shape[0]):
        bx1, by1, bx2, by2 = (float(v) for v in boxes[k])
        x0, y0 = max(int(bx1) - 1, 0), max(int(by1) - 1, 0)
        x1, y1 = min(math.ceil(bx2) + 1, width), min(math.ceil(by2) + 1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        gx = (torch.arange(x0, x1, dtype=torch.float32) + 0.5 - bx1) / max(bx2 - bx1, 1e-6) * 2 - 1
        gy = (torch.arange(y0, y1, dtype=torch.float32) + 0.5 - by1) / max(by2 - by1, 1e-6) * 2 - 1
        grid = torch.stack([gx[None, :].expand(len(gy), -1), gy[:, None].expand(-1, len(gx))], dim=2)
        region = F.grid_sample(masks[k : k + 1].float(), grid[None], align_corners=False)[0, 0]
        pasted[k, y0:y1, x0:x1] = region >= threshold
    return pasted


def combine(semantic: torch.Tensor, scores, classes, masks: torch.Tensor, is_thing: torch.Tensor,
            score_threshold=0.5, overlap_threshold=0.5, stuff_area_limit=0.0):
    """Panoptic FPN's combination: instances by descending score, each taking its pixels not already taken
    unless more than overlap_threshold of it is; then stuff classes on the pixels left if their area is at
    least stuff_area_limit. Returns (segment ids [H, W] int32, {id: class})."""
    segments = torch.zeros(semantic.shape, dtype=torch.int32)
    class_of: dict[int, int] = {}
    next_id = 1
    for i in torch.argsort(scores, descending=True).tolist():
        if float(scores[i]) < score_threshold:
            break
        mask = masks[i]
        area = int(mask.sum())
        if area == 0:
            continue
        free = mask & (segments == 0)
        if (area - int(free.sum())) / area > overlap_threshold:
            continue
        segments[free] = next_id
        class_of[next_id] = int(classes[i])
        next_id += 1
    left = (segments == 0) & (semantic != 255) & ~is_thing[semantic.long().clamp(max=is_thing.numel() - 1)]
    counts = torch.bincount(semantic[left].long(), minlength=256)
    for c in torch.nonzero(counts >= max(stuff_area_limit, 1)).flatten().tolist():
        segments[left & (semantic == c)] = next_id
        class_of[next_id] = c
        next_id += 1
    return segments, class_of


class Peer:
    """The network plus the combination, one frame at a time."""

    def __init__(self, model_dir: str, roi_align: str = "served"):
        self.net, self.manifest = load_from_onnx(model_dir, roi_align)
        self.width = self.manifest["input"]["width"]
        self.height = self.manifest["input"]["height"]
        mapping = class_map(self.manifest)
        self.to_train_id = torch.tensor([mapping.get(k, 255) for k in range(max(mapping) + 1)], dtype=torch.long)
        self.is_thing = torch.zeros(256, dtype=torch.bool)
        self.is_thing[list(mapping.values())] = True
        self.stuff_area_limit = STUFF_AREA_FRACTION * self.width * self.height

    @torch.no_grad()
    def infer(self, frame: torch.Tensor):
        """RGB24 [H, W, 3] -> (semantic [H, W] uint8, detection dict, panoptic ids, classes of ids)."""
        image = frame.permute(2, 0, 1)[None]
        detections, logits = self.net(image)
        semantic = logits.argmax(dim=1)[0].to(torch.uint8)
        d = detections[0]
        classes = self.to_train_id[d["labels"]]
        masks = paste_masks(d["masks"], d["boxes"], self.height, self.width)
        segments, class_of = combine(semantic, d["scores"], classes, masks, self.is_thing,
                                     stuff_area_limit=self.stuff_area_limit)
        return semantic, d, classes, segments, class_of


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", default=os.path.join(ROOT, "models", "demo", "street.mp4"))
    parser.add_argument("--frames", type=int, default=60,
                        help="frames to time (0: the whole video once); a longer run decodes the video again")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--weights", default=os.path.join(ROOT, "models", "default"), help="a model folder")
    parser.add_argument("--roi-align", choices=("served", "trained"), default="served",
                        help="served: RoIAlign as ONNX Runtime runs the exported graph (see fusionseg_torch.py); "
                        "trained: torchvision's aligned=False, as the network was trained")
    parser.add_argument("--warmup", type=int, default=1, help="frames run before timing starts (not counted)")
    parser.add_argument("--ffmpeg", default=os.environ.get("FFMPEG_PATH", "ffmpeg"))
    parser.add_argument("--dump", help="write each frame's semantic map, detections and panoptic ids here")
    parser.add_argument("--quiet", action="store_true", help="only the summary line")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    peer = Peer(args.weights, args.roi_align)
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
    total = args.frames + args.warmup if args.frames > 0 else 0
    times: list[float] = []
    detections = 0
    started = None
    index = -1
    for index, frame in enumerate(frames_of(args.video, peer.width, peer.height, total, args.ffmpeg)):
        if index == args.warmup:
            started = time.perf_counter()
        t0 = time.perf_counter()
        semantic, d, classes, segments, class_of = peer.infer(frame)
        ms = (time.perf_counter() - t0) * 1000
        if index >= args.warmup:
            times.append(ms)
            detections += int(d["scores"].numel())
            if not args.quiet:
                print(f"frame {index - args.warmup} {ms:.1f} ms", flush=True)
        if args.dump:
            stem = os.path.join(args.dump, f"frame-{index}")
            semantic.numpy().tofile(stem + ".semantic.u8")
            segments.numpy().astype("<u4").tofile(stem + ".panoptic.u32")
            d["masks"].numpy().astype("<f4").tofile(stem + ".masks.f32")
            with open(stem + ".json", "w") as f:
                json.dump({"boxes": d["boxes"].tolist(), "scores": d["scores"].tolist(), "classes": classes.tolist(),
                           "segments": {str(k): v for k, v in class_of.items()}}, f)
    # Frames/s over the whole loop (decode included), from the first timed frame's start.
    wall = time.perf_counter() - started if started is not None else 0.0
    summary = {
        "frames": len(times),
        "threads": args.threads,
        "fps": len(times) / wall if wall > 0 else 0.0,
        "latencyMs": {
            "p50": percentile(times, 0.5),
            "p95": percentile(times, 0.95),
            "mean": sum(times) / max(len(times), 1),
        },
        "detectionsPerFrame": detections / max(len(times), 1),
        "torch": torch.__version__,
        "roiAlign": args.roi_align,
        "width": peer.width,
        "height": peer.height,
    }
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
