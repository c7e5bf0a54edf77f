"""The health check: healthy only while describe answers and inference makes progress.

The wedge test serves a real engine and handler on a loopback socket and runs the
installed `wyoming-kokoro-healthcheck` command against it; the only stand-in is the
model lease, which blocks the way a wedged device or deadlocked library would.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize

from wyoming_kokoro.cli import parse_settings
from wyoming_kokoro.handlers.tts import HandlerOptions, KokoroEventHandler
from wyoming_kokoro.health import HEALTH_EVENT, InferenceWatch
from wyoming_kokoro.listener import Listener
from wyoming_kokoro.server import make_engine

from .conftest import free_port, server_args

# The console script beside this interpreter (the venv may not be on PATH).
HEALTHCHECK = str(Path(sys.executable).with_name("wyoming-kokoro-healthcheck"))
if not Path(HEALTHCHECK).exists():
    HEALTHCHECK = shutil.which("wyoming-kokoro-healthcheck") or HEALTHCHECK


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_watch_is_healthy_while_jobs_progress_and_unhealthy_when_one_stalls() -> None:
    clock = FakeClock()
    watch = InferenceWatch(stall_timeout=60, clock=clock)
    assert watch.health().healthy and not watch.health().busy
    watch.started()
    clock.now += 50
    watch.progressed()  # a forward pass finished: the job is alive
    clock.now += 50
    health = watch.health()
    assert health.healthy and health.busy and health.stalled_s == 50
    clock.now += 11
    health = watch.health()
    assert not health.healthy
    assert health.detail == "inference made no progress for 61 s (limit 60 s)"
    watch.finished()
    assert watch.health().healthy and watch.health().jobs_done == 1


def test_idle_time_is_not_a_stall() -> None:
    clock = FakeClock()
    watch = InferenceWatch(stall_timeout=1, clock=clock)
    watch.started()
    watch.finished()
    clock.now += 3600
    watch.progressed()  # a late callback after the job ended changes nothing
    assert watch.health().healthy and watch.health().stalled_s == 0


async def run_healthcheck(port: int, timeout: float = 5) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *(HEALTHCHECK, "--uri", f"tcp://127.0.0.1:{port}", "--timeout", str(timeout)),
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, stderr.decode()


# -- against servers that answer wrongly ---------------------------------------------------


def _info() -> Event:
    attribution = Attribution(name="test", url="https://example.org")
    program = TtsProgram(
        name="kokoro",
        description="t",
        attribution=attribution,
        installed=True,
        version="0",
        voices=[],
    )
    return Info(tts=[program]).event()


class Scripted(AsyncEventHandler):
    """Answers each event type with a fixed event; unknown types get nothing."""

    def __init__(self, answers: dict[str, Event], *args: Any) -> None:
        super().__init__(*args)
        self.answers = answers

    async def handle_event(self, event: Event) -> bool:
        if event.type in self.answers:
            await self.write_event(self.answers[event.type])
            return True
        return event.type == HEALTH_EVENT and Describe().event().type in self.answers


@pytest.mark.parametrize(
    ("answers", "status", "says"),
    [
        ({"describe": _info(), HEALTH_EVENT: Event(HEALTH_EVENT, {"healthy": True})}, 0, ""),
        ({}, 1, "without answering describe"),
        ({"describe": _info()}, 1, "no answer within"),
        (
            {"describe": _info(), HEALTH_EVENT: Event(HEALTH_EVENT, {"healthy": False})},
            1,
            "inference reported unhealthy",
        ),
        (None, 1, "unhealthy"),
    ],
    ids=["healthy", "closes", "no-health-answer", "reports-unhealthy", "nothing-listening"],
)
def test_healthcheck_command(answers: dict[str, Event] | None, status: int, says: str) -> None:
    async def scenario() -> tuple[int, str]:
        port = free_port()
        if answers is None:
            return await run_healthcheck(port)
        server = await asyncio.start_server(
            lambda r, w: asyncio.ensure_future(Scripted(answers, r, w).run()), "127.0.0.1", port
        )
        async with server:
            return await run_healthcheck(port, timeout=2)

    code, stderr = asyncio.run(scenario())
    assert code == status, stderr
    assert says in stderr


# -- a real engine whose inference wedges --------------------------------------------------


@contextlib.contextmanager
def wedged_lease(release: threading.Event) -> Iterator[Any]:
    release.wait(60)
    raise RuntimeError("the device came back with an error")
    yield  # pragma: no cover - a generator-based context manager needs a yield


def test_wedged_inference_makes_the_healthcheck_fail(weights_dir) -> None:
    settings = parse_settings(server_args(weights_dir), {})
    engine = make_engine(settings)
    engine.watch.stall_timeout = 1.0
    release = threading.Event()
    engine.manager.lease = lambda version: wedged_lease(release)  # type: ignore[method-assign]
    options = HandlerOptions(streaming=True, samples_per_chunk=1024, max_text_length=1000)

    async def scenario() -> None:
        port = free_port()
        listener = Listener(
            f"tcp://127.0.0.1:{port}",
            lambda r, w: KokoroEventHandler(engine, options, r, w),
        )
        await listener.bind()
        try:
            assert await run_healthcheck(port) == (0, "")
            async with AsyncClient.from_uri(f"tcp://127.0.0.1:{port}") as client:
                await client.write_event(Synthesize(text="Hello there.").event())
                await asyncio.sleep(1.5)
                code, stderr = await run_healthcheck(port)
                assert code == 1
                assert "inference made no progress for" in stderr, stderr
                release.set()
                reply = await asyncio.wait_for(client.read_event(), 30)
                assert reply is not None and reply.type == "error", "the job failed visibly"
            assert await run_healthcheck(port) == (0, "")
        finally:
            release.set()
            await listener.close(0)

    try:
        asyncio.run(scenario())
    finally:
        engine.close()


def test_healthcheck_does_not_import_torch() -> None:
    """It runs every 30 s on small boards: importing torch would cost seconds each time."""
    code = "import sys, wyoming_kokoro.healthcheck; print('torch' in sys.modules)"
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
