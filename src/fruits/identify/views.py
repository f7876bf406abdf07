"""Several views of one photo for identify (test-time augmentation): the fruit in a shop photo is rarely centred
and alone, so the photo is looked at whole and in overlapping crops, and the answers are averaged.

The photo is decoded once (JPEG at a reduced scale when it is much larger than needed: a 4000x3000 phone photo
costs a 1000x750 decode), turned upright by its EXIF orientation, then cut into squares resized to the model's
input. View 0 is decoded by the very function `fruits run` uses (the centred square), so one view gives the same
features as the run.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from ..errors import ImageDecodeError
from ..images import ImageLimits, decode_and_resize, open_image, to_rgb

# Side of the corner and centre crops, as a share of the short side of the photo.
CROP_SHARE = 0.7


def _crop_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    side = int(round(min(width, height) * CROP_SHARE))
    cx, cy = (width - side) // 2, (height - side) // 2
    right, bottom = width - side, height - side
    return [(cx, cy, cx + side, cy + side), (0, 0, side, side), (right, 0, right + side, side),
            (0, bottom, side, bottom + side), (right, bottom, right + side, bottom + side)]


def photo_views(data: bytes, size: int, views: int = 1, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """(V, size, size, 3) uint8, V <= 6: the centred square (as `fruits run` sees it), then the centre and four
    corner crops of CROP_SHARE of the short side."""
    first = decode_and_resize(data, size, limits)
    if views <= 1:
        return first[None]
    image = open_image(data, limits)
    try:
        if image.format in ("JPEG", "MPO"):
            width, height = image.size
            # Each crop must still hold `size` pixels after the free DCT downscale.
            scale = min(width, height) * CROP_SHARE / size
            if scale >= 2:
                image.draft("RGB", (max(1, int(width / scale)), max(1, int(height / scale))))
        image.load()
        image = to_rgb(ImageOps.exif_transpose(image) or image)
        crops = [np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=box), dtype=np.uint8)
                 for box in _crop_boxes(*image.size)[: views - 1]]
    except ImageDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated files and codec errors are the photo's fault
        raise ImageDecodeError(f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]) from None
    return np.stack([first, *crops])
