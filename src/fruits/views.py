"""Several views of one photo for identify (test-time augmentation): the fruit in a shop photo is rarely centred
and alone, so the photo is looked at whole and in overlapping crops, and the answers are averaged.

The photo is decoded once (JPEG at a reduced scale when it is much larger than needed: a 4000x3000 phone photo
costs a 500x375 decode), turned upright by its EXIF orientation, then cut into squares resized to the model's
input. View 0 is the centred square exactly as `fruits run` computes it (fruits.images.decode_and_resize: the
same draft scale, orientation, conversion and resize), so one view gives the same features as the run.
`fruits run --reference-views` cuts the same crops of reference photos (fruits.spark.reference_views), so the
classifier also learns from the kind of picture it will be asked about.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageDecodeError
from .images import ImageLimits, decode_and_resize, draft_request, open_image, square_crop_box, to_rgb

# Side of the corner and centre crops, as a share of the short side of the photo.
CROP_SHARE = 0.7
# Views of a photo identify looks at: the whole square, the centre crop and one corner. The smallest number that
# loses nothing measured (docs/identify.md, "How many views"): at 160 px, kind top-1 / top-3 on the 111 shop Test
# photos 76.6% / 91.0% against 75.7% / 92.8% with six views, 95.4% / 99.6% against 94.7% / 99.6% in
# cross-validation on the 1,142 shop Training photos, every photo with no fruit "not sure" (one or two views let a
# plain wall through); and half the CPU of six (benchmarks/identify_cpu.py). `fruits run --reference-views` adds
# the same crops (views 1 to IDENTIFY_VIEWS - 1) of the chosen inputs' photos to the classifier's references.
IDENTIFY_VIEWS = 3


def _crop_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    side = int(round(min(width, height) * CROP_SHARE))
    cx, cy = (width - side) // 2, (height - side) // 2
    right, bottom = width - side, height - side
    return [(cx, cy, cx + side, cy + side), (0, 0, side, side), (right, 0, right + side, side),
            (0, bottom, side, bottom + side), (right, bottom, right + side, bottom + side)]


def _drafted_size(size: tuple[int, int], request: tuple[int, int] | None) -> tuple[int, int]:
    """The size Pillow's JPEG draft() decodes to for `request` (the largest of its 1/8, 1/4, 1/2 and 1/1 DCT
    scales that keeps the requested size): to know, from the header alone, whether view 0 and the crops fall on
    the same scale."""
    if request is None:
        return size
    ratio = min(size[0] // request[0], size[1] // request[1])
    scale = next(s for s in (8, 4, 2, 1) if ratio >= s)
    return (size[0] + scale - 1) // scale, (size[1] + scale - 1) // scale


def photo_views(data: bytes, size: int, views: int = 1, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """(V, size, size, 3) uint8, V <= 6: the centred square (as `fruits run` sees it), then the centre and four
    corner crops of CROP_SHARE of the short side.

    The photo is decoded once for the crops. View 0 must be the very pixels `fruits run` computes
    (decode_and_resize); the crops need a finer draft scale than the whole square when the photo is big, and
    JPEG's draft scales are 1/1, 1/2, 1/4 and 1/8, so the two often fall on the same one (a 4000x3000 phone photo
    at 160 or 224 px: 1/8 for both) and one decode serves both; when they differ (a 348x348 shop photo at 160
    px: 1/2 for view 0, none for the crops) view 0 is decoded on its own. The photo's header is read once for all
    this (the scales are worked out from it), and nothing is copied that need not be (the orientation is applied
    in place; the views are written straight into the array returned): the same pixels as before for less CPU
    (docs/identify.md, "Latency")."""
    if views <= 1:
        return decode_and_resize(data, size, limits)[None]
    image = open_image(data, limits)
    try:
        original = image.size
        whole_request = draft_request(image, size)  # what decode_and_resize asks for
        crops_request = draft_request(image, size / CROP_SHARE)  # each crop must still hold `size` pixels
        if crops_request is not None:
            image.draft("RGB", crops_request)
        # One decode serves view 0 when it lands where decode_and_resize's own draft would (checked against the
        # size Pillow actually chose, so a change in Pillow's rule costs a second decode, never other pixels).
        shared = _drafted_size(original, whole_request) == image.size == _drafted_size(original, crops_request)
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        image = to_rgb(image)
        out = np.empty((min(views, 6), size, size, 3), dtype=np.uint8)
        if shared:  # the steps of decode_and_resize after its decode, on the same decoded pixels
            out[0] = np.asarray(image if image.size == (size, size) else image.resize(
                (size, size), Image.Resampling.BILINEAR, box=square_crop_box(*image.size)), dtype=np.uint8)
        for i, box in enumerate(_crop_boxes(*image.size)[: views - 1], start=1):
            out[i] = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=box), dtype=np.uint8)
    except ImageDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated files and codec errors are the photo's fault
        raise ImageDecodeError(f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]) from None
    if not shared:
        out[0] = decode_and_resize(data, size, limits)
    return out
