"""Decoding of `EncodedMap` messages (RAW, RLE, PNG) and COCO-panoptic PNGs into numpy label arrays.

Semantic maps decode to ``uint8`` arrays, instance maps to ``uint16`` arrays, both of shape
``(height, width)``. With tracking on (``FrameResult.tracked``) the instance map carries track ids, which
outgrow 16 bits: it has 4 bytes per pixel (RAW, RLE) or is an 8-bit RGB PNG whose value is
R + 256 G + 65536 B (``bytes_per_pixel`` 3), and decodes to a ``uint32`` array. PNGs are read by a small
PNG reader built on :mod:`zlib` (8- or 16-bit greyscale, 8-bit RGB; not interlaced), so no imaging library
is needed.

The COCO-panoptic PNG (``FrameResult.panoptic_png``) holds one id per pixel, R + 256 G + 65536 B: an
instance's id (its ``Segment.id``, the track id when tracked), ``stuff_id_base(tracked)`` + class id for
other labelled pixels (65536 + class, or 16776960 + class when tracked), 0 for void.
"""

from __future__ import annotations

import struct
import zlib
from typing import Optional, Union, cast

import numpy as np
import numpy.typing as npt

from fusionseg.v1 import segmentation_pb2 as pb

LabelMap = Union[npt.NDArray[np.uint8], npt.NDArray[np.uint16], npt.NDArray[np.uint32]]

__all__ = [
    "LabelMap",
    "MapDecodeError",
    "PANOPTIC_VOID",
    "STUFF_ID_BASE",
    "TRACKED_STUFF_ID_BASE",
    "decode_map",
    "decode_panoptic_png",
    "decode_png",
    "decode_raw",
    "decode_rle",
    "describe_panoptic_id",
    "stuff_id_base",
]

#: The panoptic id of void pixels.
PANOPTIC_VOID = 0
#: Panoptic id of stuff class ``c`` is STUFF_ID_BASE + c (above every 16-bit instance id).
STUFF_ID_BASE = 65536
#: With tracking on, stuff class ``c`` is TRACKED_STUFF_ID_BASE + c: the top 256 ids of 24 bits, above every track id.
TRACKED_STUFF_ID_BASE = 2**24 - 256


class MapDecodeError(ValueError):
    """An encoded map whose bytes do not match its declared encoding, size or depth."""


_DTYPES: dict[int, type[np.uint8] | type[np.uint16] | type[np.uint32]] = {1: np.uint8, 2: np.uint16, 4: np.uint32}


def _dtype(bytes_per_pixel: int) -> type[np.uint8] | type[np.uint16] | type[np.uint32]:
    dtype = _DTYPES.get(bytes_per_pixel)
    if dtype is None:
        raise MapDecodeError(f"bytes_per_pixel must be 1, 2 or 4, got {bytes_per_pixel}")
    return dtype


def decode_raw(data: bytes, width: int, height: int, bytes_per_pixel: int) -> LabelMap:
    """Row-major pixels, little-endian, ``bytes_per_pixel`` (1, 2, or 4 for tracked instance maps) each."""
    dtype = _dtype(bytes_per_pixel)
    expected = width * height * bytes_per_pixel
    if len(data) != expected:
        raise MapDecodeError(f"a raw {width}x{height} map needs {expected} bytes, got {len(data)}")
    source = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"))
    return source.astype(dtype).reshape(height, width)


def decode_rle(data: bytes, width: int, height: int, bytes_per_pixel: int) -> LabelMap:
    """Row-major runs as pairs of unsigned LEB128 varints (value, run length)."""
    dtype = _dtype(bytes_per_pixel)
    pixels = width * height
    values: list[int] = []
    runs: list[int] = []
    covered = 0
    offset = 0
    length = len(data)
    limit = (1 << (8 * bytes_per_pixel)) - 1
    while offset < length:
        pair = [0, 0]
        for k in range(2):
            result = 0
            shift = 0
            while True:
                if offset >= length:
                    raise MapDecodeError("run-length data ends inside a varint")
                byte = data[offset]
                offset += 1
                result |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
            pair[k] = result
        value, run = pair
        if value > limit:
            raise MapDecodeError(f"run-length value {value} does not fit {bytes_per_pixel} byte(s)")
        covered += run
        if covered > pixels:
            raise MapDecodeError(f"run-length data covers more than {pixels} pixels")
        values.append(value)
        runs.append(run)
    if covered != pixels:
        raise MapDecodeError(f"run-length data covers {covered} of {pixels} pixels")
    return np.repeat(np.asarray(values, dtype=dtype), np.asarray(runs, dtype=np.int64)).reshape(height, width)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa = abs(p - a)
    pb_ = abs(p - b)
    pc = abs(p - c)
    if pa <= pb_ and pa <= pc:
        return a
    return b if pb_ <= pc else c


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> npt.NDArray[np.uint8]:
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise MapDecodeError(f"PNG image data has {len(raw)} bytes, expected {height * (stride + 1)}")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    filters = rows[:, 0]
    data = rows[:, 1:]
    if int(filters.max(initial=0)) > 4:
        raise MapDecodeError(f"unknown PNG filter type {int(filters.max())}")
    if not filters.any():
        return data.copy()
    out = np.empty((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind = int(filters[y])
        line = data[y]
        if kind == 0:
            current = line.copy()
        elif kind == 1:  # Sub: a running sum (mod 256) per byte lane
            current = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:  # Up
            current = line + prior
        else:  # Average (3) and Paeth (4) depend on the byte just decoded: byte by byte
            line_b = line.tobytes()
            prior_b = prior.tobytes()
            cur = bytearray(stride)
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = prior_b[i]
                if kind == 3:
                    cur[i] = (line_b[i] + ((a + b) >> 1)) & 0xFF
                else:
                    c = prior_b[i - bpp] if i >= bpp else 0
                    cur[i] = (line_b[i] + _paeth(a, b, c)) & 0xFF
            current = np.frombuffer(bytes(cur), dtype=np.uint8)
        out[y] = current
        prior = out[y]
    return out


def decode_png(data: bytes) -> LabelMap:
    """A PNG, not interlaced, as a (height, width) array: 8-bit grey -> uint8, 16-bit grey -> uint16, and
    8-bit RGB -> uint32 with the value R + 256 G + 65536 B (tracked instance maps, panoptic PNGs)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise MapDecodeError("not a PNG (bad signature)")
    offset = len(_PNG_SIGNATURE)
    header: Optional[tuple[int, int, int, int, int, int, int]] = None
    idat: list[bytes] = []
    ended = False
    while offset + 8 <= len(data):
        (size,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + size]
        crc_bytes = data[offset + 8 + size : offset + 12 + size]
        if len(body) != size or len(crc_bytes) != 4:
            raise MapDecodeError("PNG truncated inside a chunk")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc_bytes)[0]:
            raise MapDecodeError(f"PNG chunk {kind!r} has a bad CRC")
        offset += 12 + size
        if kind == b"IHDR":
            if size != 13:
                raise MapDecodeError("PNG IHDR chunk of the wrong size")
            header = cast(tuple[int, int, int, int, int, int, int], struct.unpack(">IIBBBBB", body))
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            ended = True
            break
    if header is None or not ended:
        raise MapDecodeError("PNG without IHDR or IEND")
    width, height, depth, colour, _compression, _filter, interlace = header
    grey = colour == 0 and depth in (8, 16)
    rgb = colour == 2 and depth == 8
    if not (grey or rgb) or interlace != 0:
        raise MapDecodeError(
            f"expected an 8- or 16-bit greyscale or 8-bit RGB PNG without interlace, got colour type {colour}, "
            f"depth {depth}, interlace {interlace}"
        )
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as error:
        raise MapDecodeError(f"PNG image data does not inflate: {error}") from error
    bpp = 3 if rgb else depth // 8
    pixels = _unfilter(raw, width, height, bpp)
    if rgb:
        channels = pixels.reshape(height, width, 3).astype(np.uint32)
        ids = channels[:, :, 0] | (channels[:, :, 1] << 8) | (channels[:, :, 2] << 16)
        return cast(npt.NDArray[np.uint32], ids.astype(np.uint32))
    if bpp == 1:
        return pixels.reshape(height, width)
    return pixels.view(np.dtype(">u2")).astype(np.uint16).reshape(height, width)


def decode_map(encoded: Optional[pb.EncodedMap]) -> Optional[LabelMap]:
    """Decodes a result's ``semantic`` or ``instance`` map; None when the map is absent (NONE).

    Semantic maps give uint8, instance maps uint16, and tracked instance maps (``bytes_per_pixel`` 4, or 3
    for their RGB PNG) uint32 track ids."""
    if encoded is None or encoded.encoding in (pb.MAP_ENCODING_NONE, pb.MAP_ENCODING_UNSPECIFIED):
        if encoded is not None and encoded.encoding == pb.MAP_ENCODING_UNSPECIFIED and encoded.data:
            raise MapDecodeError("a map with data but no encoding")
        return None
    width, height, bpp = encoded.width, encoded.height, encoded.bytes_per_pixel
    if encoded.encoding == pb.MAP_ENCODING_RAW:
        return decode_raw(encoded.data, width, height, bpp)
    if encoded.encoding == pb.MAP_ENCODING_RLE:
        return decode_rle(encoded.data, width, height, bpp)
    if encoded.encoding == pb.MAP_ENCODING_PNG:
        values = decode_png(encoded.data)
        expected = np.uint32 if bpp == 3 else _dtype(bpp)  # 3: a tracked instance map's RGB PNG
        if values.shape != (height, width) or values.dtype != expected:
            raise MapDecodeError(
                f"the PNG map is {values.shape[1]}x{values.shape[0]} {values.dtype}, "
                f"expected {width}x{height} with {bpp} byte(s) per pixel"
            )
        return values
    raise MapDecodeError(f"unknown map encoding {encoded.encoding}")


def stuff_id_base(tracked: bool) -> int:
    """The panoptic id of stuff class 0 in a frame: TRACKED_STUFF_ID_BASE when the frame is tracked."""
    return TRACKED_STUFF_ID_BASE if tracked else STUFF_ID_BASE


def decode_panoptic_png(data: bytes) -> npt.NDArray[np.uint32]:
    """A COCO-panoptic PNG (``FrameResult.panoptic_png``) as (height, width) uint32 segment ids."""
    ids = decode_png(data)
    if ids.dtype != np.uint32:
        raise MapDecodeError(f"a panoptic PNG is 8-bit RGB, got a greyscale PNG ({ids.dtype})")
    return cast(npt.NDArray[np.uint32], ids)


def describe_panoptic_id(segment_id: int, tracked: bool = False) -> tuple[str, int]:
    """What a panoptic id stands for: ("void", 0), ("instance", instance or track id) or ("stuff", class id).

    ``tracked`` is the frame's ``FrameResult.tracked`` (it moves the stuff ids above every track id)."""
    base = stuff_id_base(tracked)
    if segment_id == PANOPTIC_VOID:
        return ("void", 0)
    if segment_id < base:
        return ("instance", segment_id)
    return ("stuff", segment_id - base)
