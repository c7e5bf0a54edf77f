"""A reply's later sentence leads with its pause only when the client's player waits.

The first sentence of a reply always may (`tests/test_lead_in.py`). A later one is
rendered while the earlier ones play, unless the text came slowly, as from an LLM:
then the player has played everything and waits in silence for the next sentence,
which should send its pause ahead too. The clock is a real-time player's that starts
on the first piece (`wyoming_kokoro.playback`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from wyoming.audio import AudioChunk
from wyoming.client import AsyncClient
from wyoming.tts import SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from wyoming_kokoro.cli import parse_settings
from wyoming_kokoro.handlers.tts import HandlerOptions, KokoroEventHandler
from wyoming_kokoro.listener import Listener
from wyoming_kokoro.models.model import KokoroModel
from wyoming_kokoro.playback import PlaybackClock
from wyoming_kokoro.server import make_engine

from .conftest import FakeClock, free_port, server_args

RATE = 24000


def test_the_clock_plays_what_was_rendered_in_real_time() -> None:
    wall = FakeClock()
    clock = PlaybackClock(now=wall)
    assert not clock.played_out(), "nothing has played before the first audio"
    wall.now += 5
    assert not clock.played_out()
    clock.rendered(RATE // 2)  # half a second; the player starts now
    clock.rendered(RATE)  # and one more second, moments later
    wall.now += 1.4
    assert not clock.played_out()
    wall.now += 0.11
    assert clock.played_out(), "1.5 s of audio has played just after 1.5 s"
    clock.rendered(RATE)  # the next sentence's audio: the player has more again
    assert not clock.played_out()
    wall.now += 1
    assert clock.played_out()


def test_an_empty_piece_does_not_start_the_player() -> None:
    wall = FakeClock()
    clock = PlaybackClock(now=wall)
    clock.rendered(0)
    wall.now += 1
    clock.rendered(RATE)
    wall.now += 0.5
    assert not clock.played_out(), "the second started at the first real piece"


FIRST = "The weather today is sunny with a light breeze from the west and the south. "
SECOND = "It is done."


@pytest.fixture
def leads(monkeypatch) -> list[bool]:
    """Each pass the server renders, in order: whether it could lead with its pause."""
    calls: list[bool] = []
    original = KokoroModel.render_pieces

    def spy(self, *args: Any, **kwargs: Any):
        calls.append(kwargs.get("player_idle", False))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(KokoroModel, "render_pieces", spy)
    return calls


async def _read_sentence(client: AsyncClient) -> np.ndarray:
    """One stream sentence's audio: its chunks up to its audio-stop."""
    chunks = []
    while True:
        event = await asyncio.wait_for(client.read_event(), 120)
        assert event is not None and event.type != "error", event
        if AudioChunk.is_type(event.type):
            chunks.append(np.frombuffer(AudioChunk.from_event(event).audio, dtype=np.int16))
        elif event.type == "audio-stop":
            return np.concatenate(chunks)


def _serve_stream(weights_dir, scenario) -> Any:
    settings = parse_settings(server_args(weights_dir), {})
    engine = make_engine(settings)
    options = HandlerOptions(
        streaming=True,
        samples_per_chunk=settings.samples_per_chunk,
        max_text_length=settings.max_text_length,
        first_clause_min_chars=settings.first_clause_chars or None,
    )

    async def run() -> Any:
        port = free_port()
        listener = Listener(
            f"tcp://127.0.0.1:{port}", lambda r, w: KokoroEventHandler(engine, options, r, w)
        )
        await listener.bind()
        try:
            async with AsyncClient.from_uri(f"tcp://127.0.0.1:{port}") as client:
                voice = SynthesizeVoice(name="af_heart@v1.0")
                await client.write_event(SynthesizeStart(voice=voice).event())
                return await scenario(client)
        finally:
            await listener.close(0)

    try:
        return asyncio.run(run())
    finally:
        engine.close()


@pytest.mark.slow
def test_a_stream_sentence_leads_only_when_the_player_has_run_dry(weights_dir, leads) -> None:
    async def slow_llm(client: AsyncClient) -> np.ndarray:
        await client.write_event(SynthesizeChunk(text=FIRST + SECOND[0]).event())
        first = await _read_sentence(client)
        # The LLM is slow: its next words come after the first sentence has played.
        await asyncio.sleep(first.size / RATE + 0.5)
        await client.write_event(SynthesizeChunk(text=SECOND[1:]).event())
        await client.write_event(SynthesizeStop().event())
        return await _read_sentence(client)

    async def fast_llm(client: AsyncClient) -> np.ndarray:
        await client.write_event(SynthesizeChunk(text=FIRST + SECOND).event())
        await client.write_event(SynthesizeStop().event())
        await _read_sentence(client)
        return await _read_sentence(client)

    waited = _serve_stream(weights_dir, slow_llm)
    assert leads == [True, True], "the player had played everything: the pause goes ahead"
    leads.clear()
    played = _serve_stream(weights_dir, fast_llm)
    assert leads == [True, False], "the first sentence was still playing: no lead-in needed"
    # Either way the second sentence is all there and says the same: a lead-in (it goes
    # ahead where this machine makes it quickly enough: tests/test_lead_in.py) only
    # makes its opening pause's noise floor (below -50 dBFS) separately.
    assert waited.size == played.size > 0.5 * RATE
    assert np.abs(played.astype(np.int32)).max() > 3000
    assert np.abs(waited.astype(np.int32) - played).max() < 32768 * 10 ** (-50 / 20)
