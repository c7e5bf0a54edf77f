"""Limits with clear errors: connections, queued requests, waiting time, failing inputs.

Each limit is exercised on a real server process through the real wyoming client; the
failing-input test serves a real engine in-process, with the G2P of one word made to
raise, and checks that only that request fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from wyoming.audio import AudioChunk
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize

from wyoming_kokoro.cli import parse_settings
from wyoming_kokoro.handlers.tts import HandlerOptions, KokoroEventHandler
from wyoming_kokoro.listener import Listener
from wyoming_kokoro.server import make_engine

from .conftest import free_port, server_args, synthesize

LONG_TEXT = " ".join(f"This is sentence number {n}." for n in range(1, 21))


async def next_event(client: AsyncClient, timeout: float = 120) -> Event | None:
    return await asyncio.wait_for(client.read_event(), timeout)


async def first_audio(client: AsyncClient) -> None:
    while True:
        event = await next_event(client)
        assert event is not None
        if AudioChunk.is_type(event.type):
            return


async def error_of(client: AsyncClient, timeout: float = 30) -> Error:
    while True:
        event = await next_event(client, timeout)
        assert event is not None, "the server closed without saying why"
        if Error.is_type(event.type):
            return Error.from_event(event)


@asynccontextmanager
async def connected(uri: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient.from_uri(uri) as client:
        yield client


def test_connections_over_the_limit_are_told_busy_and_closed(start_server) -> None:
    server = start_server("--max-connections", "2")

    async def served(stack: AsyncExitStack) -> AsyncClient:
        """A connection the server serves (the start-up probe's may still be closing)."""
        for _ in range(50):
            client = await stack.enter_async_context(connected(server.uri))
            await client.write_event(Describe().event())
            event = await next_event(client, 5)
            if event is not None and Info.is_type(event.type):
                return client
            assert event is not None and Error.from_event(event).code == "busy"
            await asyncio.sleep(0.1)
        raise AssertionError("the server never served a connection")

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            held = [await served(stack), await served(stack)]
            async with connected(server.uri) as extra:
                error = await error_of(extra, 5)
                assert error.code == "busy" and "2 connections are open (limit 2)" in error.text
                assert await next_event(extra, 5) is None, "then the connection is closed"
            await held[0].disconnect()
            for _ in range(50):  # the server notices the close and frees the place
                async with connected(server.uri) as again:
                    await again.write_event(Describe().event())
                    event = await next_event(again, 5)
                    if event is not None and Info.is_type(event.type):
                        return
                await asyncio.sleep(0.1)
            raise AssertionError("a freed connection place was never reused")

    asyncio.run(scenario())


def test_new_request_while_the_queue_is_full_is_busy_at_once(start_server) -> None:
    server = start_server("--max-queued-requests", "1")

    async def scenario() -> None:
        async with connected(server.uri) as first, connected(server.uri) as second:
            await first.write_event(Synthesize(text=LONG_TEXT).event())
            await first_audio(first)  # its other sentences are queued now
            started = time.monotonic()
            await second.write_event(Synthesize(text="Turn on the lights.").event())
            error = await error_of(second)
            assert time.monotonic() - started < 5, "refused at once, not after waiting"
            assert error.code == "busy" and "(limit 1)" in error.text
            await first_audio(first)  # the admitted request goes on

    asyncio.run(scenario())


def test_a_sentence_that_cannot_get_a_turn_in_time_fails_as_busy(start_server) -> None:
    # fp32 pinned: bf16 on a CPU with AMX renders several times faster than this one.
    server = start_server("--max-wait", "1", "--precision", "fp32")
    # One sentence of about 370 phonemes (one pass, under the 510-token limit): rendering
    # it takes several seconds on any CPU. The second client's first sentence may run at a
    # pause point inside that pass; its second sentence must wait for the rest of it.
    long_sentence = (
        "This single sentence goes on and on, through clause after clause, with commas and "
        "more words than anyone would say in one breath, winding past the kitchen, the hallway "
        "and the garden, around the garage where the old bicycles wait, over the hill where the "
        "wind turbines turn slowly, and back along the river to the house, so that rendering it "
        "takes a long while on any computer"
    )

    async def scenario() -> None:
        # Warm first: a request that waits behind the start-up warm-up (model load, first
        # pass) for over a second is busy too; this test is about another client's pass.
        for _ in range(60):
            reply = await synthesize(server.uri, "Hello.")
            if reply.audio:
                break
            assert reply.error is not None and "waited 1 s" in reply.error
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the server never finished its start-up warm-up")
        async with connected(server.uri) as first, connected(server.uri) as second:
            await first.write_event(Synthesize(text=f"{long_sentence}. {LONG_TEXT}").event())
            await asyncio.sleep(0.3)  # the long sentence is being rendered
            await second.write_event(Synthesize(text=LONG_TEXT).event())
            error = await error_of(second)
            assert error.code == "busy" and "waited 1 s for synthesis" in error.text
            await first_audio(first)  # the request that had its turn goes on

    asyncio.run(scenario())


def test_an_input_that_breaks_the_g2p_fails_only_its_own_request(weights_dir) -> None:
    settings = parse_settings(server_args(weights_dir), {})
    engine = make_engine(settings)
    options = HandlerOptions(streaming=True, samples_per_chunk=1024, max_text_length=1000)

    async def scenario() -> None:
        port = free_port()
        uri = f"tcp://127.0.0.1:{port}"
        listener = Listener(uri, lambda r, w: KokoroEventHandler(engine, options, r, w))
        await listener.bind()
        try:
            await engine.warm_up()
            model_layer = engine.manager._models["v1.0"]  # loaded by the warm-up
            g2p = model_layer.phonemizer("a")

            def fragile(text: str) -> str:
                if "zyzzyva" in text:
                    raise RuntimeError("the G2P fell over")
                return g2p(text)

            model_layer._phonemizers["a"] = fragile
            broken = await synthesize(uri, "A zyzzyva is a weevil.", "af_heart")
            assert broken.error is not None and "the G2P fell over" in broken.error
            fine = await synthesize(uri, "Turn on the kitchen lights.", "af_heart")
            assert fine.error is None and fine.seconds > 1
        finally:
            await listener.close(0)

    try:
        asyncio.run(scenario())
    finally:
        engine.close()


def test_silent_and_stalled_connections_are_closed_busy_ones_are_not(start_server) -> None:
    server = start_server("--idle-timeout", "5")
    text = " ".join(f"Sentence number {n} is here." for n in range(1, 9))

    async def scenario() -> None:
        started = time.monotonic()  # no connection's idle clock can start before this
        async with (
            connected(server.uri) as silent,
            connected(server.uri) as stalled,
            connected(server.uri) as listening,
        ):
            assert stalled._writer is not None
            stalled._writer.write(b'{"type": "descr')  # half a frame, then nothing
            await stalled._writer.drain()
            await listening.write_event(Synthesize(text=text).event())
            for client in (silent, stalled):
                error = await error_of(client, 30)
                assert error.code == "idle-timeout" and "sent nothing for 5 s" in error.text
                assert 4.9 <= time.monotonic() - started < 30
                assert await next_event(client, 5) is None, "then the connection is closed"
            # Rendering 8 sentences takes longer than 5 s; a client being spoken to stays.
            types = []
            while (event := await next_event(listening)) is not None:
                types.append(event.type)
                if event.type in ("audio-stop", "error"):
                    break
            assert types[-1] == "audio-stop", types[-3:]

    asyncio.run(scenario())
