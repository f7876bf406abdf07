"""Descriptive information about one photo, for people: pixel size, file size, brightness, dominant colour.

Computed from the photo's bytes (read through the same Store as everything else), on a small downscaled copy:
a few milliseconds per photo. The EXIF block is never read except by Pillow's orientation handling, and nothing
from it is kept.
"""

from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from ..images import ImageLimits, open_image, to_rgb

# Working size for the statistics: plenty for a mean and a colour histogram, and JPEG draft() makes it cheap.
_WORK_SIZE = 64
# Fruits-360 photos (and many product shots) sit on a white background; a pixel this close to white is
# background, not fruit, when we look for the dominant colour.
_BACKGROUND_MIN = 232
# Colour histogram: 8 levels per channel (512 bins), coarse enough to merge the shades of one fruit.
_LEVELS = 8


@dataclass(frozen=True)
class ImageDescription:
    width: int
    height: int
    file_bytes: int
    image_format: str
    brightness: float  # mean luma of the whole photo, 0 (black) .. 1 (white)
    dominant_hex: str  # e.g. "#d8c43a"
    hue: float | None  # 0..360 degrees of the dominant colour, None when it is a grey
    colour_name: str  # "yellow", "red", ... a word for people

    def to_dict(self) -> dict:
        return asdict(self)


def describe_image(data: bytes, limits: ImageLimits = ImageLimits()) -> ImageDescription:
    """Raises fruits.errors.ImageDecodeError when the bytes are not a readable JPEG/PNG."""
    image = open_image(data, limits)
    width, height, image_format = image.width, image.height, str(image.format)
    if image_format in ("JPEG", "MPO"):
        image.draft("RGB", (_WORK_SIZE, _WORK_SIZE))
    small = to_rgb(image)
    small.thumbnail((_WORK_SIZE, _WORK_SIZE), Image.Resampling.BILINEAR)
    pixels = np.asarray(small, dtype=np.float64).reshape(-1, 3)
    luma = pixels @ np.array([0.299, 0.587, 0.114])
    rgb = dominant_colour(pixels)
    return ImageDescription(
        width=width,
        height=height,
        file_bytes=len(data),
        image_format=image_format,
        brightness=round(float(luma.mean()) / 255.0, 4),
        dominant_hex="#{:02x}{:02x}{:02x}".format(*rgb),
        hue=_hue(rgb),
        colour_name=colour_name(rgb),
    )


def dominant_colour(pixels: np.ndarray) -> tuple[int, int, int]:
    """The mean colour of the most populated bin of a coarse RGB histogram, background pixels left out."""
    foreground = pixels[~np.all(pixels >= _BACKGROUND_MIN, axis=1)]
    if len(foreground) < 0.02 * len(pixels) or len(foreground) == 0:
        foreground = pixels  # an all-white photo: its dominant colour is white
    bins = np.minimum(foreground // (256 // _LEVELS), _LEVELS - 1).astype(np.int64)
    codes = bins[:, 0] * _LEVELS * _LEVELS + bins[:, 1] * _LEVELS + bins[:, 2]
    top = np.bincount(codes, minlength=_LEVELS**3).argmax()
    mean = foreground[codes == top].mean(axis=0)
    return tuple(int(round(c)) for c in mean)  # type: ignore[return-value]


def _hsv(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    return colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))


def _hue(rgb: tuple[int, int, int]) -> float | None:
    h, s, v = _hsv(rgb)
    if s < 0.15 or v < 0.12:
        return None
    return round(h * 360.0, 1)


def colour_name(rgb: tuple[int, int, int]) -> str:
    """A plain colour word for the dominant colour (what a person would call it, roughly)."""
    h, s, v = _hsv(rgb)
    if v < 0.12:
        return "black"
    if s < 0.15:
        return "white" if v > 0.85 else "grey"
    degrees = h * 360.0
    if degrees < 15 or degrees >= 345:
        name = "red"
    elif degrees < 40:
        name = "orange"
    elif degrees < 70:
        name = "yellow"
    elif degrees < 165:
        name = "green"
    elif degrees < 260:
        name = "blue"
    elif degrees < 300:
        name = "purple"
    else:
        name = "pink"
    if name in ("orange", "red", "yellow") and v < 0.45:
        return "brown" if name != "red" else "dark red"
    return name


def thumbnail_jpeg(data: bytes, max_side: int, limits: ImageLimits = ImageLimits(), quality: int = 82) -> bytes:
    """A small upright JPEG of the photo, re-encoded from pixels only: no EXIF or other metadata is copied."""
    import io

    from PIL import ImageOps

    image = open_image(data, limits)
    if image.format in ("JPEG", "MPO"):
        image.draft("RGB", (max_side, max_side))
    image = ImageOps.exif_transpose(image) or image
    image = to_rgb(image)
    image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()
