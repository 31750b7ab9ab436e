"""Decoding of `EncodedMap` messages (RAW, RLE, PNG) into numpy label arrays.

Semantic maps decode to ``uint8`` arrays, instance maps to ``uint16`` arrays, both of shape
``(height, width)``. PNG maps are read by a small PNG reader built on :mod:`zlib` (greyscale, 8 or 16
bits, not interlaced), so no imaging library is needed.
"""

from __future__ import annotations

import struct
import zlib
from typing import Optional, Union, cast

import numpy as np
import numpy.typing as npt

from fusionseg.v1 import segmentation_pb2 as pb

LabelMap = Union[npt.NDArray[np.uint8], npt.NDArray[np.uint16]]

__all__ = ["LabelMap", "MapDecodeError", "decode_map", "decode_png", "decode_raw", "decode_rle"]


class MapDecodeError(ValueError):
    """An encoded map whose bytes do not match its declared encoding, size or depth."""


def _dtype(bytes_per_pixel: int) -> type[np.uint8] | type[np.uint16]:
    if bytes_per_pixel == 1:
        return np.uint8
    if bytes_per_pixel == 2:
        return np.uint16
    raise MapDecodeError(f"bytes_per_pixel must be 1 or 2, got {bytes_per_pixel}")


def decode_raw(data: bytes, width: int, height: int, bytes_per_pixel: int) -> LabelMap:
    """Row-major pixels, little-endian, ``bytes_per_pixel`` (1 or 2) each."""
    dtype = _dtype(bytes_per_pixel)
    expected = width * height * bytes_per_pixel
    if len(data) != expected:
        raise MapDecodeError(f"a raw {width}x{height} map needs {expected} bytes, got {len(data)}")
    source = np.frombuffer(data, dtype=np.uint8 if bytes_per_pixel == 1 else np.dtype("<u2"))
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
    limit = 0xFF if bytes_per_pixel == 1 else 0xFFFF
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
    """A greyscale PNG (8-bit -> uint8, 16-bit -> uint16), not interlaced, as a (height, width) array."""
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
    if colour != 0 or depth not in (8, 16) or interlace != 0:
        raise MapDecodeError(
            f"expected an 8- or 16-bit greyscale PNG without interlace, got colour type {colour}, "
            f"depth {depth}, interlace {interlace}"
        )
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as error:
        raise MapDecodeError(f"PNG image data does not inflate: {error}") from error
    bpp = depth // 8
    pixels = _unfilter(raw, width, height, bpp)
    if bpp == 1:
        return pixels.reshape(height, width)
    return pixels.view(np.dtype(">u2")).astype(np.uint16).reshape(height, width)


def decode_map(encoded: Optional[pb.EncodedMap]) -> Optional[LabelMap]:
    """Decodes a result's ``semantic`` or ``instance`` map; None when the map is absent (NONE)."""
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
        if values.shape != (height, width) or values.dtype != _dtype(bpp):
            raise MapDecodeError(
                f"the PNG map is {values.shape[1]}x{values.shape[0]} {values.dtype}, "
                f"expected {width}x{height} with {bpp} byte(s) per pixel"
            )
        return values
    raise MapDecodeError(f"unknown map encoding {encoded.encoding}")
