"""fruits.extract: the crops of reference photos (and their mirror images) go through the model in batches, each
photo's kept together and in order, a photo that cannot be decoded an error of its own."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fruits.extract import extract_view_features
from fruits.views import photo_views


def _photo(seed: int, size=(90, 60)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


class HalvesMeans:
    """A predictor whose 'features' are each image's mean colour over its left half, then its right half: enough to
    tell every crop apart, and a mirror image swaps the two."""

    def __init__(self):
        self.calls = []

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(len(batch))
        half = batch.shape[2] // 2
        return np.concatenate([batch[:, :, :half].reshape(len(batch), -1, 3).mean(axis=1),
                               batch[:, :, half:].reshape(len(batch), -1, 3).mean(axis=1)], axis=1).astype(np.float32)


@pytest.mark.parametrize("batch_size, calls", [(10, [10, 5, 5]), (15, [15, 5]), (5, [5, 5, 5, 5]), (1, [5, 5, 5, 5])])
def test_each_photo_gets_its_crops_then_their_mirror_images_in_order(batch_size, calls):
    photos = [_photo(i) for i in range(3)] + [b"not a photo", _photo(9, (40, 100))]
    predictor = HalvesMeans()
    result = extract_view_features(photos, predictor, 32, views=3, batch_size=batch_size)
    assert result.features[3] is None and result.errors[3]  # the broken photo, and only it
    for i in (0, 1, 2, 4):
        views = photo_views(photos[i], 32, 3)
        features = result.features[i]
        assert features.shape == (5, 6)
        np.testing.assert_allclose(features[:2], HalvesMeans().predict(views[1:]), rtol=1e-6)  # the crops
        # then the whole photo and the crops mirrored: left and right halves swapped
        np.testing.assert_allclose(features[2:], HalvesMeans().predict(views)[:, [3, 4, 5, 0, 1, 2]], rtol=1e-6)
        assert result.errors[i] is None
    assert predictor.calls == calls and result.inference_calls == len(calls)


def test_views_must_include_a_crop():
    with pytest.raises(ValueError, match="at least 2"):
        extract_view_features([_photo(0)], HalvesMeans(), 32, views=1)
