"""The speech engine: the async face of the model layer for event handlers.

It owns the two thread pools that keep blocking work off the event loop:
- one inference thread, shared by every connection. Jobs are single sentences,
  so clients take turns sentence by sentence, and torch gets all CPU cores for
  the job at hand instead of two jobs thrashing each other. Being single, it
  also serialises model switches, so the manager never has to wait for a busy
  slot in practice (its wait and timeout guard more workers, should a later
  scheduler add them);
- a small I/O pool for file checks and downloads, so fetching a voice never
  stalls someone else's inference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import MissingFileError
from .health import Health, InferenceWatch
from .models.files import FileStore
from .models.manager import ModelManager
from .models.voices import Voice, VoiceRegistry

_LOGGER = logging.getLogger(__name__)

WARM_UP_TEXT = "Ready."


class SpeechEngine:
    """Resolves voices, fetches their files and renders text to PCM off the event loop."""

    def __init__(
        self,
        registry: VoiceRegistry,
        manager: ModelManager,
        files: FileStore,
        default_voice: str,
        speed: float,
        watch: InferenceWatch | None = None,
    ) -> None:
        self.registry = registry
        self.manager = manager
        self.files = files
        self.default_voice = default_voice
        self.speed = speed
        self.watch = watch or InferenceWatch()
        self._inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kokoro-infer")
        self._io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kokoro-io")

    def resolve_voice(self, requested: str | None) -> Voice:
        """The voice for a request (None: the default voice). Raises UnknownVoiceError."""
        return self.registry.resolve(requested, self.default_voice)

    def is_installed(self, voice: Voice) -> bool:
        """True if the voice can be served now or fetched now (offline: only what is on disk)."""
        if not self.registry.speakable(voice):
            return False
        build = self.registry.builds[voice.version]
        if not (
            self.files.can_serve(voice.version, "config.json")
            and self.files.can_serve(voice.version, build.checkpoint_name)
        ):
            return False
        if voice.local_path is not None:
            return voice.local_path.is_file()
        if not voice.official:
            return self.files.find(voice.version, voice.relpath) is not None
        return self.files.can_serve(voice.version, voice.relpath)

    async def prepare(self, voice: Voice) -> Path:
        """Make sure the voice's model and pack are on disk; returns the pack's path."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, self._prepare_blocking, voice)

    def _prepare_blocking(self, voice: Voice) -> Path:
        if not self.registry.speakable(voice):
            raise MissingFileError(
                f"voice '{voice.qualified_name}' ({voice.language_name}) needs a G2P for "
                f"{voice.language}, which this server does not have yet"
            )
        self.files.ensure_model(voice.version)
        if voice.local_path is not None:
            return voice.local_path
        return self.files.ensure(voice.version, voice.relpath, voice.file)

    async def render(
        self,
        voice: Voice,
        pack_path: Path,
        text: str,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> np.ndarray:
        """Speak `text` (one sentence, ideally) and return 16-bit PCM at 24 kHz."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._inference, self._render_blocking, voice, pack_path, text, cancelled
        )

    def _render_blocking(
        self, voice: Voice, pack_path: Path, text: str, cancelled: Callable[[], bool]
    ) -> np.ndarray:
        if cancelled():
            return np.zeros(0, dtype=np.int16)
        self.watch.started()
        try:
            with self.manager.lease(voice.version) as model:
                self.watch.progressed()  # loading the model counts as progress
                return model.render(
                    text, voice.prefix, pack_path, self.speed, cancelled, self.watch.progressed
                )
        finally:
            self.watch.finished()

    def health(self) -> Health:
        """Whether the inference thread is making progress (for the health check)."""
        return self.watch.health()

    async def warm_up(self) -> None:
        """Fetch and load the default voice's model and run one short pass.

        Run in the background at start-up so the first real request does not
        pay for loading the model, spaCy and the G2P lexicons.
        """
        voice = self.resolve_voice(None)
        pack = await self.prepare(voice)
        await self.render(voice, pack, WARM_UP_TEXT)
        _LOGGER.info("Warm-up done: %s is ready", voice.qualified_name)

    def close(self) -> None:
        """Stop the thread pools (pending jobs are dropped) and any running download."""
        self.files.downloader.stopping.set()
        self._inference.shutdown(wait=False, cancel_futures=True)
        self._io.shutdown(wait=False, cancel_futures=True)
