"""Safe reading of evidence photos: what the picture says about itself, and the copies we serve.

Callback auditors use photos as evidence (a door photo taken on site, before/after photos,
a serial plate). So the server reads the EXIF capture time and GPS position, keeps the
original untouched, serves derivatives that carry *no* metadata (a thumbnail must never
leak a customer's location), and computes a perceptual hash so a photo reused on another
job is caught even after it was re-compressed or resized by a messenger app.

Every input is untrusted: the format is sniffed from the magic bytes (JPEG, PNG and WebP
only, and only that decoder is allowed to parse it), the pixel count is checked against a
per-call limit *before* anything is decoded, and every Pillow failure becomes an
``ImageRejected`` with a stable code (``corrupt_image``, ``image_too_large``,
``unsupported_image``).

Everything here is synchronous and CPU-bound on purpose (decoding a 12-megapixel JPEG takes
tens of milliseconds). Async callers run it off the event loop, in the background::

    info = await images.in_background(images.inspect, data)

``in_background`` uses threads of their own that lower their scheduling priority (on
Linux, where threads are scheduled one by one): a photo being decoded gives way to the
sync requests that want the same core, and still uses every idle core.

No database, no web framework: only Pillow, msgspec and ``server.errors``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import msgspec
from PIL import ExifTags, Image, ImageOps

from server.errors import Invalid

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "PHASH_THRESHOLD",
    "ImageInfo",
    "ImageRejected",
    "derivatives",
    "hamming",
    "in_background",
    "inspect",
    "phash",
    "same_picture",
]

DEFAULT_MAX_PIXELS = 50_000_000
# Re-encodes and resizes of one picture land within a few bits; unrelated photos ~32 apart.
PHASH_THRESHOLD = 10
THUMB_QUALITY = 78
DISPLAY_QUALITY = 85
# JPEGs are decoded for hashing at a reduced DCT scale no smaller than this (fast and enough).
_PHASH_DECODE_SIZE = 256
BACKGROUND_NICENESS = 10
"""How much an image thread lowers its priority (0 to 19; requests stay at 0)."""

_T = TypeVar("_T")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _lower_priority() -> None:
    # Linux: a thread's native id is a schedulable task of its own; elsewhere the pool
    # runs at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)


async def in_background(fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)`` on the image threads (one per core, low priority)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max_workers=os.cpu_count() or 2,
                    thread_name_prefix="doorstep-images",
                    initializer=_lower_priority,
                )
    return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)


class ImageRejected(Invalid):
    """The bytes are not an image we accept. ``code`` is one of ``corrupt_image``,
    ``image_too_large`` or ``unsupported_image``; it maps to 422 like any ``Invalid``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


class ImageInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a photo says about itself. ``width``/``height`` are as stored (before the EXIF
    orientation is applied). ``taken_at`` is UTC-aware when the camera wrote an offset
    (``taken_at_zone_known``); otherwise it is the camera's naive wall-clock time, which the
    caller may localise with the job city's zone — it is never silently called UTC."""

    format: str
    width: int
    height: int
    phash: str
    orientation: int = 1
    taken_at: datetime | None = None
    taken_at_zone_known: bool = False
    latitude: float | None = None
    longitude: float | None = None
    camera_make: str | None = None
    camera_model: str | None = None


# --- opening ----------------------------------------------------------------------------


def _sniff(data: bytes) -> str:
    """The format from the magic bytes, so only the matching decoder ever parses the data."""
    if not data:
        raise ImageRejected("corrupt_image", "The image is empty.")
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise ImageRejected("unsupported_image", "Only JPEG, PNG and WebP images are accepted.")


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt_image", "The image has no pixels.")
    if width * height > max_pixels:
        raise ImageRejected(
            "image_too_large",
            f"The image has {width}x{height} pixels; at most {max_pixels} are accepted.",
        )


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open (headers only), check the pixel count, ``verify()`` a throw-away copy, and
    reopen for decoding. Nothing is decoded here.

    Pillow's own bomb check uses the process-global ``Image.MAX_IMAGE_PIXELS`` and *warns*
    between 1x and 2x of it; we turn that warning into an error for the ``open`` call and
    then apply our own per-call limit. (``catch_warnings`` is process-global state before
    Python 3.14; if a thread race ever lost the filter, the warning would merely be logged —
    our own size check below still rejects the image.)"""
    fmt = _sniff(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
                _check_size(probe.size, max_pixels)
                probe.verify()
            img = Image.open(io.BytesIO(data), formats=[fmt])
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("image_too_large", f"The image has too many pixels: {exc}") from exc
    except Exception as exc:  # untrusted input: any parser failure means a broken file
        raise ImageRejected("corrupt_image", f"The image cannot be read: {exc}") from exc
    _check_size(img.size, max_pixels)
    return img


def _load(img: Image.Image) -> Image.Image:
    """Decode the pixels; a truncated or damaged stream fails here, not later."""
    try:
        img.load()
    except Exception as exc:
        raise ImageRejected("corrupt_image", f"The image data is damaged: {exc}") from exc
    return img


# --- EXIF -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _parse_offset(value: Any) -> timezone | None:
    """``"+03:00"`` → a fixed zone; anything else → unknown."""
    text = _text(value)
    if not text or len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def _taken_at(exif_ifd: dict[int, Any]) -> tuple[datetime | None, bool]:
    text = _text(exif_ifd.get(ExifTags.Base.DateTimeOriginal))
    if not text:
        return None, False
    try:
        naive = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None, False  # "0000:00:00 00:00:00" and friends
    zone = _parse_offset(exif_ifd.get(ExifTags.Base.OffsetTimeOriginal))
    if zone is None:
        return naive, False
    return naive.replace(tzinfo=zone).astimezone(UTC), True


def _degrees(value: Any, ref: Any, positive: str, negative: str, limit: float) -> float | None:
    """Degrees/minutes/seconds rationals + a hemisphere letter → signed decimal degrees."""
    ref_text = _text(ref)
    if ref_text not in (positive, negative):
        return None
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(x) and x >= 0 for x in (d, m, s)) or m >= 60 or s >= 60:
        return None
    degrees = d + m / 60 + s / 3600
    if degrees > limit:
        return None
    return -degrees if ref_text == negative else degrees


def _read_exif(img: Image.Image) -> dict[str, Any]:
    """EXIF fields for ``ImageInfo``. Damaged EXIF never rejects a photo: fields become None."""
    out: dict[str, Any] = {}
    try:
        exif = img.getexif()
        orientation = exif.get(ExifTags.Base.Orientation)
        if isinstance(orientation, int) and 1 <= orientation <= 8:
            out["orientation"] = orientation
        out["camera_make"] = _text(exif.get(ExifTags.Base.Make))
        out["camera_model"] = _text(exif.get(ExifTags.Base.Model))
        out["taken_at"], out["taken_at_zone_known"] = _taken_at(exif.get_ifd(ExifTags.IFD.Exif))
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        lat = _degrees(
            gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "N", "S", 90
        )
        lon = _degrees(
            gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "E", "W", 180
        )
        # Both or neither; 0,0 is what phones write when they had no fix.
        if lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
            out["latitude"], out["longitude"] = lat, lon
    except Exception:
        pass
    return out


# --- public API -------------------------------------------------------------------------


def inspect(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Validate an uploaded photo and read its evidence: size, EXIF time and position,
    orientation, camera, perceptual hash. Raises ``ImageRejected``. CPU-bound: call it
    through ``anyio.to_thread.run_sync``."""
    img = _open(data, max_pixels)
    with img:
        fmt = img.format or "UNKNOWN"
        width, height = img.size
        meta = _read_exif(img)
        if fmt == "JPEG":  # decode at 1/2..1/8 scale: the hash only needs 32x32
            img.draft("L", (_PHASH_DECODE_SIZE, _PHASH_DECODE_SIZE))
        _load(img)
        try:
            digest = phash(ImageOps.exif_transpose(img))
        except Exception as exc:
            raise ImageRejected("corrupt_image", f"The image cannot be read: {exc}") from exc
    return ImageInfo(format=fmt, width=width, height=height, phash=digest, **meta)


def _draft_size(size: tuple[int, int], box: int) -> tuple[int, int]:
    """The smallest decode size that still fills ``box`` (so the final resize only shrinks)."""
    width, height = size
    ratio = min(box / width, box / height, 1.0)
    return max(1, math.floor(width * ratio)), max(1, math.floor(height * ratio))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Flatten transparency onto white (JPEG has no alpha) and convert to RGB."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img if img.mode == "RGB" else img.convert("RGB")


def _encode(img: Image.Image, quality: int) -> bytes:
    """JPEG bytes with no metadata at all. The pixels are copied into a fresh image so no
    ``info`` (EXIF, ICC profile, comment, XMP, DPI) can ride along into the encoder."""
    clean = Image.frombytes("RGB", img.size, img.tobytes())
    buf = io.BytesIO()
    clean.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def derivatives(
    data: bytes,
    *,
    thumb: int = 320,
    display: int = 1600,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[bytes, bytes]:
    """``(thumbnail, display)`` JPEGs fitting ``thumb``/``display`` square boxes, upright
    (EXIF orientation applied) and stripped of every piece of metadata — the original, kept
    as uploaded, is the only copy that carries GPS. JPEGs are decoded at a reduced DCT scale
    when that still fills the display box. CPU-bound: use ``anyio.to_thread.run_sync``."""
    img = _open(data, max_pixels)
    with img:
        if img.format == "JPEG":
            img.draft("RGB", _draft_size(img.size, display))
        _load(img)
        try:
            upright = ImageOps.exif_transpose(img)
            big = _to_rgb(upright)
            big.thumbnail((display, display), Image.Resampling.LANCZOS)
            small = big.copy()
            small.thumbnail((thumb, thumb), Image.Resampling.LANCZOS)
            return _encode(small, THUMB_QUALITY), _encode(big, DISPLAY_QUALITY)
        except Exception as exc:
            raise ImageRejected("corrupt_image", f"The image cannot be converted: {exc}") from exc


# --- perceptual hash --------------------------------------------------------------------

_N = 32
# DCT-II basis rows for frequencies 0..8 over 32 samples (only the low ones are needed).
_BASIS = [[math.cos(math.pi * (2 * x + 1) * u / (2 * _N)) for x in range(_N)] for u in range(9)]


def phash(img: Image.Image) -> str:
    """64-bit DCT perceptual hash as 16 hex digits (the pHash recipe): grayscale, 32x32,
    2-D DCT, the 8x8 block of lowest frequencies next to (excluding) the DC row and column,
    one bit per coefficient above their median. Robust to re-compression, resizing and mild
    colour changes; not to crops or rotations (apply the EXIF orientation first).

    Pure Python: only 9 of the 32 frequencies are computed per axis (~10k multiplications)."""
    gray = img.convert("L").resize((_N, _N), Image.Resampling.LANCZOS)
    pixels = gray.tobytes()
    rows = [pixels[y * _N : (y + 1) * _N] for y in range(_N)]
    # Along x: for each row, frequencies 1..8.
    row_freq = [
        [sum(b * p for b, p in zip(_BASIS[u], row, strict=True)) for u in range(1, 9)]
        for row in rows
    ]
    # Along y: for each x-frequency, frequencies 1..8.
    coeffs = [
        sum(_BASIS[v][y] * row_freq[y][u] for y in range(_N)) for v in range(1, 9) for u in range(8)
    ]
    ordered = sorted(coeffs)
    median = (ordered[31] + ordered[32]) / 2
    bits = 0
    for c in coeffs:
        bits = (bits << 1) | (c > median)
    return f"{bits:016x}"


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hashes from ``phash``."""
    if len(a) != 16 or len(b) != 16:
        raise ValueError("perceptual hashes are 16 hex digits")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def same_picture(a: str, b: str, threshold: int = PHASH_THRESHOLD) -> bool:
    """Whether two hashes are (very likely) the same picture, re-encoded or resized."""
    return hamming(a, b) <= threshold
