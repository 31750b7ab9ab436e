"""Trains the unified network on a Cityscapes-layout data set.

    /usr/bin/python3 models/train.py --data DIR [--depth 18] [--head asp-rp|baseline] [--width 0.5]
        [--size 256x512] [--iterations 3000] [--stop-at N] [--time-budget-min 40]
        [--out models/checkpoints/run] [--resume CHECKPOINT]

Prints the losses and an estimate of the time left; saves a checkpoint every --save-every iterations
and at the end (or when the time budget runs out), so a stopped run resumes with --resume.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fusionseg_model.data import CityscapesSplit, collate  # noqa: E402
from fusionseg_model.network import UnifiedNet  # noqa: E402


def parse_size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--depth", type=int, default=18, choices=(18, 34, 50))
    parser.add_argument("--head", default="asp-rp", choices=("asp-rp", "baseline"))
    parser.add_argument("--width", type=float, default=0.5, help="ResNet channel multiplier (1.0 is the paper's)")
    parser.add_argument("--size", type=parse_size, default=(256, 512), help="input HxW")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument(
        "--stop-at", type=int, default=0, help="stop (and save) at this iteration; the schedule still spans --iterations"
    )
    parser.add_argument("--time-budget-min", type=float, default=0, help="stop (and save) after this many minutes")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", default="models/checkpoints/run")
    parser.add_argument("--save-every", type=int, default=200)
    parser.add_argument("--resume")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    net = UnifiedNet(depth=args.depth, head=args.head, width=args.width)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    start = 0
    if args.resume:
        state = torch.load(args.resume, map_location="cpu")
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["iteration"]
        print(f"resumed from {args.resume} at iteration {start}")
    data = CityscapesSplit(args.data, "train", size=args.size, flip=True)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, collate_fn=collate, drop_last=True)
    warmup = 100

    def lr_at(i: int) -> float:
        if i < warmup:
            return args.lr * (i + 1) / warmup
        return args.lr * 0.5 * (1 + math.cos(math.pi * (i - warmup) / max(1, args.iterations - warmup)))

    def save(i: int) -> str:
        path = os.path.join(args.out, "last.pt")
        torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(), "iteration": i, "config": net.config}, path)
        return path

    net.train()
    began = time.time()
    i = start
    while i < args.iterations:
        for images, semantic, targets in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(i)
            losses = net(images, targets, semantic)
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            optimizer.step()
            i += 1
            elapsed = time.time() - began
            if i % 10 == 0 or i == start + 1:
                per_step = elapsed / (i - start)
                remaining = (args.iterations - i) * per_step
                if args.time_budget_min:
                    remaining = min(remaining, args.time_budget_min * 60 - elapsed)
                parts = " ".join(f"{k.replace('loss_', '')} {v.item():.3f}" for k, v in losses.items())
                print(f"iter {i}/{args.iterations} loss {loss.item():.3f} ({parts}) {per_step:.2f} s/iter, ~{remaining / 60:.1f} min left", flush=True)
            if i % args.save_every == 0:
                save(i)
            out_of_time = args.time_budget_min and elapsed > args.time_budget_min * 60
            if i >= args.iterations or out_of_time or (args.stop_at and i >= args.stop_at):
                print(f"stopping at iteration {i} after {elapsed / 60:.1f} min; saved {save(i)}", flush=True)
                return
    print(f"saved {save(i)}")


if __name__ == "__main__":
    main()
