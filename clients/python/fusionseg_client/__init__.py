"""fusionseg_client: a typed Python client of the fusionseg gRPC service (fusionseg.v1.SegmentationService).

Needs the generated stubs in ``clients/python/fusionseg/`` (``npm run gen:python``) on ``sys.path`` next to
this package, and Debian's python3-grpcio, python3-protobuf and python3-numpy.
"""

from fusionseg.v1 import segmentation_pb2 as pb

from .client import (
    DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
    DEFAULT_MAX_SEND_MESSAGE_LENGTH,
    FusionsegClient,
    FusionsegError,
    VideoFrames,
    VideoInputError,
    connect,
    stream_options,
    video_frames,
)
from .maps import (
    PANOPTIC_VOID,
    STUFF_ID_BASE,
    TRACKED_STUFF_ID_BASE,
    LabelMap,
    MapDecodeError,
    decode_map,
    decode_panoptic_png,
    decode_png,
    decode_raw,
    decode_rle,
    describe_panoptic_id,
    stuff_id_base,
)

__all__ = [
    "DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH",
    "DEFAULT_MAX_SEND_MESSAGE_LENGTH",
    "FusionsegClient",
    "FusionsegError",
    "LabelMap",
    "MapDecodeError",
    "PANOPTIC_VOID",
    "STUFF_ID_BASE",
    "TRACKED_STUFF_ID_BASE",
    "VideoFrames",
    "VideoInputError",
    "connect",
    "decode_map",
    "decode_panoptic_png",
    "decode_png",
    "decode_raw",
    "decode_rle",
    "describe_panoptic_id",
    "pb",
    "stream_options",
    "stuff_id_base",
    "video_frames",
]
