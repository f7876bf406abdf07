"""`fruits serve`: the dashboard and identify service over a `fruits run` OUTPUT (FastAPI, no pyspark)."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
