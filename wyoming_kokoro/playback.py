"""Where the client's player would be in a reply, from the audio rendered for it.

A reply's later sentences are rendered while the earlier ones play, so their
opening pause need not go ahead (`streaming.LeadIn`). That changes when the text
comes slowly (an LLM streaming its answer) or the box is slow: the player has played
all it was sent and waits in silence for the next sentence's first audio. Then that
sentence should lead with its pause, as a reply's first sentence does, and its words
are heard sooner by about the pause's length.

The model is the one the benchmark's player uses (`benchmarks/latency.py`): a player
that starts on the first piece and plays in real time. Home Assistant's satellites
buffer a little more, so this can only err towards a lead-in that was not needed,
which costs a short extra pass and nothing audible.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .models.network import SAMPLE_RATE


class PlaybackClock:
    """One reply's audio as a real-time player would have played it by now.

    Both calls come from the inference thread: `rendered` as each piece is handed to
    the connection (which sends it at once), `played_out` when the reply's next
    sentence starts. Counting pieces as they are rendered, not as the event loop
    sends them, keeps a sentence's last piece from looking unsent when the next
    sentence starts a moment later.
    """

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._started: float | None = None
        self._samples = 0

    def rendered(self, samples: int) -> None:
        """`samples` more are on their way to the client (mono, 24 kHz)."""
        if self._started is None and samples:
            self._started = self._now()
        self._samples += samples

    def played_out(self) -> bool:
        """Whether the player has played everything sent so far (False before any audio)."""
        started = self._started
        if started is None:
            return False
        return self._now() >= started + self._samples / SAMPLE_RATE
