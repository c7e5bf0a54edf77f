"""Starting and stopping like a service: a real server process and real signals.

A supervisor (the HA Supervisor, systemd, Docker) stops a service with SIGTERM, a
person with Ctrl-C (SIGINT); either must end with exit status 0 within the
supervisor's patience, let the audio being sent finish for a few seconds, then close
the connection — never hang, never cut a reply at once, never leave a traceback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.tts import Synthesize

from wyoming_kokoro.health import HEALTH_EVENT

from .conftest import ServerProcess, server_args

STOP_LIMIT_S = 10.0
"""The HA Supervisor kills an add-on 10 s after SIGTERM."""

# Many short sentences: more audio than the grace period can render, so the stop
# certainly lands while a reply is being spoken.
LONG_TEXT = " ".join(f"This is sentence number {n}." for n in range(1, 25))


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wyoming_kokoro", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if not k.startswith("WYOMING_KOKORO_")},
    )


def wait_exit(server: ServerProcess, limit: float) -> tuple[int, float]:
    """Exit status and seconds taken; fails (and kills) if the process outlives `limit`."""
    assert server.process is not None
    started = time.monotonic()
    try:
        code = server.process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        server.process.kill()
        pytest.fail(f"server still running {limit:.0f} s after the signal:\n{server.log()}")
    return code, time.monotonic() - started


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_idle_server_stops_with_exit_0(start_server, signum: signal.Signals) -> None:
    server = start_server()
    assert server.process is not None
    server.process.send_signal(signum)
    code, _ = wait_exit(server, STOP_LIMIT_S)
    assert code == 0, server.log()
    log = server.log()
    assert f"Stopping ({signum.name})" in log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_during_synthesis_finishes_audio_briefly_then_exits_0(
    start_server, signum: signal.Signals
) -> None:
    server = start_server()
    assert server.process is not None

    async def scenario() -> tuple[int, int, bool, float]:
        async with AsyncClient.from_uri(server.uri) as client:
            await client.write_event(Synthesize(text=LONG_TEXT).event())
            while True:  # until the reply is being spoken
                event = await asyncio.wait_for(client.read_event(), 120)
                assert event is not None, server.log()
                if AudioChunk.is_type(event.type):
                    break
            server.process.send_signal(signum)
            signalled = time.monotonic()
            chunks_after, got_stop = 0, False
            while True:
                event = await asyncio.wait_for(client.read_event(), STOP_LIMIT_S)
                if event is None:
                    break
                chunks_after += AudioChunk.is_type(event.type)
                got_stop = got_stop or AudioStop.is_type(event.type)
            closed_after = time.monotonic() - signalled
        code, _ = wait_exit(server, STOP_LIMIT_S)
        return code, chunks_after, got_stop, closed_after

    code, chunks_after, got_stop, closed_after = asyncio.run(scenario())
    assert code == 0, server.log()
    assert chunks_after > 0, "audio in flight goes on after the signal instead of being cut"
    assert not got_stop, "the reply is longer than the grace period; it cannot have finished"
    assert closed_after < STOP_LIMIT_S
    log = server.log()
    assert f"Stopping ({signum.name})" in log and "Traceback" not in log


def test_new_request_on_an_open_connection_while_stopping_gets_an_error(start_server) -> None:
    server = start_server()
    assert server.process is not None

    async def scenario() -> Event | None:
        async with AsyncClient.from_uri(server.uri) as client:
            await client.write_event(Synthesize(text=LONG_TEXT).event())
            while True:
                event = await asyncio.wait_for(client.read_event(), 120)
                assert event is not None
                if AudioChunk.is_type(event.type):
                    break
            server.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            await client.write_event(Synthesize(text="And one more thing.").event())
            while True:
                event = await asyncio.wait_for(client.read_event(), STOP_LIMIT_S)
                if event is None or Error.is_type(event.type):
                    return event

    event = asyncio.run(scenario())
    assert event is not None, "the refusal is said, not just a closed connection"
    error = Error.from_event(event)
    assert error.code == "shutting-down" and "stopping" in error.text
    assert wait_exit(server, STOP_LIMIT_S)[0] == 0


def test_port_in_use_fails_before_any_model_work(weights_dir: Path) -> None:
    """The port is bound first: a taken port is the one and only message."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--uri", f"tcp://127.0.0.1:{port}", *server_args(weights_dir))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        f"wyoming-kokoro: error: uri: cannot listen on tcp://127.0.0.1:{port}:"
    ), result.stderr
    assert "Warm-up" not in result.stderr and "Loaded Kokoro" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_default_voice_exits_1_with_one_line(weights_dir: Path) -> None:
    result = run_cli(
        "--voice", "zz_nobody", "--uri", "tcp://127.0.0.1:1", *server_args(weights_dir)
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("wyoming-kokoro: error: ") and "zz_nobody" in result.stderr


@pytest.mark.parametrize(("debug", "shows_debug"), [([], False), (["--debug"], True)])
def test_logging_format_and_debug_flag(weights_dir: Path, debug, shows_debug: bool) -> None:
    result = run_cli(
        "--voice",
        "zz_nobody",
        "--log-format",
        "LOG %(levelname)s %(message)s",
        *debug,
        *server_args(weights_dir),
    )
    assert result.returncode == 1
    assert ("LOG DEBUG Settings: " in result.stderr) is shows_debug, result.stderr


def test_health_event_reports_idle_inference(server: ServerProcess) -> None:
    async def ask() -> Event:
        async with AsyncClient.from_uri(server.uri) as client:
            await client.write_event(Event(HEALTH_EVENT))
            event = await asyncio.wait_for(client.read_event(), 5)
            assert event is not None
            return event

    event = asyncio.run(ask())
    assert event.type == HEALTH_EVENT
    assert event.data["healthy"] is True and event.data["stalled_s"] < 1
