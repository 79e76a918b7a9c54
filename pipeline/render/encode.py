"""Video and GIF encoding with the ffmpeg binary that `imageio-ffmpeg` ships.

Frames are streamed as raw RGB to ffmpeg's stdin from a writer thread, so
memory stays flat in the video's length and encoding (another process, the
second core) overlaps frame generation. The MP4 is H.264, ``yuv420p``,
BT.709-tagged, with ``+faststart`` (browser-playable); the GIF is made from
the MP4 in two passes (palettegen, paletteuse) and shrunk until it fits
under a byte cap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

CRF = 18
PRESET = "veryfast"
_COLOUR_TAGS = [
    "-colorspace",
    "bt709",
    "-color_primaries",
    "bt709",
    "-color_trc",
    "bt709",
    "-color_range",
    "tv",
]


class EncodingError(PipelineError):
    """ffmpeg failed; the message carries the end of its log."""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _tmp_sibling(path: Path) -> Path:
    """A temporary name beside `path` (same folder, so the final rename is atomic)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.part{path.suffix}")


class VideoWriter:
    """Streams RGB frames into an H.264 MP4.

    Args:
        path (Path): the MP4 to write; it appears only once complete.
        size (int): frame side in pixels (even).
        fps (int): frames per second.
        crf (int): x264 quality (lower is better; 18 is visually lossless).
        preset (str): x264 speed preset.
        queue_frames (int): frames buffered between the renderer and ffmpeg.
    """

    def __init__(
        self,
        path: Path,
        *,
        size: int,
        fps: int,
        crf: int = CRF,
        preset: str = PRESET,
        queue_frames: int = 8,
    ) -> None:
        self.path = Path(path)
        self.size = size
        self.fps = fps
        self.frames = 0
        self.write_seconds = 0.0  # time the writer thread spent handing frames to ffmpeg
        self._tmp = _tmp_sibling(self.path)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - ffmpeg's log; closed in close()/abort()
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size}x{size}", "-framerate", str(fps), "-i", "-",
            "-an", "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            *_COLOUR_TAGS, "-movflags", "+faststart", "-f", "mp4", str(self._tmp),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log
        )
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_frames)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._pump, name="ffmpeg-writer", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self._proc.stdin is not None
        while True:
            item = self._queue.get()
            if item is None:
                break
            if self._error is not None:
                continue  # drain so the producer never blocks
            t0 = time.perf_counter()
            try:
                self._proc.stdin.write(item)
            except (BrokenPipeError, OSError) as exc:
                self._error = exc
            self.write_seconds += time.perf_counter() - t0

    def write(self, frame: np.ndarray) -> None:
        """Queue one [size, size, 3] uint8 RGB frame."""
        if self._error is not None:
            raise EncodingError(f"ffmpeg stopped while encoding {self.path}: {self._ffmpeg_log()}")
        if frame.shape != (self.size, self.size, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be [{self.size}, {self.size}, 3] uint8, got {frame.shape} {frame.dtype}"
            )
        self._queue.put(np.ascontiguousarray(frame).tobytes())
        self.frames += 1

    def close(self) -> None:
        """Flush, wait for ffmpeg and move the finished file into place.

        Raises:
            EncodingError: ffmpeg failed (its log is in the message).
        """
        self._queue.put(None)
        self._thread.join()
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        rc = self._proc.wait()
        if rc != 0 or self._error is not None:
            self._cleanup()
            raise EncodingError(
                f"ffmpeg could not encode {self.path} (exit {rc}): {self._ffmpeg_log()}"
            )
        os.replace(self._tmp, self.path)
        self._log.close()

    def abort(self) -> None:
        """Stop ffmpeg and remove the partial file."""
        self._error = self._error or RuntimeError("aborted")
        self._proc.kill()
        self._proc.wait()
        self._queue.put(None)  # the writer thread drains the queue once the pipe is broken
        self._thread.join(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        self._tmp.unlink(missing_ok=True)
        self._log.close()

    def _ffmpeg_log(self) -> str:
        try:
            self._log.seek(0)
            return self._log.read().decode("utf-8", "replace").strip()[-800:] or "no message"
        except (OSError, ValueError):
            return "no message"

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        raise EncodingError(f"ffmpeg could not {what}: {proc.stderr.strip()[-800:]}")
    return proc.stderr


@dataclass
class GifResult:
    """What `encode_gif` wrote: the settings of the last attempt and the size."""

    path: Path | None
    side: int
    fps: int
    bytes: int
    attempts: int
    under_cap: bool

    def to_json(self) -> dict:
        return {
            "path": str(self.path) if self.path else None,
            "side": self.side,
            "fps": self.fps,
            "bytes": self.bytes,
            "attempts": self.attempts,
            "under_cap": self.under_cap,
        }


def encode_gif(
    source: Path,
    gif: Path,
    *,
    max_bytes: int,
    side: int,
    fps: int,
    min_side: int = 96,
    min_fps: int = 6,
) -> GifResult:
    """Make a palette-optimised, looping GIF from a video, shrinking it until it fits `max_bytes`.

    Each try that is too large scales the side (and below ~160 px the frame
    rate) down by the square root of the overshoot. When even the smallest
    setting is too large, no GIF is written and `under_cap` is False.
    """
    exe = ffmpeg_exe()
    tmp = _tmp_sibling(Path(gif))
    attempts = 0
    size = 0
    with tempfile.TemporaryDirectory(prefix="timelapse-gif-") as work:
        palette = Path(work) / "palette.png"
        while True:
            attempts += 1
            side = max(min_side, side - side % 2)
            chain = f"fps={fps},scale={side}:{side}:flags=lanczos"
            _run([exe, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                  "-vf", f"{chain},palettegen=max_colors=256:stats_mode=diff", str(palette)], "make the GIF palette")  # fmt: skip
            _run([exe, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-i", str(palette),
                  "-lavfi", f"{chain}[x];[x][1:v]paletteuse=dither=bayer:bayer_scale=4:diff_mode=rectangle",
                  "-loop", "0", "-f", "gif", str(tmp)], "write the GIF")  # fmt: skip
            size = tmp.stat().st_size
            if size <= max_bytes:
                os.replace(tmp, gif)
                return GifResult(Path(gif), side, fps, size, attempts, True)
            if side <= min_side and fps <= min_fps:
                tmp.unlink(missing_ok=True)
                log.warning(
                    "GIF still %d bytes at %d px, %d fps: over the %d byte cap, not written",
                    size,
                    side,
                    fps,
                    max_bytes,
                )
                return GifResult(None, side, fps, size, attempts, False)
            shrink = (max_bytes / size) ** 0.5 * 0.92
            if side > 160 or fps <= min_fps:
                side = max(min_side, int(side * shrink))
            else:
                fps = max(min_fps, int(fps * shrink * shrink))


@dataclass
class VideoInfo:
    """What ffmpeg reports about a video file."""

    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    duration: float
    frames: int


def probe(path: Path, *, decode: bool = False) -> VideoInfo:
    """Codec, pixel format, size, frame rate, duration and frame count of a video.

    Args:
        path (Path): the video.
        decode (bool): count frames by decoding every one (slow, exact);
            otherwise count the stream's packets (fast).
    """
    exe = ffmpeg_exe()
    mode = [] if decode else ["-c", "copy"]
    err = _run(
        [
            exe,
            "-hide_banner",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            *mode,
            "-f",
            "null",
            "-",
        ],
        f"read {path}",
    )
    stream = re.search(
        r"Stream #\d+:\d+[^:]*: Video: (\w+)[^,]*, (\w+)[^,]*(?:\([^)]*\))?, (\d+)x(\d+)", err
    )
    if not stream:
        raise EncodingError(f"{path}: no video stream found")
    fps_m = re.search(r"([\d.]+) fps", err)
    dur_m = re.search(r"Duration: (\d+):(\d+):([\d.]+)", err)
    frames_m = re.findall(r"frame=\s*(\d+)", err)
    duration = (
        int(dur_m.group(1)) * 3600 + int(dur_m.group(2)) * 60 + float(dur_m.group(3))
        if dur_m
        else 0.0
    )
    return VideoInfo(
        codec=stream.group(1),
        pix_fmt=stream.group(2),
        width=int(stream.group(3)),
        height=int(stream.group(4)),
        fps=float(fps_m.group(1)) if fps_m else 0.0,
        duration=duration,
        frames=int(frames_m[-1]) if frames_m else 0,
    )


def read_frames(path: Path, size: int) -> np.ndarray:
    """Decode every frame of a square video to [N, size, size, 3] uint8 RGB (tests, small videos)."""
    proc = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
    )
    if proc.returncode != 0:
        raise EncodingError(
            f"ffmpeg could not decode {path}: {proc.stderr.decode(errors='replace')[-800:]}"
        )
    return np.frombuffer(proc.stdout, np.uint8).reshape(-1, size, size, 3)
