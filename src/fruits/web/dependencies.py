"""What route handlers receive through FastAPI's Depends: the settings, the catalog, the templates.

Both live on app.state (set by create_app), so a test can swap them with app.dependency_overrides.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context

from .catalog import Catalog
from .i18n import DEFAULT_LANGUAGE, LANGUAGES, Messages, messages_for, translations
from .sentences import colour, verdict
from .settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATES_DIR = PACKAGE_DIR / "templates"


def _messages(context) -> Messages:
    """The language of the page being rendered: its request's (every page is rendered with its request)."""
    request = context.get("request")
    return messages_for(request) if request is not None else Messages(DEFAULT_LANGUAGE)


@pass_context
def _gettext(context, message: str) -> str:
    return translations(_messages(context).language).gettext(message)


@pass_context
def _ngettext(context, singular: str, plural: str, n: int) -> str:
    return translations(_messages(context).language).ngettext(singular, plural, n)


def _formatter(name: str):
    @pass_context
    def formatter(context, value, *args):
        return getattr(_messages(context), name)(value, *args)
    return formatter


templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                                           extensions=["jinja2.ext.i18n"]))
# newstyle: `_("%(n)s photos", n=3)` formats and escapes its variables; a literal % is written %%.
templates.env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
for _name in ("percent", "significant", "file_size", "number", "datetime", "kind"):
    templates.env.filters[_name] = _formatter(_name)
templates.env.globals["LANGUAGES"] = LANGUAGES
templates.env.globals["language"] = pass_context(lambda context: _messages(context).language)
templates.env.globals["colour_name"] = pass_context(lambda context, name: colour(_messages(context), name))
templates.env.globals["verdict"] = pass_context(lambda context, answer: verdict(_messages(context), answer))


# The dependencies are `async def`: FastAPI runs a plain `def` dependency on its thread pool, a hand-off to another
# thread and back for every request, for a few attribute reads.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def get_messages(request: Request) -> Messages:
    """The request's language (cookie, then Accept-Language), for the strings a handler writes itself."""
    return messages_for(request)
