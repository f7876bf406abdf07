"""Typed errors of the fruits library.

The library raises these; only the CLI turns them into exit codes and only the web layer turns them
into HTTP responses. Every message is one line that says what is wrong and, where it can, what to do.
"""

from __future__ import annotations


class FruitsError(Exception):
    """A problem the user can act on (bad input, bad flag, missing resource). CLI exit code 2."""

    exit_code = 2


class UsageError(FruitsError):
    """A flag or configuration value is out of range or malformed."""


class InputNotFoundError(FruitsError):
    """The INPUT location does not exist."""

    @classmethod
    def missing(cls, location: str) -> InputNotFoundError:
        return cls(f"INPUT not found: {location} (give a folder of .jpg/.jpeg/.png photos)")


class NoImagesError(FruitsError):
    """The INPUT location holds no file with an image extension."""


class WeightsError(FruitsError):
    """The model weights cannot be obtained or do not fit the architecture."""


class OutputError(FruitsError):
    """The OUTPUT location cannot be written, or would clobber data that is not ours."""


class RunOutputError(FruitsError):
    """A `fruits run` OUTPUT is missing, incomplete (no manifest) or unreadable."""


class ImageDecodeError(FruitsError):
    """One image cannot be decoded; the pipeline records it in `errors/` instead of failing."""


class PipelineError(Exception):
    """An internal invariant of the pipeline broke (a bug, not a user mistake). CLI exit code 1."""
