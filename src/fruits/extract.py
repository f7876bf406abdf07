"""From image bytes to features, batch by batch: decode, stack, predict. Pure (no Spark).

The Spark UDF and `fruits identify` both call `extract_features`, so a photo is treated the same way in a
run and in the identify service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .engines import DEFAULT_BATCH_SIZE, DEFAULT_ENGINE, Predictor
from .errors import ImageDecodeError
from .images import ImageLimits, decode_and_resize
from .views import photo_views


@dataclass
class Extraction:
    """Per input, in order: a float32 array of the photo's features (or its views') or None, and None or the
    one-line reason it failed."""

    features: list[np.ndarray | None]
    errors: list[str | None]
    inference_calls: int = 0


def extract_features(
    contents: Sequence[bytes | None],
    predictor: Predictor,
    image_size: int,
    limits: ImageLimits = ImageLimits(),
    batch_size: int = DEFAULT_BATCH_SIZE[DEFAULT_ENGINE],
) -> Extraction:
    """Per input, the (d,) features of the photo as `fruits run` sees it (fruits.images.decode_and_resize)."""
    result = _predict_in_calls(contents, predictor, batch_size,
                               lambda data: decode_and_resize(data, image_size, limits)[None])
    result.features = [None if rows is None else rows[0] for rows in result.features]
    return result


def views_per_photo(views: int) -> int:
    """Views extract_view_features gives a photo: its `views` - 1 crops, then the mirror image of the photo and of
    each crop.

    Why the mirror images: a shelf seen in a mirror is still a shelf of that fruit, and identify is not asked to
    look at more (the cost is the run's alone: 2.5 times the crops' inferences). On the product's run of both
    shared sets they name the kind first for one more shop Test photo (89 of 111, 80.2% against 79.3%; top-3 98.2%
    against 97.3%), every photo with no fruit still "not sure"; cross-validation on the grocery Training photos
    97.1% against 97.0% (docs/identify.md, "Mirror images in the fit")."""
    return 2 * views - 1


def extract_view_features(
    contents: Sequence[bytes | None],
    predictor: Predictor,
    image_size: int,
    views: int,
    limits: ImageLimits = ImageLimits(),
    batch_size: int = DEFAULT_BATCH_SIZE[DEFAULT_ENGINE],
) -> Extraction:
    """The features of the reference views of each photo (`fruits run --reference-views`): the crops identify looks
    at (views 1 to `views` - 1 of fruits.views.photo_views; view 0, the whole photo, is what extract_features
    gives), then the mirror image (left-right) of every view, whole photo first: per input, a
    (views_per_photo(views), d) float32 array or None with the reason. The views of several photos share each
    inference call of `batch_size` images."""
    if views < 2:
        raise ValueError(f"views must be at least 2 (the whole photo and one crop), got {views}")

    def pixels_of(data: bytes | None) -> np.ndarray:
        every = photo_views(data, image_size, views, limits)
        return np.concatenate([every[1:], every[:, :, ::-1]])  # ::-1 on the width: the mirror image

    return _predict_in_calls(contents, predictor, max(1, batch_size // views_per_photo(views)),  # a photo's together
                             pixels_of)


def _predict_in_calls(contents: Sequence[bytes | None], predictor: Predictor, photos_per_call: int,
                      pixels_of: Callable[[bytes | None], np.ndarray]) -> Extraction:
    """Decode `photos_per_call` inputs at a time into their images (`pixels_of`: (n, size, size, 3)), run them
    through the model in one call, and hand each input the (n, d) rows of its images; an input that cannot be
    decoded gets its reason instead."""
    result = Extraction([None] * len(contents), [None] * len(contents))
    for start in range(0, len(contents), photos_per_call):
        pixels: list[np.ndarray] = []
        rows: list[int] = []
        for row in range(start, min(start + photos_per_call, len(contents))):
            try:
                pixels.append(pixels_of(contents[row]))
                rows.append(row)
            except ImageDecodeError as exc:
                result.errors[row] = str(exc)
        if not pixels:
            continue
        batch = predictor.predict(np.concatenate(pixels))
        result.inference_calls += 1
        offset = 0
        for row, images in zip(rows, pixels):
            result.features[row] = batch[offset:offset + len(images)]
            offset += len(images)
    return result
