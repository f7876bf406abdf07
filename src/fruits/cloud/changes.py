"""What an idempotent command did to one thing: created, updated, unchanged (or deleted, absent)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    thing: str
    action: str  # created, updated, unchanged, deleted, absent
    detail: str = ""

    def line(self) -> str:
        return f"{self.thing:<44} {self.action:<9} {self.detail}".rstrip()
