"""Image decoding and preprocessing with Pillow (pure: no Spark, no TensorFlow).

The same function prepares every image the model sees: the photos of a `fruits run` on the executors and a
photo sent to `fruits identify` or the web app. Keeping one code path is what makes a new photo land in the
same PCA space as the reference images.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageDecodeError

# Pillow logs every EXIF tag (GPS position included) at DEBUG level while it reads the orientation: never.
logging.getLogger("PIL").setLevel(logging.INFO)

# Defaults for the limits; both can be changed per run (`--max-bytes`, `--max-pixels`).
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
# 40 megapixels is more than any phone camera gives; a 20000x20000 PNG "bomb" (400 Mpx, 1.2 GB of RGB once
# decoded) is refused from its header, before a single pixel is decoded.
DEFAULT_MAX_PIXELS = 40_000_000

# Fruits-360 photos are shot on a white background: transparent pixels are painted white so an RGBA cut-out
# looks like the reference images.
_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


def open_image(data: bytes | None, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """Open (header only) an image from bytes, refusing empty, oversized and bomb-sized inputs.

    The format is sniffed from the bytes by Pillow, never taken from a file name or a content type.
    """
    if data is None:
        raise ImageDecodeError(f"file larger than the {limits.max_bytes}-byte limit (--max-bytes)")
    if len(data) == 0:
        raise ImageDecodeError("empty file (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageDecodeError(f"file of {len(data)} bytes is over the {limits.max_bytes}-byte limit (--max-bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns (then errors) on its own bomb threshold; ours below is stricter and gives a reason.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageDecodeError("not a recognised image format") from None
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"decompression bomb refused: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure is one bad file, not a failed job
        raise ImageDecodeError(_one_line(exc)) from None
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageDecodeError(
            f"decompression bomb refused: {width}x{height} pixels is over the {limits.max_pixels}-pixel limit"
        )
    if image.format not in ("JPEG", "PNG", "MPO"):
        # MPO is the multi-picture JPEG some phones write; its first frame is a plain JPEG.
        raise ImageDecodeError(f"unsupported image format {image.format}: expected JPEG or PNG")
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode we accept (L, LA, P, RGBA, CMYK, I;16, I, F, 1) to 8-bit RGB."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's own conversion clips 16-bit values at 255 (a white image); scale to 0..255 instead.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        gray = np.clip(np.rint(array * (255.0 / peak)), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if mode == "P":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def square_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The centred square of an image: phone photos are not square, the model input is."""
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return left, top, left + side, top + side


def draft_request(image: Image.Image, needed: float) -> tuple[int, int] | None:
    """The size to ask JPEG's draft() for (a free DCT downscale at decode) so that at least `needed` pixels stay
    on the photo's short side, so quality is unchanged; None when the photo is not a JPEG or not at least twice
    that large."""
    if image.format not in ("JPEG", "MPO"):
        return None
    width, height = image.size
    scale = min(width, height) / needed
    if scale < 2:
        return None
    return max(1, int(width / scale)), max(1, int(height / scale))


def decode_and_resize(data: bytes | None, size: int, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Decode image bytes into a (size, size, 3) uint8 array, the model's input.

    Steps: sniff and bound-check, let JPEG decode at a reduced scale when the photo is much larger than
    needed (`draft`, a free DCT downscale), decode, apply the EXIF orientation, convert to RGB, take the
    centred square, resize with bilinear filtering. Raises ImageDecodeError with a one-line reason.
    """
    image = open_image(data, limits)
    try:
        request = draft_request(image, size)
        if request is not None:
            image.draft("RGB", request)
        image.load()
        # In place: a photo with no orientation to apply is not copied (a copy of the decoded pixels otherwise).
        ImageOps.exif_transpose(image, in_place=True)
        image = to_rgb(image)
        box = square_crop_box(*image.size)
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
        array = np.asarray(image, dtype=np.uint8)
    except ImageDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated files and codec errors are per-image failures
        raise ImageDecodeError(_one_line(exc)) from None
    if array.shape != (size, size, 3):
        raise ImageDecodeError(f"decoded to an unexpected shape {array.shape}")
    return array


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("\r", " ")
    return text[:300]
