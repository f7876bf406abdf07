"""A one-line text progress indicator on stderr (no dependency): redrawn in place on a terminal, a few plain
lines otherwise so CI logs stay short."""

from __future__ import annotations

import sys
import threading
from typing import TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


class ProgressLine:
    """`label: done/total files, bytes, skipped` — thread-safe, call `advance` once per finished item."""

    def __init__(self, label: str, total_items: int, total_bytes: int, stream: TextIO | None = None):
        self.label = label
        self.total_items = total_items
        self.total_bytes = total_bytes
        self.items = 0
        self.bytes = 0
        self.skipped = 0
        self._stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._last_tenth = -1

    def advance(self, nbytes: int, skipped: bool = False) -> None:
        with self._lock:
            self.items += 1
            self.bytes += nbytes
            self.skipped += int(skipped)
            self._draw()

    def _text(self) -> str:
        return (f"{self.label}: {self.items}/{self.total_items} files, {human_bytes(self.bytes)}/"
                f"{human_bytes(self.total_bytes)}, {self.skipped} skipped")

    def _draw(self) -> None:
        if self._tty:
            self._stream.write("\r" + self._text())
            self._stream.flush()
            return
        tenth = self.items * 10 // max(1, self.total_items)
        if tenth != self._last_tenth:  # at most 11 lines whatever the number of files
            self._last_tenth = tenth
            self._stream.write(self._text() + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
