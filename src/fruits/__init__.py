"""Fruits! data platform: fruit photos -> MobileNetV2 features on Spark -> PCA -> Parquet and CSV."""

__version__ = "0.1.0"
