"""Is inference making progress? The answer behind the add-on's health check.

A `describe` round trip only proves the event loop answers. The failure that
hangs Home Assistant is different: the inference thread stuck in one job (a
wedged device, a deadlocked library) while the loop happily answers describe and
queues more work that never runs. The engine reports each job's start, every
forward pass it completes and its end; the watch turns that into "no progress for
N seconds", and the server answers a `kokoro-health` event with it, so the
Supervisor's watchdog can restart the add-on.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

HEALTH_EVENT = "kokoro-health"
"""Event type of the request and of the answer (a server-specific Wyoming event)."""

STALL_TIMEOUT_S = 120.0
"""No progress for this long on a running job counts as wedged. One forward pass of
the longest input (510 tokens) takes a few seconds on a Pi 5; a model load from a
slow SD card can take a minute."""


@dataclass(frozen=True)
class Health:
    """What the health check reads (sent as the event's data)."""

    healthy: bool
    busy: bool
    """A job is running on the inference thread."""
    stalled_s: float
    """Seconds since the running job last made progress (0 when idle)."""
    jobs_done: int
    detail: str

    def as_data(self) -> dict[str, Any]:
        """The event data: these fields plus the process's resource counts."""
        return {**asdict(self), "process": process_stats()}


class InferenceWatch:
    """Thread-safe record of the inference thread's progress."""

    def __init__(
        self, stall_timeout: float = STALL_TIMEOUT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stall_timeout = stall_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._last_progress: float | None = None  # None: idle
        self._jobs_done = 0

    def started(self) -> None:
        with self._lock:
            self._last_progress = self._clock()

    def progressed(self) -> None:
        with self._lock:
            if self._last_progress is not None:
                self._last_progress = self._clock()

    def finished(self) -> None:
        with self._lock:
            self._last_progress = None
            self._jobs_done += 1

    def health(self) -> Health:
        with self._lock:
            busy = self._last_progress is not None
            stalled = self._clock() - self._last_progress if busy else 0.0
            done = self._jobs_done
        healthy = stalled < self.stall_timeout
        detail = (
            f"inference made no progress for {stalled:.0f} s (limit {self.stall_timeout:.0f} s)"
            if not healthy
            else ("inference running" if busy else "idle")
        )
        return Health(healthy, busy, round(stalled, 1), done, detail)


def process_stats() -> dict[str, int]:
    """Resource counts of this process, for leak checks and the soak benchmark.

    Call from the event loop (it counts that loop's tasks). File descriptors and
    RSS come from /proc and are -1 where it does not exist.
    """
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = -1
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = -1
    return {
        "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
        "fds": fds,
        "rss_bytes": rss,
    }
