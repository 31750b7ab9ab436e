"""A small typed client of fusionseg.v1.SegmentationService on top of the generated stubs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import grpc
import numpy as np
import numpy.typing as npt

from fusionseg.v1 import segmentation_pb2 as pb
from fusionseg.v1 import segmentation_pb2_grpc as pb_grpc

__all__ = [
    "DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH",
    "DEFAULT_MAX_SEND_MESSAGE_LENGTH",
    "FusionsegClient",
    "FusionsegError",
    "VideoFrames",
    "VideoInputError",
    "connect",
    "stream_options",
    "video_frames",
]

# grpcio refuses received messages over 4 MiB by default; a RAW instance map at 1920x1080 with
# source_resolution alone is 4.1 MB (6.2 MB with the semantic map). 64 MiB is twice the server's own
# 32 MiB message limit, so no result the server can send is refused.
DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH = 64 * 1024 * 1024
# The server accepts messages up to 32 MiB (a raw 4096x2160 RGB frame is 26.5 MB).
DEFAULT_MAX_SEND_MESSAGE_LENGTH = 32 * 1024 * 1024

PathLike = Union[str, "os.PathLike[str]"]
RgbFrame = npt.NDArray[np.uint8]
FrameInput = Union[RgbFrame, pb.Frame]


class FusionsegError(Exception):
    """A call ended with a gRPC status other than OK: ``code`` (grpc.StatusCode) and ``details``."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "FusionsegError":
        call = error if isinstance(error, grpc.Call) else None
        code = call.code() if call is not None else grpc.StatusCode.UNKNOWN
        details = (call.details() if call is not None else None) or str(error)
        return cls(code, details)


class VideoInputError(RuntimeError):
    """ffmpeg or ffprobe could not read a local video (raised by video_frames and stream_video)."""


def _read(path_or_bytes: Union[PathLike, bytes, None]) -> Optional[bytes]:
    if path_or_bytes is None or isinstance(path_or_bytes, bytes):
        return path_or_bytes
    return Path(path_or_bytes).read_bytes()


def connect(
    address: str,
    *,
    token: Optional[str] = None,
    ca_cert: Union[PathLike, bytes, None] = None,
    client_cert: Union[PathLike, bytes, None] = None,
    client_key: Union[PathLike, bytes, None] = None,
    tls: Optional[bool] = None,
    server_name: Optional[str] = None,
    max_receive_message_length: int = DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
    max_send_message_length: int = DEFAULT_MAX_SEND_MESSAGE_LENGTH,
) -> "FusionsegClient":
    """Opens a channel to ``address`` (host:port).

    TLS is used when ``tls`` is true or any of ``ca_cert`` (a PEM file or bytes; the system's roots when
    absent), ``client_cert`` + ``client_key`` (mutual TLS) is given; otherwise the channel is plaintext.
    ``token`` is sent as ``authorization: Bearer <token>`` on every call. ``server_name`` overrides the
    name the server's certificate is checked against. ``max_receive_message_length`` raises grpcio's 4 MiB
    default receive limit (see README: receive-size note).
    """
    options: list[tuple[str, Union[int, str]]] = [
        ("grpc.max_receive_message_length", max_receive_message_length),
        ("grpc.max_send_message_length", max_send_message_length),
    ]
    if (client_cert is None) != (client_key is None):
        raise ValueError("client_cert and client_key go together")
    use_tls = tls if tls is not None else any(x is not None for x in (ca_cert, client_cert, client_key))
    if use_tls:
        if server_name is not None:
            options.append(("grpc.ssl_target_name_override", server_name))
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(ca_cert),
            private_key=_read(client_key),
            certificate_chain=_read(client_cert),
        )
        channel = grpc.secure_channel(address, credentials, options=options)
    else:
        channel = grpc.insecure_channel(address, options=options)
    return FusionsegClient(channel, token=token)


def stream_options(
    *,
    semantic_map: pb.MapEncoding = pb.MAP_ENCODING_RLE,
    instance_map: pb.MapEncoding = pb.MAP_ENCODING_RLE,
    segments: bool = True,
    source_resolution: bool = False,
    panoptic_png: bool = False,
    detections: bool = False,
    model: str = "",
    fusion: Optional[pb.FusionOptions] = None,
    overload: pb.OverloadPolicy = pb.OVERLOAD_POLICY_UNSPECIFIED,
    tracking: Optional[pb.TrackingOptions] = None,
) -> pb.StreamOptions:
    """StreamOptions with both maps in the given encodings (RLE by default) and the server's fusion defaults.

    ``tracking`` (e.g. ``pb.TrackingOptions(enabled=True, iou_threshold=0.3, max_age=10)``) overrides the
    server's tracking defaults: on for process_video and stream_encoded_video, off for stream_frames and
    stream_video. Tracked results (``result.tracked``) carry track ids as segment ids, and their instance
    maps decode to uint32."""
    output = pb.OutputOptions(
        semantic_map=semantic_map,
        instance_map=instance_map,
        segments=segments,
        source_resolution=source_resolution,
        panoptic_png=panoptic_png,
        detections=detections,
    )
    options = pb.StreamOptions(model=model, output=output, overload=overload)
    if fusion is not None:
        options.fusion.CopyFrom(fusion)
    if tracking is not None:
        options.tracking.CopyFrom(tracking)
    return options


def _ffmpeg() -> str:
    return os.environ.get("FFMPEG_PATH") or shutil.which("ffmpeg") or "ffmpeg"


def _ffprobe() -> str:
    return os.environ.get("FFPROBE_PATH") or shutil.which("ffprobe") or "ffprobe"


def _probe_size(path: PathLike) -> tuple[int, int]:
    try:
        probe = subprocess.run(
            [_ffprobe(), "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height"]
            + ["-of", "csv=p=0:s=x", os.fspath(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        raise VideoInputError(f"cannot run ffprobe ({error}); install ffmpeg or set FFPROBE_PATH") from error
    fields = probe.stdout.strip().splitlines()[0].split("x") if probe.stdout.strip() else []
    if probe.returncode != 0 or len(fields) < 2:
        raise VideoInputError(f"ffprobe cannot read {os.fspath(path)}: {probe.stderr.strip()[-500:]}")
    return int(fields[0]), int(fields[1])


class VideoFrames:
    """HxWx3 uint8 RGB frames of a local video, decoded by an ffmpeg subprocess writing raw rgb24.

    An iterator; close() (or leaving a ``with`` block) stops ffmpeg, and may be called from another
    thread than the one iterating. Iteration raises VideoInputError when ffmpeg fails.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        size: Optional[tuple[int, int]] = None,
        fps: Optional[float] = None,
        max_frames: Optional[int] = None,
    ) -> None:
        self.path = os.fspath(path)
        self.width, self.height = size if size is not None else _probe_size(path)
        filters = [f"fps={fps}"] if fps else []
        if size is not None:
            filters.append(f"scale={self.width}:{self.height}")
        args = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", self.path]
        args += ["-vf", ",".join(filters)] if filters else []
        args += ["-frames:v", str(max_frames)] if max_frames else []
        args += ["-an", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        self._stderr = tempfile.TemporaryFile()
        self._closed = False
        self._lock = threading.Lock()
        try:
            self._process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr)
        except OSError as error:
            self._stderr.close()
            raise VideoInputError(f"cannot run ffmpeg ({error}); install ffmpeg or set FFMPEG_PATH") from error

    def __iter__(self) -> "VideoFrames":
        return self

    def __next__(self) -> RgbFrame:
        frame_bytes = self.width * self.height * 3
        stdout = self._process.stdout
        try:
            data = stdout.read(frame_bytes) if stdout is not None and not self._closed else b""
        except ValueError:  # closed by another thread meanwhile
            data = b""
        if len(data) == frame_bytes:
            return np.frombuffer(data, dtype=np.uint8).reshape(self.height, self.width, 3)
        code = self._process.wait()
        if code != 0 and not self._closed:
            self._stderr.seek(0)
            message = self._stderr.read().decode("utf-8", "replace").strip()[-500:]
            self.close()
            raise VideoInputError(f"ffmpeg failed on {self.path} (exit {code}): {message}")
        self.close()
        raise StopIteration

    def close(self) -> None:
        """Stops ffmpeg (if it still runs) and releases its pipes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> "VideoFrames":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def video_frames(
    path: PathLike,
    *,
    size: Optional[tuple[int, int]] = None,
    fps: Optional[float] = None,
    max_frames: Optional[int] = None,
) -> VideoFrames:
    """Decodes a local video with ffmpeg (a subprocess writing raw rgb24) into HxWx3 uint8 frames.

    ``size`` (width, height) scales the frames; by default they keep the video's size (read with ffprobe).
    ``fps`` resamples the frame rate; ``max_frames`` stops early. FFMPEG_PATH / FFPROBE_PATH override the
    binaries found on PATH. Raises VideoInputError when ffmpeg or ffprobe fails.
    """
    return VideoFrames(path, size=size, fps=fps, max_frames=max_frames)


def _frame_request(index: int, frame: FrameInput) -> pb.FrameRequest:
    if isinstance(frame, pb.Frame):
        return pb.FrameRequest(frame=frame)
    array = np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"a frame must be an HxWx3 uint8 RGB array, got shape {array.shape} {array.dtype}")
    height, width = array.shape[0], array.shape[1]
    raw = pb.RawFrame(width=width, height=height, rgb24=np.ascontiguousarray(array).tobytes())
    return pb.FrameRequest(frame=pb.Frame(frame_id=index, pts=index, raw=raw))


class _Requests:
    """A request iterator that remembers an exception of its source (grpcio would only say CANCELLED)."""

    def __init__(self, requests: Iterator[pb.FrameRequest] | Iterator[pb.VideoRequest]) -> None:
        self._requests = requests
        self.error: Optional[BaseException] = None
        self._lock = threading.Lock()

    def __iter__(self) -> "_Requests":
        return self

    def __next__(self) -> object:
        try:
            return next(self._requests)
        except StopIteration:
            raise
        except BaseException as error:
            with self._lock:
                self.error = error
            raise


class FusionsegClient:
    """A connection to a fusionseg server; make one with :func:`connect`. Use as a context manager or close()."""

    def __init__(self, channel: grpc.Channel, *, token: Optional[str] = None) -> None:
        self.channel = channel
        self.stub = pb_grpc.SegmentationServiceStub(channel)  # type: ignore[no-untyped-call]
        self._metadata: Sequence[tuple[str, str]] = (("authorization", f"Bearer {token}"),) if token else ()

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "FusionsegClient":
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def model_info(self, model: str = "", *, timeout: Optional[float] = 30.0) -> pb.ModelInfo:
        """GetModelInfo: the model, its label space, devices and batching settings."""
        try:
            info: pb.ModelInfo = self.stub.GetModelInfo(
                pb.GetModelInfoRequest(model=model), timeout=timeout, metadata=self._metadata
            )
            return info
        except grpc.RpcError as error:
            raise FusionsegError.from_rpc_error(error) from None

    def _results(self, call: Any, requests: _Requests) -> Iterator[pb.FrameResult]:
        try:
            for result in call:
                yield result
        except grpc.RpcError as error:
            if requests.error is not None:
                raise requests.error
            raise FusionsegError.from_rpc_error(error) from None
        finally:
            call.cancel()  # a no-op once the call has ended; stops it when the caller stops early
        if requests.error is not None:
            raise requests.error

    def stream_frames(
        self,
        frames: Iterable[FrameInput],
        options: Optional[pb.StreamOptions] = None,
        *,
        timeout: Optional[float] = None,
    ) -> Iterator[pb.FrameResult]:
        """StreamFrames with raw frames: each item is an HxWx3 uint8 RGB array (frame_id and pts = its
        index) or a ready ``Frame`` message (raw, JPEG or PNG). Yields one FrameResult per frame, in order;
        raises FusionsegError when the call ends with an error status. ``timeout`` is the call's deadline in
        seconds (None: no deadline)."""

        def requests() -> Iterator[pb.FrameRequest]:
            opened = options if options is not None else stream_options()
            yield pb.FrameRequest(open=pb.OpenStream(options=opened, input=pb.INPUT_KIND_FRAMES))
            for index, frame in enumerate(frames):
                yield _frame_request(index, frame)

        source = _Requests(requests())
        call = self.stub.StreamFrames(source, timeout=timeout, metadata=self._metadata)
        return self._results(call, source)

    def stream_video(
        self,
        path: PathLike,
        options: Optional[pb.StreamOptions] = None,
        *,
        size: Optional[tuple[int, int]] = None,
        fps: Optional[float] = None,
        max_frames: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> Iterator[pb.FrameResult]:
        """Decodes a local video with ffmpeg (raw rgb24, see :func:`video_frames`) and streams its frames
        with StreamFrames, as a camera client would."""
        frames = video_frames(path, size=size, fps=fps, max_frames=max_frames)
        try:
            yield from self.stream_frames(frames, options, timeout=timeout)
        finally:
            frames.close()  # stops ffmpeg when the caller stops early or the call fails (any thread)

    def stream_encoded_video(
        self,
        path: PathLike,
        options: Optional[pb.StreamOptions] = None,
        *,
        container_format: str = "",
        chunk_size: int = 64 * 1024,
        timeout: Optional[float] = None,
    ) -> Iterator[pb.FrameResult]:
        """StreamFrames with ``INPUT_KIND_ENCODED_VIDEO``: the file's bytes in chunks, decoded by the server."""

        def requests() -> Iterator[pb.FrameRequest]:
            opened = options if options is not None else stream_options()
            yield pb.FrameRequest(
                open=pb.OpenStream(options=opened, input=pb.INPUT_KIND_ENCODED_VIDEO, container_format=container_format)
            )
            with open(path, "rb") as file:
                while chunk := file.read(chunk_size):
                    yield pb.FrameRequest(video_chunk=pb.VideoChunk(data=chunk))

        source = _Requests(requests())
        call = self.stub.StreamFrames(source, timeout=timeout, metadata=self._metadata)
        return self._results(call, source)

    def process_video(
        self,
        path: PathLike,
        options: Optional[pb.StreamOptions] = None,
        *,
        container_format: str = "",
        fps: float = 0.0,
        start_time: float = 0.0,
        max_frames: int = 0,
        chunk_size: int = 64 * 1024,
        timeout: Optional[float] = None,
    ) -> Iterator[pb.FrameResult]:
        """ProcessVideo with an upload of the local file ``path`` (the server decodes it). ``fps`` samples
        (0 keeps every frame), ``start_time`` seeks, ``max_frames`` stops early (0: no limit)."""
        size_bytes = os.path.getsize(path)

        def requests() -> Iterator[pb.VideoRequest]:
            opened = options if options is not None else stream_options()
            upload = pb.UploadSource(container_format=container_format, size_bytes=size_bytes)
            yield pb.VideoRequest(
                open=pb.OpenVideo(
                    options=opened, upload=upload, fps=fps, start_time=start_time, max_frames=max_frames
                )
            )
            with open(path, "rb") as file:
                while chunk := file.read(chunk_size):
                    yield pb.VideoRequest(chunk=pb.VideoChunk(data=chunk))

        source = _Requests(requests())
        call = self.stub.ProcessVideo(source, timeout=timeout, metadata=self._metadata)
        return self._results(call, source)

