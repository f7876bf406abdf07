"""Several views of one photo for identify (test-time augmentation): the fruit in a shop photo is rarely centred
and alone, so the photo is looked at whole and in overlapping crops, and the answers are averaged.

The photo is decoded once (JPEG at a reduced scale when it is much larger than needed: a 4000x3000 phone photo
costs a 500x375 decode), turned upright by its EXIF orientation, then cut into squares resized to the model's
input. View 0 is the centred square exactly as `fruits run` computes it (fruits.images.decode_and_resize: the
same draft scale, orientation, conversion and resize), so one view gives the same features as the run.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from ..errors import ImageDecodeError
from ..images import ImageLimits, decode_and_resize, open_image, square_crop_box, to_rgb

# Side of the corner and centre crops, as a share of the short side of the photo.
CROP_SHARE = 0.7


def _crop_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    side = int(round(min(width, height) * CROP_SHARE))
    cx, cy = (width - side) // 2, (height - side) // 2
    right, bottom = width - side, height - side
    return [(cx, cy, cx + side, cy + side), (0, 0, side, side), (right, 0, right + side, side),
            (0, bottom, side, bottom + side), (right, bottom, right + side, bottom + side)]


def _draft(image: Image.Image, needed: float) -> None:
    """Let a JPEG decode at a reduced scale (a free DCT downscale) that keeps `needed` pixels on its short side:
    the rule of fruits.images.decode_and_resize, which asks for the square itself (needed = size)."""
    if image.format in ("JPEG", "MPO"):
        width, height = image.size
        scale = min(width, height) / needed
        if scale >= 2:
            image.draft("RGB", (max(1, int(width / scale)), max(1, int(height / scale))))


def photo_views(data: bytes, size: int, views: int = 1, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """(V, size, size, 3) uint8, V <= 6: the centred square (as `fruits run` sees it), then the centre and four
    corner crops of CROP_SHARE of the short side.

    The photo is decoded once. View 0 must be the very pixels `fruits run` computes (decode_and_resize); the crops
    need a finer draft scale than the whole square when the photo is big, and JPEG's draft scales are 1/1, 1/2,
    1/4 and 1/8, so the two usually fall on the same one (a 348x348 shop photo: none; a 4000x3000 phone photo at
    160 or 224 px: 1/8 for both) and one decode serves both; only when they differ is view 0 decoded on its own."""
    if views <= 1:
        return decode_and_resize(data, size, limits)[None]
    image = open_image(data, limits)
    try:
        whole = open_image(data, limits)
        _draft(whole, size)
        # Each crop must still hold `size` pixels after the draft scale.
        _draft(image, size / CROP_SHARE)
        shared = image.size == whole.size
        image.load()
        image = to_rgb(ImageOps.exif_transpose(image) or image)
        if shared:  # the steps of decode_and_resize after its decode, on the same decoded pixels
            first = image if image.size == (size, size) else image.resize(
                (size, size), Image.Resampling.BILINEAR, box=square_crop_box(*image.size))
            first = np.asarray(first, dtype=np.uint8)
        crops = [np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=box), dtype=np.uint8)
                 for box in _crop_boxes(*image.size)[: views - 1]]
    except ImageDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated files and codec errors are the photo's fault
        raise ImageDecodeError(f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]) from None
    if not shared:
        first = decode_and_resize(data, size, limits)
    return np.stack([first, *crops])
