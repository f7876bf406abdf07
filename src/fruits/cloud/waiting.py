"""How commands wait for AWS to catch up: botocore waiters only (no sleeps of ours), with a delay that tests
set to 0 against moto, and switched off in a dry run (nothing was created, nothing to wait for)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Waits:
    enabled: bool = True
    delay: int | None = None  # seconds between polls; None: the default of each kind of wait

    def config(self, default_delay: int, max_wait_s: int) -> dict[str, int]:
        """botocore's WaiterConfig: poll every `delay` seconds for at most about `max_wait_s` seconds."""
        delay = default_delay if self.delay is None else max(0, int(self.delay))
        return {"Delay": delay, "MaxAttempts": max(1, max_wait_s // max(1, delay))}


DEFAULT_WAITS = Waits()
NO_WAIT = Waits(enabled=False)
