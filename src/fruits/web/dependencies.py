"""What route handlers receive through FastAPI's Depends: the settings, the catalog, the templates.

Both live on app.state (set by create_app), so a test can swap them with app.dependency_overrides.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from .catalog import Catalog
from .settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATES_DIR = PACKAGE_DIR / "templates"


def _percent(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _file_size(size: int | None) -> str:
    if size is None:
        return "–"
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _significant(value: float, digits: int = 3) -> str:
    """3 significant digits: distances and coordinates range from thousandths (random weights) to tens."""
    return f"{value:.{digits}g}"


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["significant"] = _significant
templates.env.filters["percent"] = _percent
templates.env.filters["file_size"] = _file_size


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog
