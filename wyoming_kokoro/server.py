"""Wires settings into the model layer, the event handler and discovery, and serves."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

from wyoming.server import AsyncStdioServer

from . import __version__
from .config import Settings
from .engine import SpeechEngine
from .errors import ConfigError, UnknownVoiceError, UserFacingError
from .handlers.tts import HandlerOptions, KokoroEventHandler
from .listener import Listener
from .models.build import VersionBuild
from .models.download import source_for
from .models.files import FileStore
from .models.generations import builds_by_version
from .models.manager import ModelManager, resolve_device
from .models.model import ModelOptions
from .models.streaming import VOCODER_MODES
from .models.voices import VoiceRegistry
from .signals import StopSignals
from .text.lexicon import LexiconFile

_LOGGER = logging.getLogger(__name__)


def make_builds() -> dict[str, VersionBuild]:
    """Every Kokoro generation this server can run, by version string."""
    return builds_by_version()


def make_file_store(settings: Settings) -> FileStore:
    """Where model and voice files are found, and where they are fetched from."""
    hub = settings.hub_url  # HF_ENDPOINT is already applied, below --hub-url (config.py)
    sources = {
        "v1.0": source_for("v1.0", hub, settings.v1_repo, settings.v1_revision),
        "v0.19": source_for("v0.19", hub, settings.v019_repo, settings.v019_revision),
    }
    return FileStore(
        data_dirs=settings.data_dirs,
        download_dir=settings.effective_download_dir,
        sources=sources,
        offline=settings.offline,
        checkpoint_sha256={
            "v1.0": settings.v1_model_sha256,
            "v0.19": settings.v019_model_sha256,
        },
    )


def make_engine(settings: Settings) -> SpeechEngine:
    """Build the shared model layer (nothing heavy is loaded yet)."""
    builds = make_builds()
    files = make_file_store(settings)
    registry = VoiceRegistry(builds, settings.data_dirs, settings.default_version)
    options = ModelOptions(
        lexicon=LexiconFile(settings.lexicon) if settings.lexicon is not None else None,
        vocoder_window=VOCODER_MODES[settings.vocoder_window],
        precision=settings.precision,
    )
    manager = ModelManager(
        builds,
        files.ensure_model,
        resolve_device(settings.device),
        settings.max_loaded_models,
        options=options,
    )
    engine = SpeechEngine(
        registry,
        manager,
        files,
        settings.voice,
        settings.speed,
        download_wait=settings.download_wait,
        max_requests=settings.max_queued_requests,
        max_wait=settings.max_wait,
        volume=settings.volume,
        presets=settings.presets,
    )
    try:
        try:  # an unknown --voice fails at start, not per request
            selection = engine.select(None)
        except UnknownVoiceError as err:
            raise ConfigError(f"voice: {err}") from None
        if not all(registry.speakable(voice) for voice in selection.voices):
            raise ConfigError(
                f"voice: '{settings.voice}' is in a language this server cannot speak yet"
            )
        for name, preset in engine.presets.items():
            if not all(registry.speakable(voice) for voice in preset.voices):
                raise ConfigError(f"preset {name!r} is in a language this server cannot speak yet")
    except BaseException:
        engine.close()  # its inference thread must not outlive the failed start
        raise
    return engine


SHUTDOWN_GRACE_S = 5.0
"""On SIGTERM/SIGINT, how long audio in flight may go on before connections close.

Long enough to finish the sentence being spoken, short enough for a supervisor's
stop timeout (the HA Supervisor waits 10 s before it kills)."""


async def run_server(settings: Settings) -> None:
    """Serve until stopped: SIGTERM or SIGINT (exit 0), or the end of stdin for stdio://.

    Order matters for clients: the port is bound first, and only then is the model
    warmed up and the service advertised, so nothing can discover an address that is
    not answering yet, and a taken port fails before any other work starts. Stopping
    runs the other way round: withdraw the advertisement, stop accepting, let audio in
    flight finish (at most `SHUTDOWN_GRACE_S`), close, stop downloads and inference.
    """
    engine = make_engine(settings)
    try:
        if settings.update_voices:
            await _refresh_voices(engine)
        options = HandlerOptions(
            streaming=settings.streaming,
            samples_per_chunk=settings.samples_per_chunk,
            max_text_length=settings.max_text_length,
            first_clause_min_chars=settings.first_clause_chars or None,
            idle_timeout=settings.idle_timeout,
        )

        def make_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
            return KokoroEventHandler(engine, options, reader, writer)

        if urlparse(settings.uri).scheme == "stdio":
            await _serve_stdio(settings, engine, make_handler)
        else:
            await _serve_socket(
                settings, engine, Listener(settings.uri, make_handler, settings.max_connections)
            )
    finally:
        engine.close()


async def _serve_socket(settings: Settings, engine: SpeechEngine, listener: Listener) -> None:
    await listener.bind()
    stop = StopSignals()
    warm_up = asyncio.create_task(_warm_up(engine), name="kokoro warm-up")
    advertiser = None
    try:
        advertiser = await _start_zeroconf(settings, engine)
        _log_serving(settings, engine)
        await stop.requested.wait()
        _LOGGER.info("Stopping (%s)", stop.reason)
    finally:
        if advertiser is not None:
            await advertiser.stop()
        # A second signal while finishing means "now": no grace.
        closing = asyncio.create_task(listener.close(SHUTDOWN_GRACE_S))
        hurry = asyncio.create_task(stop.again.wait())
        await asyncio.wait([closing, hurry], return_when=asyncio.FIRST_COMPLETED)
        if not closing.done():
            _LOGGER.info("Second %s: closing connections now", stop.reason)
            await listener.close(0)
        hurry.cancel()
        await closing
        warm_up.cancel()
        stop.remove()


async def _serve_stdio(settings: Settings, engine: SpeechEngine, make_handler) -> None:
    handlers: list[KokoroEventHandler] = []

    def keep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        handlers.append(make_handler(reader, writer))
        return handlers[-1]

    warm_up = asyncio.create_task(_warm_up(engine), name="kokoro warm-up")
    _log_serving(settings, engine)
    try:
        # wyoming's stdio server ends at end of input, and on SIGTERM by ending the input.
        await AsyncStdioServer().run(keep)
        # Input ended, but the caller still reads our output: finish speaking.
        for handler in handlers:
            await handler.drain()
    finally:
        warm_up.cancel()


def _log_serving(settings: Settings, engine: SpeechEngine) -> None:
    _LOGGER.info(
        "wyoming-kokoro %s serving %d voices on %s",
        __version__,
        len(engine.registry.all()),
        settings.uri,
    )


async def _refresh_voices(engine: SpeechEngine) -> None:
    loop = asyncio.get_running_loop()
    for version in engine.registry.builds:
        refreshed = await loop.run_in_executor(None, engine.files.refresh_voices, version)
        _LOGGER.info("Refreshed %d %s voice file(s)", len(refreshed), version)


async def _warm_up(engine: SpeechEngine) -> None:
    """Fetch and load the default model in the background; failures are reported, not fatal."""
    try:
        await engine.warm_up()
    except UserFacingError as err:
        _LOGGER.error("Default voice is not ready: %s", err)
    except Exception:
        _LOGGER.exception("Warm-up failed")


async def _start_zeroconf(settings: Settings, engine: SpeechEngine):
    """Advertise NAME._wyoming._tcp.local. when --zeroconf is given (tcp:// only)."""
    if settings.zeroconf is None:
        return None
    uri = urlparse(settings.uri)
    if uri.scheme != "tcp" or uri.port is None:
        raise ConfigError("zeroconf: discovery needs a tcp:// uri with a port")
    from .discovery import ZeroconfAdvertiser, default_service_name

    advertiser = ZeroconfAdvertiser(
        port=uri.port,
        name=settings.zeroconf or default_service_name(),
        bind_host=uri.hostname or "0.0.0.0",
        host_override=settings.zeroconf_host,
        properties={"version": __version__, "voices": str(len(engine.registry.all()))},
    )
    await advertiser.start()
    return advertiser
