"""Read what `fruits run` wrote: its manifest, projection and PCA coordinates, and its photos, from a local
path or s3://, without Spark. Used by the dashboard, `fruits identify` and `fruits evaluate`."""

from .describe import ImageDescription, describe_image, thumbnail_jpeg
from .reader import TEST, TRAINING, ImageTable, RunOutput, image_id, open_run_output
from .store import StorageError, Store, s3_options_from_env

__all__ = [
    "ImageDescription",
    "ImageTable",
    "RunOutput",
    "StorageError",
    "Store",
    "TEST",
    "TRAINING",
    "describe_image",
    "image_id",
    "open_run_output",
    "s3_options_from_env",
    "thumbnail_jpeg",
]
