"""One INFO line per request: what was spoken, with which voice, and how fast.

The figures are the ones a Home Assistant user feels: how long the request waited
for the inference thread, how long until the first audio went out, and the real-time
factor (time spent / audio made). They make a slow box or a busy server visible in
the log without a benchmark.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ..models.network import SAMPLE_RATE

_LOGGER = logging.getLogger("wyoming_kokoro.requests")


@dataclass
class RequestLog:
    """Figures of one one-shot request or one stream, filled in as its audio goes out."""

    voice: str
    version: str
    streamed: bool
    started: float = field(default_factory=time.monotonic)
    characters: int = 0
    queue_wait: float | None = None
    first_audio: float | None = None
    samples: int = 0

    def waited(self, seconds: float) -> None:
        """How long the request's first sentence waited for the inference thread."""
        if self.queue_wait is None:
            self.queue_wait = seconds

    def sent(self, samples: int) -> None:
        """Audio went out to the client."""
        if self.first_audio is None and samples:
            self.first_audio = time.monotonic() - self.started
        self.samples += samples

    def finish(self) -> None:
        elapsed = time.monotonic() - self.started
        audio = self.samples / SAMPLE_RATE
        rtf = f"{elapsed / audio:.2f}" if audio else "-"
        _LOGGER.info(
            "%s %d chars with %s (%s): queue %s, first audio %s, %.2f s of audio in %.2f s "
            "(RTF %s)",
            "Streamed" if self.streamed else "Spoke",
            self.characters,
            self.voice,
            self.version,
            _seconds(self.queue_wait),
            _seconds(self.first_audio),
            audio,
            elapsed,
            rtf,
        )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
