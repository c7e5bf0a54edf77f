"""Command line: parse flags into `Settings`, set up logging, run the server.

This module must stay light: `--help`, `--version` and a bad flag are answered
without importing torch, so the server module is imported only once the
settings are known to be good.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from . import __version__
from .config import ENV_PREFIX, ZEROCONF_DEFAULT_NAME, Settings, cli_flag, load_settings
from .errors import ConfigError, UserFacingError
from .memory import cap_primitive_cache

PROG = "wyoming-kokoro"

_LOGGER = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: no usage block, no traceback."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every option defaults to "not given" so precedence works."""
    defaults = Settings()
    parser = _Parser(
        prog=PROG,
        description="Wyoming-protocol text-to-speech server for Kokoro-82M v1.0 and v0.19.",
        argument_default=argparse.SUPPRESS,
        epilog=(
            f"Every option can also be set with an environment variable {ENV_PREFIX}<NAME> "
            f"(e.g. {ENV_PREFIX}SPEED=1.2, {ENV_PREFIX}DATA_DIRS=dir1{os.pathsep}dir2) or in "
            "the --config file under its NAME (e.g. speed, data_dirs). Precedence: command "
            "line > environment > options file > defaults."
        ),
    )

    def add(name: str, help_text: str, **kwargs: Any) -> None:
        parser.add_argument(cli_flag(name), dest=name, help=help_text, **kwargs)

    add("uri", f"tcp://HOST:PORT, unix://PATH or stdio:// (default: {defaults.uri})", metavar="URI")
    add(
        "data_dirs",
        "folder with v1_0/ and v0_19/ model and voice files; repeat to search several, in "
        f"order (default: {defaults.data_dirs[0]})",
        action="append",
        metavar="DIR",
    )
    add("download_dir", "where downloads go (default: the first --data-dir)", metavar="DIR")
    add(
        "voice",
        "default voice, NAME or NAME@VERSION, e.g. af_heart or af_bella@v0.19 "
        f"(default: {defaults.voice})",
        metavar="VOICE",
    )
    add(
        "default_version",
        f"version a bare voice name prefers (default: {defaults.default_version})",
        choices=None,
        metavar="{v1.0,v0.19}",
    )
    add("device", f"auto, cpu or cuda (default: {defaults.device})", metavar="DEVICE")
    add("speed", f"speaking speed, 0.5 to 2.0 (default: {defaults.speed})", metavar="SPEED")
    add(
        "volume",
        f"loudness as a gain, 0.1 to 2.0; above 1 may clip (default: {defaults.volume})",
        metavar="GAIN",
    )
    add(
        "presets",
        "a named voice that describe lists, NAME=VOICE[,speed=S][,volume=V] with VOICE a "
        "voice or blend such as af_bella(2)+af_sky(1); repeat for several",
        action="append",
        metavar="PRESET",
    )
    add(
        "lexicon",
        "YAML file of words and names with their phonemes or a respelling, per language; "
        "reloaded when it changes",
        metavar="FILE",
    )
    add(
        "samples_per_chunk",
        f"audio samples per chunk event, 64 to 48000 (default: {defaults.samples_per_chunk})",
        metavar="N",
    )
    add(
        "vocoder_window",
        "how a sentence's audio is cut into pieces: lead-in (whole sentences; a reply's "
        "opening pause goes out while its first sentence renders), auto (lead-in where the "
        "vocoder runs bf16 or on a GPU, where it brings the words sooner), off (whole "
        "sentences), or "
        "the experimental windowed vocoder: probes (close to whole decoding) or fast (sooner, "
        f"sounds different) (default: {defaults.vocoder_window})",
        metavar="MODE",
    )
    add(
        "precision",
        "the vocoder's number format: fp32, bf16 (faster where the CPU has native bf16, "
        "slower where it has not) or auto, which picks bf16 only on such a CPU "
        f"(default: {defaults.precision})",
        metavar="MODE",
    )
    add(
        "streaming",
        "do not advertise or use streaming synthesis (synthesize-start/chunk/stop)",
        action="store_false",
    )
    add(
        "max_loaded_models",
        f"models kept in memory at once, 1 or 2 (default: {defaults.max_loaded_models})",
        metavar="N",
    )
    add(
        "max_text_length",
        f"longest text per request in characters (default: {defaults.max_text_length})",
        metavar="N",
    )
    add(
        "first_clause_chars",
        "a reply's first piece may end at a comma, colon or dash once it has this many "
        f"characters, to start speaking sooner; 0 turns it off (default: "
        f"{defaults.first_clause_chars})",
        metavar="N",
    )
    add("hub_url", f"model hub or mirror base URL (default: {defaults.hub_url})", metavar="URL")
    add("v1_repo", f"hub repository of v1.0 (default: {defaults.v1_repo})", metavar="OWNER/NAME")
    add("v1_revision", f"revision of --v1-repo (default: {defaults.v1_revision})", metavar="REV")
    add(
        "v019_repo",
        f"hub repository of v0.19 (default: {defaults.v019_repo})",
        metavar="OWNER/NAME",
    )
    add(
        "v019_revision",
        f"revision of --v019-repo (default: {defaults.v019_revision})",
        metavar="REV",
    )
    add(
        "v1_model_sha256",
        "expected SHA-256 of the v1.0 checkpoint (default: the official one)",
        metavar="HEX",
    )
    add(
        "v019_model_sha256",
        "expected SHA-256 of the v0.19 checkpoint (default: the official one)",
        metavar="HEX",
    )
    add("offline", "never download; use only files already in the data dirs", action="store_true")
    add("update_voices", "re-download the voice files at startup", action="store_true")
    add(
        "download_wait",
        "longest a request waits for a file that is downloading, 1 to 3600 seconds; then it "
        "gets an error saying how far the download is, which goes on in the background "
        f"(default: {defaults.download_wait})",
        metavar="SECONDS",
    )
    add(
        "max_connections",
        "open connections served at once, 1 to 1000; more are answered with an error "
        f"(default: {defaults.max_connections})",
        metavar="N",
    )
    add(
        "max_queued_requests",
        "requests that may wait for synthesis at once, 1 to 1000; the next one gets a busy "
        f"error at once (default: {defaults.max_queued_requests})",
        metavar="N",
    )
    add(
        "max_wait",
        "longest a sentence waits for its turn, 1 to 3600 seconds, before its request fails "
        f"as busy (default: {defaults.max_wait})",
        metavar="SECONDS",
    )
    add(
        "idle_timeout",
        "close a connection that has sent nothing for this long while nothing is being "
        f"spoken for it, 5 to 3600 seconds (default: {defaults.idle_timeout})",
        metavar="SECONDS",
    )
    add(
        "zeroconf",
        "advertise the server with zeroconf, under NAME or a default name (tcp:// only)",
        nargs="?",
        const=ZEROCONF_DEFAULT_NAME,
        metavar="NAME",
    )
    add("zeroconf_host", "address to advertise instead of the detected one", metavar="HOST")
    add("debug", "log debug messages", action="store_true")
    add("log_format", "logging format (%%-style)", metavar="FORMAT")
    add("config", "JSON or YAML options file, keys named like the settings", metavar="FILE")
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from argv (default: sys.argv[1:]) and environ; bad input exits with code 2."""
    parser = build_parser()
    namespace = parser.parse_args(argv)
    try:
        return load_settings(vars(namespace), environ)
    except ConfigError as err:
        parser.error(str(err))


EXIT_PATIENCE_S = 2.0
"""After the server has stopped, how long a worker thread may take to finish its job."""


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the server until stopped; exit 0 on SIGTERM or SIGINT."""
    settings = parse_settings(argv)
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format=settings.log_format,
        force=True,
    )
    _LOGGER.debug("Settings: %s", settings)
    code = 0
    cap_primitive_cache()
    try:
        from .server import run_server  # imports torch: only once settings are good

        asyncio.run(run_server(settings))
    except UserFacingError as err:
        _LOGGER.debug("Stopped by a user-facing error", exc_info=True)
        print(f"{PROG}: error: {_one_line(str(err))}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:  # only before the server installs its own handler
        pass
    _exit(code)


def _exit(code: int) -> NoReturn:
    """Exit with `code`, even if a worker thread is still inside a forward pass.

    Python waits for every worker thread at exit, and one forward pass or model load
    cannot be interrupted: a stop during the warm-up would otherwise take as long as
    loading the model. Everything that matters (connections, zeroconf, downloads) is
    closed by now, so after a short wait the process leaves the job behind.
    """
    deadline = time.monotonic() + EXIT_PATIENCE_S
    for thread in _busy_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    if _busy_threads():
        _LOGGER.info("Leaving an unfinished inference job behind")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _busy_threads() -> list[threading.Thread]:
    return [
        thread
        for thread in threading.enumerate()
        if thread is not threading.current_thread() and not thread.daemon and thread.is_alive()
    ]
