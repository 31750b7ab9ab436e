"""Tests of the Python client: map decoding on its own, and calls against a real fusionseg server.

test/clients/python-client.test.ts starts real servers over the generated test model (64x32 input;
semantic label = floor(R / 16) per pixel) and runs this file with

    /usr/bin/python3 -m pytest -q -p no:cacheprovider clients/python/tests

and these environment variables (tests that need one skip without it, unless FUSIONSEG_TEST_STRICT=1):
    FUSIONSEG_TEST_SERVER        host:port of a plaintext server without tokens
    FUSIONSEG_TEST_CLIP          a short H.264 MP4 (for uploads and ffmpeg decoding)
    FUSIONSEG_TEST_CLIP_FRAMES   its frame count
    FUSIONSEG_TEST_TLS_SERVER    host:port of a server with mutual TLS and bearer tokens
    FUSIONSEG_TEST_CA, FUSIONSEG_TEST_CLIENT_CERT, FUSIONSEG_TEST_CLIENT_KEY   PEM files for it
    FUSIONSEG_TEST_TOKEN         a token it accepts
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path
from typing import Iterator

import grpc
import numpy as np
import numpy.typing as npt
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusionseg_client import (  # noqa: E402
    STUFF_ID_BASE,
    TRACKED_STUFF_ID_BASE,
    FusionsegClient,
    FusionsegError,
    LabelMap,
    MapDecodeError,
    connect,
    decode_map,
    decode_panoptic_png,
    decode_png,
    decode_raw,
    decode_rle,
    describe_panoptic_id,
    pb,
    stream_options,
    stuff_id_base,
    video_frames,
)

MODEL_WIDTH, MODEL_HEIGHT = 64, 32


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        if os.environ.get("FUSIONSEG_TEST_STRICT") == "1":
            pytest.fail(f"{name} is not set")
        pytest.skip(f"{name} is not set (test/clients/python-client.test.ts sets it)")
    return value


@pytest.fixture()
def client() -> Iterator[FusionsegClient]:
    with connect(_env("FUSIONSEG_TEST_SERVER")) as c:
        yield c


# --- decoding without a server ---------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_rle_decodes_multi_byte_varints_row_major() -> None:
    data = _varint(300) + _varint(5) + _varint(7) + _varint(1) + _varint(65535) + _varint(200)
    values = decode_rle(data, 103, 2, 2)
    assert values.dtype == np.uint16 and values.shape == (2, 103)
    flat = values.reshape(-1)
    assert (flat[:5] == 300).all() and flat[5] == 7 and (flat[6:] == 65535).all()


def test_rle_rejects_bad_data() -> None:
    with pytest.raises(MapDecodeError, match="covers 3 of 4"):
        decode_rle(_varint(1) + _varint(3), 2, 2, 1)
    with pytest.raises(MapDecodeError, match="more than 4"):
        decode_rle(_varint(1) + _varint(5), 2, 2, 1)
    with pytest.raises(MapDecodeError, match="inside a varint"):
        decode_rle(_varint(1) + b"\x80", 2, 2, 1)
    with pytest.raises(MapDecodeError, match="does not fit"):
        decode_rle(_varint(256) + _varint(4), 2, 2, 1)


def test_raw_is_little_endian() -> None:
    values = decode_raw(b"\x01\x02\x03\x04", 2, 1, 2)
    assert values.tolist() == [[0x0201, 0x0403]]
    with pytest.raises(MapDecodeError, match="needs 4 bytes"):
        decode_raw(b"\x01", 2, 1, 2)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(values: npt.NDArray[np.uint8] | npt.NDArray[np.uint16], filters: list[int]) -> bytes:
    """A PNG of `values`, row y filtered with filters[y] (0-4), as any PNG writer may do: greyscale for
    (height, width) arrays, 8-bit RGB for (height, width, 3) uint8 arrays."""
    height, width = values.shape[:2]
    colour = 2 if values.ndim == 3 else 0
    bpp = values.dtype.itemsize * (3 if colour == 2 else 1)
    rows = values.astype(values.dtype.newbyteorder(">")).view(np.uint8).reshape(height, width * bpp).astype(int)
    raw = bytearray()
    prior = np.zeros(width * bpp, dtype=int)
    for y in range(height):
        line = rows[y]
        left = np.concatenate([np.zeros(bpp, dtype=int), line[:-bpp]])
        upper_left = np.concatenate([np.zeros(bpp, dtype=int), prior[:-bpp]])
        kind = filters[y]
        if kind == 0:
            predicted = np.zeros_like(line)
        elif kind == 1:
            predicted = left
        elif kind == 2:
            predicted = prior
        elif kind == 3:
            predicted = (left + prior) // 2
        else:
            p = left + prior - upper_left
            pa, pb_, pc = abs(p - left), abs(p - prior), abs(p - upper_left)
            predicted = np.where((pa <= pb_) & (pa <= pc), left, np.where(pb_ <= pc, prior, upper_left))
        raw.append(kind)
        raw.extend(((line - predicted) % 256).astype(np.uint8).tobytes())
        prior = line
    header = struct.pack(">IIBBBBB", width, height, 8 * values.dtype.itemsize, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(raw))) + _chunk(b"IEND", b"")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_reader_handles_every_filter_and_depth(dtype: type[np.uint8] | type[np.uint16]) -> None:
    rng = np.random.default_rng(7)
    top = 255 if dtype == np.uint8 else 65535
    values = rng.integers(0, top + 1, size=(10, 13)).astype(dtype)
    decoded = decode_png(_png(values, [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]))
    assert decoded.dtype == dtype
    assert np.array_equal(decoded, values)


def test_png_reader_rejects_colour_and_corruption() -> None:
    values = np.zeros((2, 2), dtype=np.uint8)
    good = _png(values, [0, 0])
    assert np.array_equal(decode_png(good), values)
    with pytest.raises(MapDecodeError, match="bad CRC"):
        decode_png(good[:-5] + b"\x00" + good[-4:])
    with pytest.raises(MapDecodeError, match="signature"):
        decode_png(b"GIF89a")
    rgba = good.replace(_chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)),
                        _chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 6, 0, 0, 0)))
    with pytest.raises(MapDecodeError, match="colour type 6"):
        decode_png(rgba)
    rgb16 = good.replace(_chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)),
                         _chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0)))
    with pytest.raises(MapDecodeError, match="colour type 2, depth 16"):
        decode_png(rgb16)


# --- tracked maps: 24-bit track ids ----------------------------------------------------------------------

TRACK_IDS = np.array([[0, 1, 65535, 65536], [70000, 16776959, 0, 300]], dtype=np.uint32)


def test_tracked_raw_and_rle_maps_decode_to_uint32() -> None:
    raw = decode_raw(TRACK_IDS.astype("<u4").tobytes(), 4, 2, 4)
    assert raw.dtype == np.uint32 and np.array_equal(raw, TRACK_IDS)
    rle = b"".join(_varint(int(v)) + _varint(1) for v in TRACK_IDS.reshape(-1))
    decoded = decode_rle(rle, 4, 2, 4)
    assert decoded.dtype == np.uint32 and np.array_equal(decoded, TRACK_IDS)
    with pytest.raises(MapDecodeError, match="1, 2 or 4"):
        decode_raw(b"\x00" * 24, 4, 2, 3)


def test_tracked_png_map_is_rgb_with_24_bit_values() -> None:
    rgb = np.stack([(TRACK_IDS >> shift) & 0xFF for shift in (0, 8, 16)], axis=2).astype(np.uint8)
    png = _png(rgb, [0, 4])
    assert np.array_equal(decode_png(png), TRACK_IDS)
    encoded = pb.EncodedMap(encoding=pb.MAP_ENCODING_PNG, width=4, height=2, bytes_per_pixel=3, data=png)
    values = decode_map(encoded)
    assert values is not None and values.dtype == np.uint32 and np.array_equal(values, TRACK_IDS)
    assert np.array_equal(decode_panoptic_png(png), TRACK_IDS)
    grey = _png(np.zeros((2, 4), dtype=np.uint16), [0, 0])
    with pytest.raises(MapDecodeError, match="expected 4x2 with 3 byte"):
        decode_map(pb.EncodedMap(encoding=pb.MAP_ENCODING_PNG, width=4, height=2, bytes_per_pixel=3, data=grey))
    with pytest.raises(MapDecodeError, match="8-bit RGB"):
        decode_panoptic_png(grey)


def test_panoptic_ids_with_and_without_tracking() -> None:
    assert (STUFF_ID_BASE, TRACKED_STUFF_ID_BASE) == (65536, 16776960)
    assert stuff_id_base(False) == STUFF_ID_BASE and stuff_id_base(True) == TRACKED_STUFF_ID_BASE
    assert describe_panoptic_id(0) == ("void", 0)
    assert describe_panoptic_id(65536 + 13) == ("stuff", 13)
    assert describe_panoptic_id(65536 + 13, tracked=True) == ("instance", 65549)
    assert describe_panoptic_id(16776960 + 2, tracked=True) == ("stuff", 2)
    assert describe_panoptic_id(16776959, tracked=True) == ("instance", 16776959)


# --- against the real server -----------------------------------------------------------------------------


def _gradient(shift: int) -> npt.NDArray[np.uint8]:
    """A model-sized frame whose red rises along x: its semantic labels are floor(R / 16)."""
    red = (np.arange(MODEL_WIDTH) * 4 + shift * 16) % 256
    frame = np.zeros((MODEL_HEIGHT, MODEL_WIDTH, 3), dtype=np.uint8)
    frame[:, :, 0] = red[np.newaxis, :]
    frame[:, :, 1] = 90
    return frame


def _decoded(
    client: FusionsegClient, frames: list[npt.NDArray[np.uint8]], encoding: pb.MapEncoding
) -> list[tuple[LabelMap, LabelMap]]:
    options = stream_options(semantic_map=encoding, instance_map=encoding)
    out = []
    for result in client.stream_frames(frames, options, timeout=60):
        assert result.semantic.encoding == encoding and result.instance.encoding == encoding
        semantic, instance = decode_map(result.semantic), decode_map(result.instance)
        assert semantic is not None and instance is not None
        out.append((semantic, instance))
    return out


def test_raw_rle_and_png_maps_decode_to_the_same_arrays(client: FusionsegClient) -> None:
    frames = [_gradient(shift) for shift in range(4)]
    by_encoding = {
        name: _decoded(client, frames, encoding)
        for name, encoding in (("raw", pb.MAP_ENCODING_RAW), ("rle", pb.MAP_ENCODING_RLE), ("png", pb.MAP_ENCODING_PNG))
    }
    for index, frame in enumerate(frames):
        expected = (frame[:, :, 0] // 16).astype(np.uint8)
        for name, maps in by_encoding.items():
            semantic, instance = maps[index]
            assert semantic.dtype == np.uint8 and semantic.shape == (MODEL_HEIGHT, MODEL_WIDTH), name
            assert instance.dtype == np.uint16 and instance.shape == (MODEL_HEIGHT, MODEL_WIDTH), name
            assert np.array_equal(semantic, expected), f"{name} frame {index}"
            assert np.array_equal(instance, by_encoding["raw"][index][1]), f"{name} frame {index}"
    assert any(np.count_nonzero(instance) for _, instance in by_encoding["raw"]), "no instance pixels at all"


def test_numpy_frames_stream_in_order_with_their_sizes(client: FusionsegClient) -> None:
    sizes = [(64, 32), (128, 64), (96, 48), (64, 32), (200, 100)]
    frames = [np.full((h, w, 3), (16 * (i + 1), 50, 50), dtype=np.uint8) for i, (w, h) in enumerate(sizes)]
    options = stream_options(source_resolution=True)
    results = list(client.stream_frames(iter(frames), options, timeout=60))
    assert [r.frame_id for r in results] == list(range(len(frames)))
    assert [(r.source_width, r.source_height) for r in results] == sizes
    for i, result in enumerate(results):
        semantic = decode_map(result.semantic)
        assert semantic is not None and semantic.shape == (result.height, result.width)
        assert (result.width, result.height) == sizes[i]
        assert (semantic == i + 1).all(), f"frame {i}: {np.unique(semantic)}"


def test_a_bad_open_raises_invalid_argument(client: FusionsegClient) -> None:
    bad = stream_options()
    bad.output.semantic_map = 99  # type: ignore[assignment]  # an unknown enum value
    with pytest.raises(FusionsegError) as caught:
        list(client.stream_frames([_gradient(0)], bad, timeout=30))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "semantic_map" in caught.value.details or "semanticMap" in caught.value.details


def test_a_raw_frame_of_the_wrong_size_raises_invalid_argument(client: FusionsegClient) -> None:
    frame = pb.Frame(frame_id=1, raw=pb.RawFrame(width=10, height=10, rgb24=b"\x00" * 7))
    with pytest.raises(FusionsegError) as caught:
        list(client.stream_frames([frame], timeout=30))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_unknown_model_is_not_found(client: FusionsegClient) -> None:
    with pytest.raises(FusionsegError) as caught:
        client.model_info("no-such-model")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    info = client.model_info()
    assert (info.input_width, info.input_height) == (MODEL_WIDTH, MODEL_HEIGHT)


def test_a_bad_input_array_raises_its_own_error(client: FusionsegClient) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        list(client.stream_frames([np.zeros((4, 4), dtype=np.uint8)], timeout=30))


def test_large_raw_maps_need_the_raised_receive_limit() -> None:
    address = _env("FUSIONSEG_TEST_SERVER")
    frame = np.full((1080, 1920, 3), (80, 10, 10), dtype=np.uint8)
    options = stream_options(
        semantic_map=pb.MAP_ENCODING_RAW, instance_map=pb.MAP_ENCODING_RAW, source_resolution=True
    )
    with connect(address) as big:  # the client's default: 64 MiB
        (result,) = list(big.stream_frames([frame], options, timeout=60))
        assert result.ByteSize() > 4 * 1024 * 1024
        semantic = decode_map(result.semantic)
        assert semantic is not None and semantic.shape == (1080, 1920) and (semantic == 5).all()
    with connect(address, max_receive_message_length=4 * 1024 * 1024) as small:  # grpcio's default
        with pytest.raises(FusionsegError) as caught:
            list(small.stream_frames([frame], options, timeout=60))
        assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_video_through_ffmpeg_and_upload_give_every_frame(client: FusionsegClient) -> None:
    clip = _env("FUSIONSEG_TEST_CLIP")
    count = int(_env("FUSIONSEG_TEST_CLIP_FRAMES"))
    frames = list(video_frames(clip))
    assert len(frames) == count and frames[0].dtype == np.uint8 and frames[0].ndim == 3
    streamed = list(client.stream_video(clip, timeout=60))
    assert [r.index for r in streamed] == list(range(count))
    uploaded = list(client.process_video(clip, timeout=60))
    assert [r.index for r in uploaded] == list(range(count))
    assert uploaded[0].total_frames in (0, count)
    for a, b in zip(streamed, uploaded):
        assert (a.source_width, a.source_height) == (b.source_width, b.source_height) == frames[0].shape[1::-1]
        sa, sb = decode_map(a.semantic), decode_map(b.semantic)
        assert sa is not None and sb is not None and sa.shape == sb.shape == (MODEL_HEIGHT, MODEL_WIDTH)
    # ffmpeg scales on this side when asked: the server then gets model-sized frames.
    scaled = list(client.stream_video(clip, size=(MODEL_WIDTH, MODEL_HEIGHT), max_frames=2, timeout=60))
    assert [(r.source_width, r.source_height) for r in scaled] == [(MODEL_WIDTH, MODEL_HEIGHT)] * 2


def test_mutual_tls_and_bearer_token() -> None:
    address = _env("FUSIONSEG_TEST_TLS_SERVER")
    token = _env("FUSIONSEG_TEST_TOKEN")
    ca = _env("FUSIONSEG_TEST_CA")
    cert, key = _env("FUSIONSEG_TEST_CLIENT_CERT"), _env("FUSIONSEG_TEST_CLIENT_KEY")
    with connect(address, token=token, ca_cert=ca, client_cert=cert, client_key=key) as good:
        assert good.model_info(timeout=10).input_width == MODEL_WIDTH
        (result,) = list(good.stream_frames([_gradient(1)], timeout=30))
        assert result.frame_id == 0
    with connect(address, ca_cert=ca, client_cert=cert, client_key=key) as tokenless:
        with pytest.raises(FusionsegError) as caught:
            tokenless.model_info(timeout=10)
        assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    with connect(address, token=token, ca_cert=ca) as certless:
        with pytest.raises(FusionsegError) as caught:
            certless.model_info(timeout=10)
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def _tracked(
    client: FusionsegClient, frames: list[npt.NDArray[np.uint8]], encoding: pb.MapEncoding
) -> list[pb.FrameResult]:
    options = stream_options(
        semantic_map=encoding,
        instance_map=encoding,
        panoptic_png=True,
        tracking=pb.TrackingOptions(enabled=True),
    )
    return list(client.stream_frames(frames, options, timeout=60))


def test_tracked_frame_streams_give_track_ids_in_every_encoding(client: FusionsegClient) -> None:
    frames = [_gradient(0)] * 3 + [_gradient(1)] * 2
    untracked = list(client.stream_frames(frames[:1], stream_options(), timeout=60))
    assert not untracked[0].tracked  # frame streams are untracked by default
    by_encoding = {
        name: _tracked(client, frames, encoding)
        for name, encoding in (("raw", pb.MAP_ENCODING_RAW), ("rle", pb.MAP_ENCODING_RLE), ("png", pb.MAP_ENCODING_PNG))
    }
    seen_instances = False
    for name, results in by_encoding.items():
        assert [r.index for r in results] == list(range(len(frames))), name
        for result in results:
            assert result.tracked, name
            expected_bpp = 3 if name == "png" else 4
            assert result.instance.bytes_per_pixel == expected_bpp, name
            instance = decode_map(result.instance)
            semantic = decode_map(result.semantic)
            assert instance is not None and semantic is not None
            assert instance.dtype == np.uint32 and instance.shape == (MODEL_HEIGHT, MODEL_WIDTH), name
            raw = decode_map(by_encoding["raw"][result.index].instance)
            assert raw is not None and np.array_equal(instance, raw), f"{name} frame {result.index}"
            ids = {s.id for s in result.segments}
            assert all(s.track_id == s.id for s in result.segments), name
            assert set(np.unique(instance).tolist()) - {0} <= ids, name
            seen_instances = seen_instances or bool(ids)
            # The panoptic PNG: instance pixels carry their track id, stuff the tracked base + class.
            panoptic = decode_panoptic_png(result.panoptic_png)
            for segment_id in np.unique(panoptic).tolist():
                kind, value = describe_panoptic_id(int(segment_id), tracked=True)
                where = panoptic == segment_id
                if kind == "instance":
                    assert (instance[where] == value).all(), f"{name}: instance {value}"
                elif kind == "stuff":
                    assert (semantic[where] == value).all() and (instance[where] == 0).all(), f"{name}: class {value}"
    assert seen_instances, "no instances at all"
    # The same object keeps its id: the first frames are identical, so their ids are too.
    raw_results = by_encoding["raw"]
    first = sorted(s.id for s in raw_results[0].segments)
    assert first == sorted(s.id for s in raw_results[1].segments) == sorted(s.id for s in raw_results[2].segments)
    assert all(s.track_first_index == 0 for s in raw_results[2].segments)
    assert sorted(raw_results[0].tracks_born) == first


def test_uploads_are_tracked_by_default_and_can_switch_it_off(client: FusionsegClient) -> None:
    clip = _env("FUSIONSEG_TEST_CLIP")
    tracked = list(client.process_video(clip, stream_options(), max_frames=3, timeout=60))
    assert [r.tracked for r in tracked] == [True] * 3
    for result in tracked:
        instance = decode_map(result.instance)
        assert instance is not None and instance.dtype == np.uint32
    off = stream_options(tracking=pb.TrackingOptions(enabled=False))
    untracked = list(client.process_video(clip, off, max_frames=3, timeout=60))
    assert [r.tracked for r in untracked] == [False] * 3
    instance = decode_map(untracked[0].instance)
    assert instance is not None and instance.dtype == np.uint16
