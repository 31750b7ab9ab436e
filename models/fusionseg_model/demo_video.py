"""The demo video: a synthetic street whose traffic moves, encoded as H.264 MP4 by ffmpeg.

    /usr/bin/python3 -m fusionseg_model.demo_video --out models/demo/street.mp4 --ffmpeg PATH [--seconds 6]
"""

from __future__ import annotations

import argparse
import subprocess

from .synthetic import make_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ffmpeg", default="ffmpeg")
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    encoder = subprocess.Popen(
        [
            args.ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{args.width}x{args.height}", "-r", str(args.fps), "-i", "pipe:0",
            "-c:v", "libx264", "-preset", "slow", "-crf", "26", "-pix_fmt", "yuv420p", "-movflags", "+faststart", args.out,
        ],
        stdin=subprocess.PIPE,
    )
    frames = int(args.seconds * args.fps)
    for i in range(frames):
        image, *_ = make_scene(args.seed, args.width, args.height, frame=i / args.fps)
        encoder.stdin.write(image.tobytes())
    encoder.stdin.close()
    if encoder.wait() != 0:
        raise SystemExit("ffmpeg failed to encode the demo video")
    print(f"wrote {args.out}: {frames} frames at {args.fps} fps")


if __name__ == "__main__":
    main()
