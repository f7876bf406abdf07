"""Identify the fruit in a new photo with a run's own model, projection and reference photos.

`facts`: the information cards; `metadata`: the photo's metadata cut out before decoding; `service`: the
identification itself (the run's predictor, built once per process, then the kNN).
"""

from .facts import FruitFacts
from .metadata import strip_metadata
from .service import (
    Identification,
    Identifier,
    UnreadablePhotoError,
    UnsupportedPhotoError,
    check_photo,
    weights_spec_for,
)

__all__ = [
    "FruitFacts",
    "Identification",
    "Identifier",
    "UnreadablePhotoError",
    "UnsupportedPhotoError",
    "check_photo",
    "strip_metadata",
    "weights_spec_for",
]
