"""Streaming synthesis exactly as Home Assistant drives it."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.ping import Ping
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from .conftest import Reply, ServerProcess, check_audio_format, describe, read_until, synthesize

REPLY = (
    "Good morning! It is 7:15 and the outside temperature is 3.5 degrees. "
    "Dr. Smith called about the U.S. trip. You have three meetings today."
)


def chunks(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def stream(
    client: AsyncClient, text: str, voice: str | None = None, delay: float = 0.0
) -> None:
    await client.write_event(
        SynthesizeStart(voice=SynthesizeVoice(name=voice) if voice else None).event()
    )
    for piece in chunks(text):
        await client.write_event(SynthesizeChunk(text=piece).event())
        if delay:
            await asyncio.sleep(delay)


def test_supports_streaming_is_advertised(server: ServerProcess) -> None:
    assert asyncio.run(describe(server.uri)).tts[0].supports_synthesize_streaming


def test_first_sentence_audio_arrives_before_stop_and_copy_is_not_spoken(server) -> None:
    async def scenario() -> tuple[Reply, bool]:
        async with AsyncClient.from_uri(server.uri) as client:
            await stream(client, REPLY, "af_heart", delay=0.04)
            # Nothing more is sent until the first sentence's audio is here.
            first = await asyncio.wait_for(client.read_event(), 60)
            early = first is not None and first.type == "audio-start"
            # HA then sends the full-text copy for old servers, then stops.
            await client.write_event(Synthesize(text=REPLY).event())
            await client.write_event(SynthesizeStop().event())
            rest = await read_until(client, ["synthesize-stopped"])
            return Reply([first, *rest]), early

    reply, early = asyncio.run(scenario())
    assert early, "audio for sentence 1 must arrive before synthesize-stop"
    assert reply.error is None
    assert reply.types[-1] == "synthesize-stopped"
    # Four sentences, each its own audio-start/stop; none split inside 7:15, 3.5, Dr., U.S.
    assert reply.types.count("audio-start") == 4 == reply.types.count("audio-stop")
    check_audio_format(reply)
    one_shot = asyncio.run(synthesize(server.uri, REPLY, "af_heart"))
    # The compat copy was not spoken: streamed audio is about as long as one-shot, not double.
    assert 0.8 * one_shot.seconds <= reply.seconds <= 1.2 * one_shot.seconds


def test_empty_stream_still_answers_stopped(server: ServerProcess) -> None:
    async def scenario() -> list[str]:
        async with AsyncClient.from_uri(server.uri) as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(text="   ").event())
            await client.write_event(SynthesizeStop().event())
            return [e.type for e in await read_until(client, ["synthesize-stopped"], 30)]

    assert asyncio.run(scenario()) == ["synthesize-stopped"]


def test_connection_is_reusable_after_a_stream(server: ServerProcess) -> None:
    async def scenario() -> tuple[list[str], list[str], list[str]]:
        async with AsyncClient.from_uri(server.uri) as client:
            await stream(client, "First stream. Two sentences.")
            await client.write_event(SynthesizeStop().event())
            first = [e.type for e in await read_until(client, ["synthesize-stopped"])]
            await client.write_event(Synthesize(text="Now one shot.").event())
            second = [e.type for e in await read_until(client, ["audio-stop"])]
            await stream(client, "And another stream.")
            await client.write_event(SynthesizeStop().event())
            third = [e.type for e in await read_until(client, ["synthesize-stopped"])]
            return first, second, third

    first, second, third = asyncio.run(scenario())
    assert first.count("audio-start") == 2 and first[-1] == "synthesize-stopped"
    assert second[0] == "audio-start" and second[-1] == "audio-stop"
    assert third.count("audio-start") == 1 and third[-1] == "synthesize-stopped"


def test_ping_and_unknown_events(server: ServerProcess) -> None:
    async def scenario() -> list[str]:
        async with AsyncClient.from_uri(server.uri) as client:
            await client.write_event(Event(type="some-future-event", data={"x": 1}))
            await client.write_event(Ping(text="hi").event())
            return [e.type for e in await read_until(client, ["pong"], 10)]

    assert asyncio.run(scenario()) == ["pong"]


def test_out_of_order_events_get_errors(server: ServerProcess) -> None:
    async def send(events: list[Event]) -> str | None:
        async with AsyncClient.from_uri(server.uri) as client:
            for event in events:
                await client.write_event(event)
            return Reply(await read_until(client, ["synthesize-stopped"], 30)).error

    chunk_first = asyncio.run(send([SynthesizeChunk(text="Hello").event()]))
    assert chunk_first and "without synthesize-start" in chunk_first
    stop_first = asyncio.run(send([SynthesizeStop().event()]))
    assert stop_first and "without synthesize-start" in stop_first
    double = asyncio.run(send([SynthesizeStart().event(), SynthesizeStart().event()]))
    assert double and "already open" in double
    bad_voice = asyncio.run(send([SynthesizeStart(voice=SynthesizeVoice(name="nobody")).event()]))
    assert bad_voice and "unknown voice 'nobody'" in bad_voice


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_disconnect_mid_stream_drops_pending_work(server: ServerProcess) -> None:
    assert server.process is not None
    pid = server.process.pid
    if not Path(f"/proc/{pid}/stat").is_file():
        pytest.skip("measuring the server's CPU time needs Linux /proc")
    sentence = "This is sentence number {} of a long answer."
    asyncio.run(synthesize(server.uri, "Are you still there?"))  # warm
    # What rendering one such sentence costs here, in wall and in CPU time.
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    asyncio.run(synthesize(server.uri, sentence.format(100)))
    one_wall, one_cpu = time.monotonic() - started, cpu_seconds(pid) - cpu_before
    long_reply = " ".join(sentence.format(n) for n in range(20))

    async def abandon() -> None:
        async with AsyncClient.from_uri(server.uri) as client:
            await stream(client, long_reply)
            await client.write_event(SynthesizeStop().event())
            first = await asyncio.wait_for(client.read_event(), 60)
            assert first is not None and first.type == "audio-start"

    asyncio.run(abandon())
    reply = asyncio.run(synthesize(server.uri, "Are you still there?"))
    assert reply.error is None, reply.error
    assert reply.seconds > 0.5
    # The follow-up's latency cannot tell (clients take turns sentence by sentence on the one
    # inference thread), but the server's CPU can: had it kept the ~18 abandoned sentences,
    # it would still be rendering them now, non-stop, at about `one_cpu` per `one_wall`.
    window = min(max(one_wall, 0.5), 3.0)
    cpu_before = cpu_seconds(pid)
    time.sleep(window)
    used = cpu_seconds(pid) - cpu_before
    assert used < max(0.25 * one_cpu, 0.05), (
        f"the server used {used:.2f} s of CPU in {window:.1f} s after the client left "
        f"(one sentence: {one_cpu:.2f} s CPU in {one_wall:.2f} s): it kept rendering"
    )


def test_no_streaming_flag_serves_a_streaming_client_from_its_full_copy(start_server) -> None:
    proc = start_server("--no-streaming")
    assert not asyncio.run(describe(proc.uri)).tts[0].supports_synthesize_streaming

    async def scenario() -> Reply:
        # A client that has not re-read describe streams anyway, as HA does.
        async with AsyncClient.from_uri(proc.uri) as client:
            await stream(client, REPLY)
            await client.write_event(Synthesize(text=REPLY).event())
            await client.write_event(SynthesizeStop().event())
            return Reply(await read_until(client, ["synthesize-stopped"]))

    reply = asyncio.run(scenario())
    assert reply.error is None
    assert reply.types[0] == "audio-start" and reply.types[-1] == "synthesize-stopped"
    assert reply.types.count("audio-start") == 1, "spoken once, from the full-text copy"
    assert reply.seconds > 5
