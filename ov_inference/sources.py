"""Frames from an image, a folder of images, a video file, a stream URL or a camera, as :class:`Frame` records.

A frame that cannot be read (a corrupt image among many) becomes a record with ``image=None`` and ``error`` naming
the path, and the rest go on; a source that cannot be opened at all (missing path, a camera that does not open,
a video OpenCV cannot read) raises :class:`SourceError` at :func:`open_source`. A video that stops before its
announced frame count keeps what was read and sets ``ended_early``.
"""
from __future__ import annotations

import contextlib
import glob
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence, Union

import cv2
import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "LISTED_EXTENSIONS", "image_files", "list_images", "natural_order", "VIDEO_EXTENSIONS",
           "MAX_CAMERA_ID", "Frame", "SourceError", "FrameSource", "ImageSource", "VideoSource", "open_source",
           "read_image", "read_annotated_image",
           "is_stream_url", "is_glob", "glob_images", "is_sequence", "sequence_images", "redact_url"]

log = logging.getLogger(__name__)

#: Suffixes of image files (compared in lower case); ``.jfif`` / ``.jpe``: JPEGs as Windows browsers save them
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm",
                              ".pgm", ".pbm", ".jp2", ".exr", ".hdr", ".pfm", ".sr", ".ras", ".pxm", ".pnm"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
                              ".mjpeg", ".mjpg", ".3gp", ".ts", ".gif"})

#: Suffixes listed from a folder or a glob: the images, and GIFs, read there as one picture (their first frame: a
#: static GIF among photos); a GIF given alone is read as a video (every frame)
LISTED_EXTENSIONS = IMAGE_EXTENSIONS | {".gif"}

SourceSpec = Union[str, int, Path, Sequence[Union[str, Path]]]

#: Largest camera id accepted: OpenCV takes a C int (ids may carry a backend, e.g. 200 = V4L2 camera 0).
MAX_CAMERA_ID = 2 ** 31 - 1


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Stream protocols that deliver frames in real time (an IP camera): read in live mode unless told otherwise.
LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "srt", "tcp"})


def is_stream_url(spec: object) -> bool:
    """Whether ``spec`` is a URL for OpenCV's FFmpeg backend (``rtsp://camera/stream``, ``http://host/clip.mp4``)."""
    return isinstance(spec, str) and bool(_URL.match(spec.strip()))


_SECRET_QUERY = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass|token|access_token|key|apikey|api_key|secret|"
                           r"auth|signature|sig)=)[^&;#]*")


def redact_url(url: str) -> str:
    """``url`` (spaces around it dropped) with the password of ``scheme://user:password@host`` (an ``@`` inside
    the password included) and the values of query parameters such as ``password=`` or ``token=`` replaced by
    ``***``: records and logs keep no camera credentials."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return f"{scheme}://{netloc}{_SECRET_QUERY.sub(lambda m: m.group(1) + '***', tail)}"


class SourceError(OSError):
    """A frame source that cannot be opened at all (missing path, camera that does not open, unreadable video)."""


@dataclass
class Frame:
    """One frame of a source.

    ``index``: 0-based position in the source; ``source``: the image path, the video path or ``camera:N``;
    ``image``: ``[H, W, 3]`` uint8 BGR, or ``None`` when it could not be read (``error`` says why);
    ``timestamp``: seconds: the position in a video file; for a live source (a camera, a live stream) the capture
    time on a monotonic clock, counted from the moment the source was opened (not wall-clock time: a system clock
    set by NTP or for daylight saving does not make it jump); 0 for images.
    """

    index: int
    source: str
    image: np.ndarray | None
    error: str | None = None
    timestamp: float = 0.0

    @property
    def ok(self) -> bool:
        return self.image is not None


def read_image(path: str | Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Read an image file as ``[H, W, 3]`` uint8 BGR (any path, unicode included), turned upright by its EXIF
    orientation as OpenCV does (``flags``: ``cv2.imdecode`` flags; add ``cv2.IMREAD_IGNORE_ORIENTATION`` for the
    stored pixels). Raises ``ValueError`` naming the path when it cannot be read or decoded."""
    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    try:
        image = cv2.imdecode(data, flags) if data.size else None
    except cv2.error as exc:  # e.g. a header announcing more pixels than OpenCV's limit
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot decode image {path} ({data.size} bytes): {reason}") from None
    if image is None:
        raise ValueError(f"cannot decode image {path} ({data.size} bytes): not an image or corrupt")
    return image


#: Relative difference of width/height ratios above which an image resized to its annotation's size is warned of
ASPECT_TOLERANCE = 0.02


def read_annotated_image(path: str | Path, width: int, height: int) -> np.ndarray:
    """:func:`read_image`, in the ``width`` x ``height`` pixels its COCO annotation gives: keypoints, masks and
    detections are in the annotation's pixels. A file whose EXIF orientation turns it away from that size (a photo
    annotated as stored, e.g. 640x480 stored with a 'rotate 90' tag) is read as stored, without the turn; a file of
    another size (a resized copy of a dataset's images) is resized to it, with a warning when its aspect ratio
    differs (the annotation then does not line up with the picture). Raises ``ValueError`` as :func:`read_image`."""
    image = read_image(path)
    if image.shape[:2] == (height, width):
        return image
    stored = read_image(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if stored.shape[:2] == (height, width):
        log.debug("image %s: its EXIF orientation turns it away from the annotation's %dx%d; read as stored",
                  path, width, height)
        return stored
    got = image.shape[1] / image.shape[0]
    if abs(got / (width / height) - 1) > ASPECT_TOLERANCE:
        log.warning("image %s is %dx%d, its annotation says %dx%d (another aspect ratio): resized to the "
                    "annotation's size, but its keypoints and masks may not line up with the picture",
                    path, image.shape[1], image.shape[0], width, height)
    else:
        log.debug("image %s is %dx%d, annotation says %dx%d: resized to the annotation's size (its keypoints "
                  "and masks are in those pixels)", path, image.shape[1], image.shape[0], width, height)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV's own log (backends' WARN / ERROR lines) silenced inside the block."""
    logging_api = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_api is None:  # pragma: no cover - builds without cv2.utils.logging
        yield
        return
    previous = logging_api.getLogLevel()
    logging_api.setLogLevel(logging_api.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_api.setLogLevel(previous)


class FrameSource:
    """Iterable of :class:`Frame` records. ``live``: frames come at the camera's pace (drop, do not queue);
    ``length``: the number of frames when known (``None`` for cameras); ``fps``: frames per second when known;
    ``sequence``: the frames are one scene in order (a video, a camera, an image sequence pattern), so tracking and
    smoothing apply, not unrelated photos."""

    live: bool = False
    sequence: bool = False
    length: int | None = None
    fps: float | None = None
    name: str = ""
    #: ``(width, height)`` of the frames when known before reading them (videos, cameras), else ``None``
    frame_size: tuple[int, int] | None = None

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the underlying device or file."""

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageSource(FrameSource):
    """Image files, in the given order; unreadable ones become error records. ``sequence``: they are the frames of a
    video (an image sequence pattern), not unrelated photos; their frame rate is unknown (``fps`` ``None``)."""

    def __init__(self, paths: Iterable[str | Path], name: str = "images", sequence: bool = False):
        self.paths = [Path(p) for p in paths]
        self.length = len(self.paths)
        self.name = name
        self.sequence = sequence
        self._first: tuple[np.ndarray | None, str | None] | None = None  # (image, error) read by frame_size

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """``(width, height)`` of the first image, so the model compiles for it alone (decoded once: the iteration
        uses the same pixels); ``None`` when there is none or it cannot be read."""
        if not self.paths:
            return None
        if self._first is None:
            self._first = self._read(self.paths[0])
        image = self._first[0]
        return None if image is None else (int(image.shape[1]), int(image.shape[0]))

    @staticmethod
    def _read(path: Path) -> tuple[np.ndarray | None, str | None]:
        try:
            return read_image(path), None
        except ValueError as exc:
            return None, str(exc)

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            if index == 0 and self._first is not None:  # decoded by frame_size: used once, then released
                (image, error), self._first = self._first, None
            else:
                image, error = self._read(path)
            if error is not None:
                log.warning("%s", error)
            yield Frame(index, str(path), image, error)


class VideoSource(FrameSource):
    """Frames of a video file, a stream URL or a camera (through ``cv2.VideoCapture``).

    ``live``: ``None`` picks live mode for a camera and for a stream URL that announces no frame count (an IP
    camera's RTSP or HTTP MJPEG stream), ordered mode for a file (or a URL of a file).

    After iterating to the end: ``frames_read`` counts the frames delivered; ``ended_early`` is set when a source
    stopped before its announced frame count, when a live source announcing none (a camera, a live stream: they do
    not end) stopped delivering frames by itself, or when no frame at all could be read; ``error`` then says what
    happened for a live source, or for a video that delivered no frame (``None`` otherwise); ``warning`` says it for
    a source that delivered frames and then ended early (``None`` otherwise). A source that delivered every frame
    it announced ended normally, even read live. Stopping the iteration early (``--max-frames``) sets none of them.
    """

    sequence = True

    def __init__(self, target: str | int, live: bool | None = None):
        self.target = target
        url = is_stream_url(target)
        self.live = isinstance(target, int) if live is None else live
        self.name = f"camera:{target}" if isinstance(target, int) else redact_url(str(target)) if url else str(target)
        if isinstance(target, int) and not 0 <= target <= MAX_CAMERA_ID:
            raise SourceError(f"no camera id {target}: camera ids are 0, 1, 2, ... (at most {MAX_CAMERA_ID}); "
                              "list devices with `v4l2-ctl --list-devices` on Linux")
        try:
            with _quiet_opencv():  # a missing camera makes every backend log its attempt; the error below says it all
                self.capture = cv2.VideoCapture(target)
        except cv2.error as exc:
            what = f"camera {target}" if isinstance(target, int) else f"video {self.name}"
            raise SourceError(f"cannot open {what}: OpenCV refused it ({str(exc).strip().splitlines()[0]})") from exc
        if not self.capture.isOpened():
            self.capture.release()
            if isinstance(target, int):
                raise SourceError(f"cannot open camera {target}: no such device, no permission, or in use "
                                  "(list devices with `v4l2-ctl --list-devices` on Linux)")
            if url:
                raise SourceError(f"cannot open stream {self.name}: unreachable, refused, or a format OpenCV's "
                                  "FFmpeg backend cannot read")
            raise SourceError(f"cannot open video {target}: OpenCV has no decoder for it, or it is not a video")
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if url and live is None:
            scheme = str(target).split("://", 1)[0].lower()
            self.live = scheme in LIVE_SCHEMES or count <= 0
        self.announced = count if count > 0 else None  # frames the container says it holds
        self.length = None if self.live else self.announced
        fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if math.isfinite(fps) and fps > 0 else None  # inf / NaN / 0: unknown
        size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
                                                                          or 0))
        self.frame_size = size if min(size) > 0 else None
        self.frames_read = 0
        self._opened_at = time.perf_counter()  # origin of live timestamps (seconds)
        self.ended_early = False
        self.error: str | None = None
        self.warning: str | None = None

    def __iter__(self) -> Iterator[Frame]:
        index, failure = 0, None
        try:
            while True:
                try:
                    ok, image = self.capture.read()
                except cv2.error as exc:
                    ok, image, failure = False, None, str(exc).strip().splitlines()[0]
                if not ok or image is None:
                    break
                yield Frame(index, self.name, image, timestamp=self._timestamp())
                index += 1
        finally:
            self.frames_read = index
        # reached only when the capture stopped by itself (not when the consumer stopped reading)
        why = f" ({failure})" if failure else ""
        if index == 0:
            self.ended_early = True
            self.error = (f"{self.name} opened but delivered no frame{why}" if self.live else
                          f"video {self.name} opened but no frame could be read from it{why}")
            log.error("%s", self.error)
        elif self.live and (self.announced is None or index < self.announced):
            self.ended_early = True
            self.error = f"{self.name} stopped delivering frames after {index} frame(s){why}"
            self.warning = f"{self.error} (the frames received are kept)"
            log.warning("%s", self.warning)
        elif self.announced is not None and index < self.announced:
            self.ended_early = True
            self.warning = (f"video {self.name} ended early: {index} of {self.announced} announced frames read "
                            f"(the frames read are kept){why}")
            log.warning("%s", self.warning)

    def _timestamp(self) -> float:
        """Seconds of the frame just read: for a live source, since it was opened (monotonic clock, immune to system
        clock changes); else its position in the video (``CAP_PROP_POS_MSEC``)."""
        if self.live:
            return time.perf_counter() - self._opened_at
        return float(self.capture.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1e3

    def close(self) -> None:
        self.capture.release()


def natural_order(path: Path) -> tuple:
    """Sort key of a file by path with its runs of digits compared as numbers, so frames numbered without zero
    padding (``frame2.png`` before ``frame10.png``) stay in frame order; equal numbers (``01`` and ``1``) fall back
    to the plain path."""
    parts = re.split(r"(\d+)", str(path))
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), str(path)


def image_files(paths: Iterable[str | Path]) -> list[Path]:
    """The image files among ``paths`` (by extension, :data:`LISTED_EXTENSIONS`: GIFs included, read as their first
    frame; folders and other files left out), sorted by path with numbers by value (:func:`natural_order`: the frames
    of a video extracted as ``frame%d.png`` in frame order). A broken symlink named like an image is kept: reading
    it gives an error record naming it, not silence."""
    return sorted((p for p in map(Path, paths) if p.suffix.lower() in LISTED_EXTENSIONS
                   and (p.is_file() or (p.is_symlink() and not p.exists()))), key=natural_order)


def list_images(folder: str | Path) -> list[Path]:
    """Image files (:func:`image_files`) directly in ``folder`` (not in its subfolders), in :func:`natural_order`.
    Hidden files (names starting with ``.``) are left out: the ``._photo.jpg`` AppleDouble files macOS writes beside
    each file copied to another disk are metadata, not images, and would each be an unreadable-image error.

    Raises :class:`SourceError` (a ``ValueError``) when ``folder`` is not a folder or holds no image.
    """
    path = Path(folder)
    if not path.is_dir():
        raise SourceError(f"image folder not found: {path} is not a folder")
    files = image_files(p for p in path.iterdir() if not p.name.startswith("."))
    if not files:
        subfolders = sum(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())
        hint = (f" (its {subfolders} subfolder(s) are not read: give one of them, or a quoted glob such as "
                f"'{path / '*' / '*.jpg'}')" if subfolders else "")
        raise SourceError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS)[:6])}, ...) in folder {path}{hint}")
    return files


def is_glob(spec: object) -> bool:
    """Whether ``spec`` is a glob pattern (``'photos/*.jpg'``: ``*``, ``?`` or ``[``) that is not an existing path
    (a file named ``photo[1].jpg`` is that file) nor a stream URL."""
    return (isinstance(spec, str) and any(ch in spec for ch in "*?[") and not is_stream_url(spec)
            and not Path(spec).exists())


def glob_images(pattern: str) -> list[Path]:
    """The image files (:func:`image_files`: other files and folders left out, as from a folder input) matching the
    glob ``pattern``, in :func:`natural_order`. ``*`` does not match a leading dot (hidden files) nor ``/``
    (``**`` is ``*``: not recursive). Raises :class:`SourceError` when nothing matches or no match is an image."""
    matches = glob.glob(pattern)
    if not matches:
        raise SourceError(f"no files match {pattern!r}")
    paths = image_files(matches)
    if not paths:
        raise SourceError(f"no images among the {len(matches)} paths matching {pattern!r} (a glob is read as "
                          "images; give a video by its file name)")
    if len(paths) < len(matches):
        log.info("%s: %d of the %d paths matching are not image files: left out", pattern,
                 len(matches) - len(paths), len(matches))
    return paths


#: A printf integer field in an image sequence pattern: ``%d``, ``%04d`` (zero-padded), ``%4d`` (space-padded)
_SEQUENCE_FIELD = re.compile(r"%(\d*)d")


def is_sequence(spec: object) -> bool:
    """Whether ``spec`` is an image sequence pattern (``'frames/frame%04d.png'``, as ``ffmpeg`` writes frames): a
    path, not an existing one (a file named ``a%1.png`` or even ``a%02d.png`` is that file) nor a stream URL, whose
    file name holds one printf integer field (:data:`_SEQUENCE_FIELD`) and no other ``%``."""
    if not isinstance(spec, str) or is_stream_url(spec) or Path(spec).exists():
        return False
    name = Path(spec).name
    return name.count("%") == 1 and _SEQUENCE_FIELD.search(name) is not None


def sequence_images(pattern: str) -> list[Path]:
    """The files of the image sequence ``pattern`` (:func:`is_sequence`), by frame number: a file is a frame when
    formatting the pattern with its number gives its name exactly (``frame%04d.png``: ``frame0007.png``, not
    ``frame7.png``), from the lowest number found (0, 1 or any), gaps skipped with a warning. Raises
    :class:`SourceError` when the folder is missing or no file matches."""
    path = Path(pattern)
    folder, name = path.parent, path.name
    field = _SEQUENCE_FIELD.search(name)
    shape = re.compile(re.escape(name[:field.start()]) + r"( *\d+)" + re.escape(name[field.end():]))
    if not folder.is_dir():
        raise SourceError(f"no folder {folder} for the image sequence {pattern!r}")
    frames = sorted((int(m.group(1)), p) for p in folder.iterdir()
                    if (m := shape.fullmatch(p.name)) and name % int(m.group(1)) == p.name)
    if not frames:
        raise SourceError(f"no files of the image sequence {pattern!r} in {folder} (e.g. {name % 1!r})")
    gaps = frames[-1][0] - frames[0][0] + 1 - len(frames)
    if gaps:
        log.warning("image sequence %s: %d frame number(s) missing between %d and %d (skipped)", pattern, gaps,
                    frames[0][0], frames[-1][0])
    return [p for _, p in frames]


def _is_camera(spec) -> bool:
    """An int, or a string of decimal digits (``"0"``, or ``"-1"``: a bad camera id) that is not an existing path (a
    folder named ``2024`` is read as a folder, with a warning)."""
    if isinstance(spec, bool):
        return False
    if isinstance(spec, int):
        return True
    if not isinstance(spec, str):
        return False
    text = spec.strip()
    if not (text.isdigit() or (text.startswith("-") and text[1:].isdigit())):
        return False
    if Path(spec).exists():
        log.warning("input %r is an existing path, read as such (move elsewhere to open camera %s)", spec, text)
        return False
    return True


def open_source(spec: SourceSpec, live: bool | None = None) -> FrameSource:
    """A :class:`FrameSource` for ``spec``: a camera id (``0`` or ``"0"``), a video file, a stream URL
    (``rtsp://...``, ``http://.../clip.mp4``, read by OpenCV's FFmpeg backend), an image file, a folder of images
    (sorted by name, numbers by value: :func:`list_images`; non-image files ignored), a glob pattern of images
    (``'photos/*.jpg'``: :func:`glob_images`), an image sequence pattern (``'frames/frame%04d.png'``: the frames of a
    video, :func:`sequence_images`; frame rate unknown) or a list of image paths.

    Raises :class:`SourceError` when the source cannot be opened (missing path, empty folder, a glob matching no
    image, camera or video that
    OpenCV cannot open, a camera id that is negative or too large) or is an empty string (an unset shell variable,
    not the current folder).
    """
    if isinstance(spec, str) and not spec.strip():
        raise SourceError("the input is empty: give an image, a folder, a video, a stream URL or a camera id")
    if _is_camera(spec):
        return VideoSource(int(spec), live=True if live is None else live)
    if isinstance(spec, (list, tuple)):
        return ImageSource(spec)
    if is_stream_url(spec):
        return VideoSource(str(spec).strip(), live=live)
    if is_glob(spec):
        return ImageSource(glob_images(spec), name=spec)
    if is_sequence(spec):
        return ImageSource(sequence_images(spec), name=spec, sequence=True)
    path = Path(spec)
    if path.is_dir():
        return ImageSource(list_images(path), name=str(path))
    if not path.exists():
        raise SourceError(f"input not found: {path} (give an image, a folder, a video or a camera id)")
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return ImageSource([path], name=str(path))
    if suffix in VIDEO_EXTENSIONS:
        return VideoSource(str(path), live=live)
    try:  # unknown extension: an image if it decodes, else try it as a video
        read_image(path)
        return ImageSource([path], name=str(path))
    except ValueError:
        return VideoSource(str(path), live=live)
