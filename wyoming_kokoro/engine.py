"""The speech engine: the async face of the model layer for event handlers.

It owns what keeps blocking work off the event loop:
- the inference scheduler (`scheduler.py`): one inference thread shared by every
  connection, fed from per-client queues in turn, bounded, and grouped by
  generation when only one model fits in memory. Jobs are single sentences, so
  clients take turns sentence by sentence, and torch gets all CPU cores for the
  job at hand. Being single, it also serialises model switches;
- a small I/O pool for file checks and downloads, so fetching a voice never
  stalls someone else's inference.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DownloadingError, MissingFileError
from .health import Health, InferenceWatch
from .memory import release_free_memory
from .models.files import FileStore
from .models.manager import ModelManager
from .models.pausing import PassAbandoned
from .models.voices import Voice, VoiceRegistry
from .scheduler import MAX_REQUESTS, MAX_WAIT_S, InferenceScheduler
from .voices.presets import PresetSpec, resolve_presets
from .voices.selection import Style, VoiceResolver, VoiceSelection

_LOGGER = logging.getLogger(__name__)

WARM_UP_TEXT = "Ready."

DOWNLOAD_WAIT_S = 30.0
"""Default for `--download-wait`."""


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
        max_requests: int = MAX_REQUESTS,
        max_wait: float = MAX_WAIT_S,
        download_wait: float = DOWNLOAD_WAIT_S,
        volume: float = 1.0,
        presets: Sequence[PresetSpec] = (),
    ) -> None:
        self.registry = registry
        # Presets first: a bad one fails here, before any thread is started.
        self.resolver = VoiceResolver(registry, {})
        self.resolver.presets = resolve_presets(presets, self.resolver)
        self.manager = manager
        self.files = files
        self.default_voice = default_voice
        self.speed = speed
        """Speaking speed for voices and blends that do not set their own (presets may)."""
        self.volume = volume
        """Gain for voices and blends that do not set their own."""
        self.watch = watch or InferenceWatch()
        self.scheduler = InferenceScheduler(
            lambda: manager.loaded_versions,
            single_slot=manager.max_loaded == 1,
            watch=self.watch,
            max_requests=max_requests,
            max_wait=max_wait,
            after_job=release_free_memory,
        )
        self._io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kokoro-io")
        self.download_wait = download_wait
        """Longest a request waits for its files (see `prepare`)."""
        self._fetches: dict[tuple[str, str], _Fetch] = {}
        """Running file jobs by (version, file), shared by every request that needs one."""

    def resolve_voice(self, requested: str | None) -> Voice:
        """The single voice called `requested` (None: the default). Raises UnknownVoiceError."""
        return self.registry.resolve(requested, self.default_voice)

    def select(self, requested: str | None) -> VoiceSelection:
        """What a request speaks with: a voice, blend or preset (None: the default voice).

        Raises UnknownVoiceError (BlendError for a blend that cannot be made).
        """
        return self.resolver.select(requested, self.default_voice)

    @property
    def presets(self) -> Mapping[str, VoiceSelection]:
        return self.resolver.presets

    def selection_installed(self, selection: VoiceSelection) -> bool:
        """True if every voice of the selection can be served now (see `is_installed`)."""
        return all(self.is_installed(voice) for voice in selection.voices)

    async def prepare_selection(
        self, selection: VoiceSelection, wait: float | None = None
    ) -> Style:
        """Fetch every pack of the selection (at once, within one `wait`); see `prepare`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.download_wait if wait is None else wait)
        paths = await asyncio.gather(
            *(self.prepare(voice, deadline=deadline) for voice in selection.voices)
        )
        return Style(
            tuple((path, part.weight) for path, part in zip(paths, selection.parts, strict=True))
        )

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

    async def prepare(
        self, voice: Voice, wait: float | None = None, deadline: float | None = None
    ) -> Path:
        """Make sure the voice's model and pack are on disk; returns the pack's path.

        The files are fetched on the I/O pool, one job per file however many
        requests need it. A request waits at most `wait` seconds in all (None:
        `download_wait`; `math.inf`: as long as it takes). Then it gets a
        DownloadingError naming the file and how far its download is, while the
        download goes on: a later request joins it, or finds the file on disk.
        """
        if not self.registry.speakable(voice):
            raise MissingFileError(
                f"voice '{voice.qualified_name}' ({voice.language_name}) needs a G2P for "
                f"{voice.language}, which this server does not have yet"
            )
        if deadline is None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (self.download_wait if wait is None else wait)
        await self._fetch(voice, deadline, (voice.version, "model"), self.files.ensure_model)
        if voice.local_path is not None:
            return voice.local_path
        return await self._fetch(
            voice,
            deadline,
            (voice.version, voice.relpath),
            self.files.ensure,
            voice.relpath,
            voice.file,
        )

    async def _fetch(
        self,
        voice: Voice,
        deadline: float,
        key: tuple[str, str],
        ensure: Callable[..., Any],
        *args: Any,
    ) -> Any:
        """Run `ensure(voice.version, *args)` on the I/O pool, or join the job already running."""
        fetches = self._fetches
        loop = asyncio.get_running_loop()
        fetch = fetches.get(key)
        if fetch is None:
            fetch = _Fetch(loop.run_in_executor(self._io, ensure, voice.version, *args))
            fetches[key] = fetch

            def finished(future: asyncio.Future[Any], fetch: _Fetch = fetch) -> None:
                if fetches.get(key) is fetch:
                    del fetches[key]
                if future.cancelled() or future.exception() is None or fetch.waiting:
                    return
                # Every request gave up waiting; nobody else will report it.
                _LOGGER.warning("Background download failed: %s", future.exception())

            fetch.future.add_done_callback(finished)
        # A job that is done at once (files on disk) must not lose to a used-up wait.
        left = max(deadline - loop.time(), 0.05)
        fetch.waiting += 1
        try:
            return await asyncio.wait_for(
                asyncio.shield(fetch.future), None if math.isinf(left) else left
            )
        except asyncio.TimeoutError:
            raise DownloadingError(self._not_ready(voice)) from None
        finally:
            fetch.waiting -= 1

    def _not_ready(self, voice: Voice) -> str:
        """Which of the voice's files is still downloading, and how far it is."""
        relpaths = ["config.json", self.registry.builds[voice.version].checkpoint_name]
        if voice.local_path is None:
            relpaths.append(voice.relpath)
        running = self.files.in_progress()
        status = "waiting for the server"
        for relpath in relpaths:
            progress = running.get(self.files.label(voice.version, relpath))
            if progress is not None:
                status = progress.summary()
                break
        else:
            missing = [r for r in relpaths if self.files.find(voice.version, r) is None]
            relpath = missing[0] if missing else relpaths[-1]
        return (
            f"voice '{voice.qualified_name}' is not ready yet: {relpath} for {voice.version} "
            f"is still downloading ({status}); try again shortly"
        )

    def submit(
        self,
        client: object,
        selection: VoiceSelection,
        style: Style,
        text: str,
        new_request: bool = False,
    ) -> SentenceAudio:
        """Queue one sentence for `client`; its audio arrives piece by piece (16-bit, 24 kHz).

        `style` is what `prepare_selection(selection)` returned. The selection's own
        speed and volume (a preset's) win over the server's. Sentences may be
        submitted ahead of time: the scheduler takes clients in turn, and
        `drop(client)` forgets what a vanished client still had queued. `new_request`
        marks a reply's first sentence: it raises BusyError if too many requests are
        waiting already, and it may send its opening pause ahead (`--vocoder-window`).
        """
        voice = selection.primary
        speed = self.speed if selection.speed is None else selection.speed
        volume = self.volume if selection.volume is None else selection.volume
        audio = SentenceAudio(asyncio.get_running_loop())

        def work(cancelled: Callable[[], bool]) -> int:
            audio.started = time.monotonic()
            samples = 0
            if cancelled():
                return samples
            with self.manager.lease(voice.version) as model:
                self.watch.progressed()  # loading the model counts as progress
                pieces = model.render_pieces(
                    text,
                    voice.prefix,
                    style.packs,
                    speed,
                    cancelled,
                    self.watch.progressed,
                    volume=volume,
                    opens_reply=new_request,
                )
                try:
                    for pcm in pieces:
                        audio.emit(pcm)
                        samples += pcm.size
                except PassAbandoned:  # its client left mid-pass: nothing more to send
                    pass
            return samples

        audio.attach(self.scheduler.submit(client, voice.version, work, new_request))
        return audio

    def drop(self, client: object) -> None:
        """`client` went away: its queued sentences are dropped, its running one stops."""
        dropped = self.scheduler.drop(client)
        if dropped:
            _LOGGER.debug("Dropped %d queued sentence(s) of a client that left", dropped)

    async def render(self, selection: VoiceSelection, style: Style, text: str) -> np.ndarray:
        """Speak `text` (one sentence, ideally) as its own client, and wait for all of it."""
        return await self.submit(object(), selection, style, text).collect()

    def health(self) -> Health:
        """Whether the inference thread is making progress (for the health check)."""
        return self.watch.health()

    def health_data(self) -> dict[str, Any]:
        """The `kokoro-health` answer: health, process counts, queue and model loads."""
        return {
            **self.health().as_data(),
            "queued": self.scheduler.queued(),
            "models": {
                "loaded": self.manager.loaded_versions,
                "loads": dict(self.manager.load_count),
            },
        }

    async def warm_up(self) -> None:
        """Fetch and load the default voice's model and run one short pass.

        Run in the background at start-up so the first real request does not
        pay for loading the model, spaCy and the G2P lexicons.
        """
        selection = self.select(None)
        style = await self.prepare_selection(selection, wait=math.inf)  # may download
        await self.render(selection, style, WARM_UP_TEXT)
        _LOGGER.info("Warm-up done: %s is ready", selection.name)

    def close(self) -> None:
        """Stop the scheduler and I/O pool (pending jobs are dropped) and any running download."""
        self.files.downloader.stopping.set()
        self.scheduler.close()
        self._io.shutdown(wait=False, cancel_futures=True)


class SentenceAudio:
    """One sentence's audio on its way from the inference thread to a connection.

    The inference thread `emit`s PCM pieces as the vocoder makes them; the event
    loop reads them with `async for`, so the first piece can be sent while the rest
    of the sentence is still being rendered. The scheduler's future says how the job
    ended: iteration ends after the last piece, or raises the job's error.
    """

    _END = object()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pieces: asyncio.Queue[Any] = asyncio.Queue()
        self._future: asyncio.Future[int] | None = None
        self.submitted = time.monotonic()
        self.started: float | None = None
        """When the inference thread took the sentence (None while it waits)."""

    def emit(self, pcm: np.ndarray) -> None:
        """From the inference thread: one more piece (in order)."""
        self._loop.call_soon_threadsafe(self._pieces.put_nowait, pcm)

    def attach(self, future: asyncio.Future[int]) -> None:
        """The scheduler's job; the scheduler resolves it on the loop after the last `emit`."""
        self._future = future
        future.add_done_callback(lambda _: self._pieces.put_nowait(self._END))

    def cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()

    async def __aiter__(self) -> AsyncIterator[np.ndarray]:
        assert self._future is not None
        while (piece := await self._pieces.get()) is not self._END:
            yield piece
        await self._future  # raises what the job raised (or CancelledError)

    async def collect(self) -> np.ndarray:
        """Every piece joined (empty when nothing was speakable)."""
        pieces = [piece async for piece in self]
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)


class _Fetch:
    """One fetch job on the I/O pool and how many requests are waiting for it now."""

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future
        self.waiting = 0
