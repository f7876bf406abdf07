"""`fruits` entry point: one parser, one sub-command per module, errors turned into exit codes here only.

Exit codes: 0 success, 1 an unexpected failure (a bug: the traceback is shown), 2 a problem the user can
fix (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .. import __version__
from ..errors import FruitsError
from . import cloud, evaluate, identify, run, sample, serve

# Each module exposes add_parser(subparsers); the handler is stored as the `handler` default. This order is the
# order of `fruits --help`.
_COMMAND_MODULES = (run, sample, evaluate, identify, serve, cloud)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: same one-line style, exit 2
        self.print_usage(sys.stderr)
        raise SystemExit(_fail(f"{message} (see {self.prog} --help)"))


def _fail(message: str) -> int:
    print(f"fruits: error: {message}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fruits", description="Fruit photos -> MobileNetV2 features on Spark -> PCA.")
    parser.add_argument("--version", action="version", version=f"fruits {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _COMMAND_MODULES:
        module.add_parser(subparsers)
    return parser


@contextmanager
def _logging_to_stderr(quiet: bool) -> Iterator[None]:
    """Our log lines on stderr for the length of one command, then the logger as it was: a handler left behind
    would hold a stream that may be closed by then (a test's capture), and a background thread that logs later
    (the web app describing its photos) would write into it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fruits: %(message)s"))
    logger = logging.getLogger("fruits")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def main(argv: Sequence[str] | None = None) -> int:
    # TensorFlow's C++ start-up chatter (CPU features, oneDNN notes) is not actionable for a user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    with _logging_to_stderr(args.quiet):
        try:
            return int(args.handler(args) or 0)
        except FruitsError as exc:
            return _fail(str(exc))
        except KeyboardInterrupt:
            print("fruits: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
