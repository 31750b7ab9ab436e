#!/usr/bin/env python3
"""Streams a video file to a fusionseg server and prints a summary of each result, then frames and frames/s.

    /usr/bin/python3 clients/python/examples/stream_video.py --server 127.0.0.1:50051
    /usr/bin/python3 clients/python/examples/stream_video.py --server host:50051 --token "$TOKEN" \\
        --ca ca.pem video.mp4

By default the video is decoded here with ffmpeg (raw rgb24 frames, as a camera client would send them) and
sent with StreamFrames; ``--upload`` sends the file itself with ProcessVideo and lets the server decode it.
The server tracks uploads by default and frame streams only when asked: ``--track`` / ``--no-tracking``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence

HERE = Path(__file__).resolve().parent
# clients/python holds the generated stubs (fusionseg/) and the helper package (fusionseg_client/).
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from fusionseg_client import (  # noqa: E402
    FusionsegError,
    VideoInputError,
    connect,
    decode_map,
    pb,
    stream_options,
)

DEFAULT_VIDEO = HERE.parents[2] / "models" / "demo" / "street.mp4"
ENCODINGS = {"rle": pb.MAP_ENCODING_RLE, "raw": pb.MAP_ENCODING_RAW, "png": pb.MAP_ENCODING_PNG}


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", default=str(DEFAULT_VIDEO), help="video file (default: %(default)s)")
    parser.add_argument("--server", default="127.0.0.1:50051", help="host:port (default: %(default)s)")
    parser.add_argument("--token", default=os.environ.get("FUSIONSEG_TOKEN") or None, help="bearer token")
    parser.add_argument("--ca", help="CA certificate (PEM) of the server: turns TLS on")
    parser.add_argument("--cert", help="client certificate (PEM) for mutual TLS, with --key")
    parser.add_argument("--key", help="client key (PEM) for mutual TLS, with --cert")
    parser.add_argument("--tls", action="store_true", help="TLS with the system's root certificates")
    parser.add_argument("--encoding", choices=sorted(ENCODINGS), default="rle", help="map encoding (rle)")
    parser.add_argument("--source-resolution", action="store_true", help="maps at the video's size")
    parser.add_argument("--upload", action="store_true", help="upload the file with ProcessVideo instead")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0: all)")
    parser.add_argument("--fps", type=float, default=0.0, help="sample the video at this rate (0: every frame)")
    parser.add_argument("--quiet", action="store_true", help="no per-frame lines")
    tracking = parser.add_mutually_exclusive_group()
    tracking.add_argument("--track", action="store_true", help="track instances (segment ids = track ids)")
    tracking.add_argument("--no-tracking", action="store_true", help="do not track (uploads are tracked by default)")
    parser.add_argument(
        "--max-receive-mb",
        type=int,
        default=64,
        help="largest result message accepted, MiB (grpcio's default is 4; default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    encoding = ENCODINGS[args.encoding]
    tracking = (
        pb.TrackingOptions(enabled=True)
        if args.track
        else pb.TrackingOptions(enabled=False)
        if args.no_tracking
        else None
    )
    options = stream_options(
        semantic_map=encoding, instance_map=encoding, source_resolution=args.source_resolution, tracking=tracking
    )
    client = connect(
        args.server,
        token=args.token,
        ca_cert=args.ca,
        client_cert=args.cert,
        client_key=args.key,
        tls=True if args.tls else None,
        max_receive_message_length=args.max_receive_mb * 1024 * 1024,
    )
    frames = 0
    started = time.perf_counter()
    try:
        with client:
            info = client.model_info()
            names = {c.id: c.name for c in info.label_space.classes}
            print(
                f"model {info.name} ({info.kind}), input {info.input_width}x{info.input_height}, "
                f"devices {', '.join(d.name for d in info.devices)}; video {args.video}",
                flush=True,
            )
            started = time.perf_counter()
            if args.upload:
                results = client.process_video(
                    args.video, options, fps=args.fps, max_frames=args.max_frames
                )
            else:
                results = client.stream_video(
                    args.video, options, fps=args.fps or None, max_frames=args.max_frames or None
                )
            for result in results:
                frames += 1
                if args.quiet:
                    continue
                if result.dropped:
                    print(f"frame {result.index}: dropped", flush=True)
                    continue
                semantic = decode_map(result.semantic)
                instance = decode_map(result.instance)
                things = Counter(names.get(s.class_id, str(s.class_id)) for s in result.segments)
                top = ", ".join(f"{name} {count}" for name, count in things.most_common(4)) or "none"
                classes = len(np.unique(semantic)) if semantic is not None else 0
                instances = int(np.count_nonzero(np.unique(instance))) if instance is not None else 0
                print(
                    f"frame {result.index} pts {result.pts}: {result.width}x{result.height} maps, "
                    f"{classes} classes, {instances} {'tracks' if result.tracked else 'instances'}, "
                    f"{len(result.segments)} segments ({top}), "
                    f"server {result.timings.total_us / 1000:.1f} ms (batch {result.timings.batch_size})",
                    flush=True,
                )
    except FusionsegError as error:
        print(f"error: {error.code.name}: {error.details}", file=sys.stderr)
        return 1
    except VideoInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    print(f"frames: {frames}, seconds: {seconds:.2f}, frames/s: {frames / seconds if seconds > 0 else 0:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
