"""From image bytes to features, batch by batch: decode, stack, predict. Pure (no Spark).

The Spark UDF and `fruits identify` both call `extract_features`, so a photo is treated the same way in a
run and in the identify service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .engines import DEFAULT_BATCH_SIZE, DEFAULT_ENGINE, Predictor
from .errors import ImageDecodeError
from .images import ImageLimits, decode_and_resize
from .views import photo_views


@dataclass
class Extraction:
    """Per input, in order: a float32 (1280,) array or None, and None or the one-line reason it failed."""

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
    result = Extraction([None] * len(contents), [None] * len(contents))
    for start in range(0, len(contents), batch_size):
        pixels: list[np.ndarray] = []
        rows: list[int] = []
        for row in range(start, min(start + batch_size, len(contents))):
            try:
                pixels.append(decode_and_resize(contents[row], image_size, limits))
                rows.append(row)
            except ImageDecodeError as exc:
                result.errors[row] = str(exc)
        if not pixels:
            continue
        batch = predictor.predict(np.stack(pixels))
        result.inference_calls += 1
        for row, vector in zip(rows, batch):
            result.features[row] = vector
    return result


def extract_view_features(
    contents: Sequence[bytes | None],
    predictor: Predictor,
    image_size: int,
    views: int,
    limits: ImageLimits = ImageLimits(),
    batch_size: int = DEFAULT_BATCH_SIZE[DEFAULT_ENGINE],
) -> Extraction:
    """The features of the crops identify looks at (views 1 to `views` - 1 of fruits.views.photo_views; view 0,
    the whole photo, is what extract_features gives): per input, a (views - 1, d) float32 array or None with
    the reason. The crops of several photos share each inference call of `batch_size` images."""
    result = Extraction([None] * len(contents), [None] * len(contents))
    crops_per_photo = views - 1
    if crops_per_photo < 1:
        raise ValueError(f"views must be at least 2 (the whole photo and one crop), got {views}")
    per_call = max(1, batch_size // crops_per_photo)  # whole photos per call, every crop of a photo in the same call
    for start in range(0, len(contents), per_call):
        pixels: list[np.ndarray] = []
        rows: list[int] = []
        for row in range(start, min(start + per_call, len(contents))):
            try:
                pixels.append(photo_views(contents[row], image_size, views, limits)[1:])
                rows.append(row)
            except ImageDecodeError as exc:
                result.errors[row] = str(exc)
        if not pixels:
            continue
        batch = predictor.predict(np.concatenate(pixels))
        result.inference_calls += 1
        for i, row in enumerate(rows):
            result.features[row] = batch[i * crops_per_photo:(i + 1) * crops_per_photo]
    return result
