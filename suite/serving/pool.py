"""Backends, their circuit breakers, and the pool that picks one per request."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(eq=False)  # compared by identity: two engines may look alike
class Backend:
    """One OpenAI-compatible server (a vLLM engine) that can answer for a model.

    A backend is *available* when its last health check passed and its circuit is
    closed. ``threshold`` consecutive request failures open the circuit; after
    ``open_s`` seconds the next passing health check lets it back in half-open, so a
    single further failure opens it again.
    """

    url: str
    threshold: int = 3
    open_s: float = 15.0
    healthy: bool = False
    # Consecutive failed probes before a healthy backend is taken out: one slow probe under load is no outage.
    probe_failures_to_mark_down: int = 2
    failed_probes: int = 0
    in_flight: int = 0
    consecutive_failures: int = 0
    open_until: float | None = None

    @property
    def circuit_open(self) -> bool:
        return self.open_until is not None

    @property
    def available(self) -> bool:
        return self.healthy and not self.circuit_open

    def record_success(self) -> None:
        self.consecutive_failures = 0

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.threshold:
            self.open_until = time.monotonic() + self.open_s

    def record_health(self, passed: bool) -> None:
        """Apply a health-check result; a passing probe after the open period closes the circuit half-way."""
        self.failed_probes = 0 if passed else self.failed_probes + 1
        if passed or self.failed_probes >= self.probe_failures_to_mark_down:
            self.healthy = passed
        if passed and self.open_until is not None and time.monotonic() >= self.open_until:
            self.open_until = None
            self.consecutive_failures = self.threshold - 1

    def mark_down(self) -> None:
        """Take the backend out at once (its process is known to be gone)."""
        self.healthy = False
        self.failed_probes = self.probe_failures_to_mark_down

    @contextmanager
    def lease(self) -> Iterator[Backend]:
        """Count a request in flight on this backend for as long as the block runs."""
        self.in_flight += 1
        try:
            yield self
        finally:
            self.in_flight -= 1


class Pool:
    """The backends serving one model; picks the least loaded available one."""

    def __init__(self, model: str, backends: list[Backend]) -> None:
        self.model = model
        self.backends = backends
        # Rotates the starting point so equally loaded backends share the work.
        self._turn = itertools.count()

    @property
    def ready(self) -> bool:
        return any(b.available for b in self.backends)

    def replace(self, old: list[Backend], new: list[Backend]) -> None:
        """Swap some backends for others; requests already on the old ones keep their lease."""
        self.backends = [b for b in self.backends if b not in old] + [b for b in new if b not in self.backends]

    def pick(self, *, exclude: set[str] | frozenset[str] = frozenset()) -> Backend | None:
        """The available backend with the fewest requests in flight, or None."""
        candidates = [b for b in self.backends if b.available and b.url not in exclude]
        if not candidates:
            return None
        start = next(self._turn) % len(candidates)
        rotated = candidates[start:] + candidates[:start]
        return min(rotated, key=lambda b: b.in_flight)
