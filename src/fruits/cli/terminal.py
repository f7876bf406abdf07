"""A quiet terminal for `fruits run`: our lines and a progress bar on the terminal, the libraries' logs in a file.

TensorFlow's C++ runtime (oneDNN, XNNPACK), absl, the JVM (log4j, netlib) and the Python workers Spark
starts all write to the file descriptors 1 and 2 they inherit, not through Python's logging. So while a run
is on, descriptors 1 and 2 of this process point at a log file (the JVM and its workers, started during the
run, inherit them), and our logger, progress bar and summary write to copies of the original descriptors.
With `--verbose` nothing is redirected: everything shows, as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import tempfile
import time
from typing import TextIO

from .. import outputs
from ..storage import is_local, local_path

log = logging.getLogger("fruits")


def log_file_for(output: str) -> str:
    """OUTPUT/_logs/run-<UTC time>.log for a local OUTPUT that is ours or empty; a temporary file otherwise (a
    remote OUTPUT, or a folder that is not ours yet: the run may refuse to write into it)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if is_local(output):
        folder = os.path.abspath(os.path.expanduser(local_path(output)))
        names = set(os.listdir(folder)) if os.path.isdir(folder) else set()
        if not os.path.exists(folder) or not names or names & {outputs.MANIFEST, outputs.MARKER, outputs.LOCK}:
            logs = os.path.join(folder, outputs.LOGS)
            try:
                os.makedirs(logs, exist_ok=True)
                return os.path.join(logs, f"run-{stamp}.log")
            except OSError:
                pass  # unwritable OUTPUT: the run says so; the log goes to a temporary file
    handle, path = tempfile.mkstemp(prefix=f"fruits-run-{stamp}-", suffix=".log")
    os.close(handle)
    return path


class QuietTerminal:
    """Context manager: descriptors 1 and 2 go to `log_path`; `self.terminal` writes to the real stderr."""

    def __init__(self, log_path: str | None):
        self.log_path = log_path
        self.terminal: TextIO = sys.stderr
        self._saved: tuple[int, int] | None = None
        self._handler_streams: list[tuple[logging.StreamHandler, TextIO]] = []

    def __enter__(self) -> QuietTerminal:
        if self.log_path is None:
            return self
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        target = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._saved = (os.dup(1), os.dup(2))
        # Our own lines keep going where sys.stderr went (a terminal, or a test's capture).
        writes_to_fd2 = _writes_to_fd(sys.stderr, 2)
        self.terminal = os.fdopen(os.dup(self._saved[1]), "w", buffering=1) if writes_to_fd2 else sys.stderr
        os.dup2(target, 1)
        os.dup2(target, 2)
        os.close(target)
        for handler in logging.getLogger("fruits").handlers:
            if isinstance(handler, logging.StreamHandler) and _writes_to_fd(handler.stream, 2):
                self._handler_streams.append((handler, handler.setStream(self.terminal)))
        return self

    def __exit__(self, *exc) -> bool:
        if self._saved is None:
            return False
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        for handler, stream in self._handler_streams:
            handler.setStream(stream)
        if self.terminal is not sys.stderr:
            self.terminal.close()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        os.close(self._saved[0])
        os.close(self._saved[1])
        self._saved = None
        self.terminal = sys.stderr
        return False


def _writes_to_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def _width(stream) -> int:
    """The terminal's width; 100 when unknown or reported as 0 (a pseudo-terminal nobody sized): tqdm would
    otherwise trim the whole bar to nothing."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return columns if columns >= 40 else 100


class FeaturizeBar:
    """The featurization's progress bar: photos done, photos/s and the time left (tqdm)."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._bar = None
        self._started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=total, unit="photo", desc="fruits: featurizing", file=self._stream,
                             ncols=_width(self._stream), mininterval=0.5, smoothing=0.1,
                             bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                        "[{elapsed}<{remaining}, {rate_fmt}]")
        if done > self._bar.n:  # only forward: a later stage re-reads cached rows
            self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
