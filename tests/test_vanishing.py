"""Vanishing clients: a client that leaves mid-reply frees its work, and leaves nothing behind.

Satellites drop off Wi-Fi, HA restarts, a user talks over an answer: the client's
socket closes while its reply is being rendered or sent. The server must then stop
rendering for it (inference is a single shared thread; work for nobody delays
everyone) and release the connection completely.

Both tests drive a dedicated real server (fixture weights, offline) over raw
sockets with the `wyoming` framing, so a client can vanish at any byte: with a
FIN (`close`) or a RST (`SO_LINGER` 0). What the server holds is read from its
own `kokoro-health` answer (`process`: asyncio tasks, Python threads, open file
descriptors, resident set size from /proc/self/statm) and `jobs_done` (inference
jobs started).

- `test_abandoned_reply_is_dropped`: one client asks for a 12-sentence reply and
  vanishes; the server must be idle again soon, having rendered only the
  sentences that were already under way.
- `test_200_vanishing_clients_leave_no_growth`: after a warm-up, 200 clients in
  waves of 10 connect, send a request (one-shot v1.0/v0.19, streamed, describe)
  and vanish at various points. Tasks and fds must come back to the warm
  baseline exactly, threads within the I/O pool's lazy growth, and RSS must not
  grow by more than `RSS_GROWTH_LIMIT_MIB`; a normal request afterwards is
  served exactly as before.
- `test_vanishing_clients_log_no_tracebacks`: a client leaving is routine, not
  an error: the server log gets no traceback for it.

RSS is a high-water mark: a forward pass's activations scale with the length of
the sentence, and the allocator keeps the peak. Rendering a 5-second sentence for
the first time lifts RSS by hundreds of MB (2.1 -> 3.1 GB on the fixture weights)
without any leak, so the warm-up renders every sentence the clients may ask for,
on both generations, before the baseline is read.

Run with `-s` to see the figures.
"""
# Opt-in for now: the module takes about 7 minutes on a 2-core box, and the 200-client
# test currently measures RSS growing by about 1.7 % (37 MiB of 2.1 GB) over 200
# clients, which is still being investigated. Run with KOKORO_TEST_VANISHING=1.

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from .conftest import ServerProcess, check_audio_format, server_args, synthesize

_OPT_IN = pytest.mark.skipif(
    os.environ.get("KOKORO_TEST_VANISHING") != "1",
    reason="vanishing-client checks are opt-in (KOKORO_TEST_VANISHING=1), ~7 min",
)

pytestmark = [pytest.mark.slow, _OPT_IN]

V10 = "af_heart@v1.0"
V019 = "af_bella@v0.19"
SHORT = "Turn on the kitchen lights."
# Twelve sentences, about a minute of inference on a 2-core CPU if all were spoken.
LONG_REPLY = " ".join(
    [
        "Okay.",
        "Here is the weather for the rest of the week in your area.",
        "Tomorrow will be cloudy in the morning, with sunny spells after lunch.",
        "On Wednesday a band of rain moves in from the west during the afternoon.",
        "Thursday stays wet and windy, with gusts of up to sixty kilometres an hour.",
        "Friday brings a welcome return of sunshine and much calmer winds.",
        "The weekend looks dry, although the nights will be noticeably colder.",
        "Temperatures will reach fourteen degrees on Saturday afternoon.",
        "Sunday should be the warmest day, with highs of around seventeen degrees.",
        "Pollen levels will be moderate for most of the week.",
        "Remember to bring the garden furniture in before Thursday.",
        "That is all for today's forecast.",
    ]
)
LONG_SENTENCES = 12
# What the 200 clients ask for: a short first sentence (the first chunk comes
# quickly), then enough that rendering it for nobody would show (~10 s a client).
VANISH_REPLY = " ".join(
    [
        "Okay.",
        "Here is the weather for the rest of the week in your area.",
        "Tomorrow will be cloudy in the morning, with sunny spells after lunch.",
        "On Wednesday a band of rain moves in from the west during the afternoon.",
    ]
)
CHUNK_CHARS = 8

WAVE_SIZE = 10
"""Clients connected at once: below the server's queued-request limit (16), so each
client gets as far as its vanishing point instead of a `busy` refusal."""
CLIENTS = 200
MAX_JOBS = CLIENTS
"""Inference jobs the 200 clients may start: the 40 that wait for a first chunk need
one each, the others at most the one in flight when they left. Rendering their
replies in full would start about 580 (VANISH_REPLY's four sentences for each of the
100 one-shot clients, three for each of the 60 whole-sentence streams)."""
IDLE_WAIT_S = 60.0
"""Longest the server may stay busy after the last client vanished. The sentence in
flight takes a second, 20 s on a box shared with other test runs; undropped work
for 200 clients would take about ten minutes more."""
THREAD_HEADROOM = 3
"""Threads may exceed the baseline by this much: the server's I/O pool (4 workers for
file checks and downloads) starts its threads lazily, one more each time two checks
overlap, so a warm server has 1 to 4 of them depending on timing. A leak would show
as growth with the number of clients (+200 here), not as +3."""
RSS_GROWTH_LIMIT_MIB = 64
"""RSS after the 200 clients may exceed the warm baseline (~2.3 GB) by at most this
(2.8 %). Measured on the 2-core dev box, after this warm-up: +1.5 MiB and +24 MiB
over 200 clients (the latter one step of +21.5 MiB in the first 100, then +2.6),
+3.3 MiB over 400 clients. Steps of tens of MiB come from the allocator (a new
thread's arena, a big block placed differently), not from the clients: a leak
proportional to the clients fails from about 300 kB a client (six seconds of audio)."""


# -- raw client ---------------------------------------------------------------------


class Conn:
    """One client connection that can vanish at any point."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, uri: str, timeout: float = 10.0) -> Conn:
        parsed = urlparse(uri)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parsed.hostname, parsed.port), timeout
        )
        return cls(reader, writer)

    async def send(self, event: Event) -> None:
        await async_write_event(event, self.writer)

    async def read_until(self, types: set[str], timeout: float = 120.0) -> Event | None:
        """The first event of one of `types`, or an `error`; None if the server closed."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            event = await asyncio.wait_for(async_read_event(self.reader), max(left, 0.001))
            if event is None or event.type in types or event.type == "error":
                return event

    def vanish(self, reset: bool) -> None:
        """Leave without a word: FIN (close), or RST (linger 0, abort)."""
        if reset:
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
        else:
            self.writer.close()


def voice(name: str) -> SynthesizeVoice:
    return SynthesizeVoice(name=name)


async def send_stream(conn: Conn, text: str, name: str) -> None:
    """synthesize-start and the text as 8-character chunks, all at once (no stop)."""
    await conn.send(SynthesizeStart(voice=voice(name)).event())
    for i in range(0, len(text), CHUNK_CHARS):
        await conn.send(SynthesizeChunk(text=text[i : i + CHUNK_CHARS]).event())


async def health(uri: str, timeout: float = 10.0) -> dict[str, Any]:
    """The server's `kokoro-health` answer (its data)."""
    conn = await Conn.open(uri)
    try:
        await conn.send(Event("kokoro-health"))
        event = await conn.read_until({"kokoro-health"}, timeout)
        assert event is not None and event.type == "kokoro-health", event
        return dict(event.data)
    finally:
        conn.vanish(reset=False)


async def wait_idle(
    uri: str, baseline: dict[str, Any] | None, timeout: float
) -> tuple[dict[str, Any], float]:
    """Poll health until no job runs and (given a baseline) tasks and fds are back to it,
    twice in a row 0.3 s apart. Returns the last answer and the seconds waited."""
    started = time.monotonic()
    calm = 0
    while True:
        data = await health(uri)
        proc = data["process"]
        settled = not data["busy"] and (
            baseline is None
            or (proc["tasks"] <= baseline["tasks"] and proc["fds"] <= baseline["fds"])
        )
        calm = calm + 1 if settled else 0
        waited = time.monotonic() - started
        if calm >= 2 or waited > timeout:
            return data, waited
        await asyncio.sleep(0.3)


# -- the server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lone_server(weights_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A server of our own: nobody else's requests may move its counters."""
    proc = ServerProcess(server_args(weights_dir)).start(tmp_path_factory.mktemp("vanishing"))
    yield proc
    proc.stop()


async def warm_up(uri: str) -> dict[str, int]:
    """Full requests of each kind on both generations, VANISH_REPLY in full included,
    so models, voice packs, G2P caches and the allocator's high-water mark are all in
    place; returns the sample count of SHORT per voice (compared afterwards)."""
    samples: dict[str, int] = {}
    for name in (V10, V019):
        for text in (SHORT, VANISH_REPLY):
            reply = await synthesize(uri, text, name)
            assert reply.error is None, reply.error
            samples.setdefault(name, len(reply.audio))
        assert await full_stream(uri, SHORT, name) > 0
    return samples


async def full_stream(uri: str, text: str, name: str) -> int:
    """A complete HA-style stream; returns the audio bytes received."""
    conn = await Conn.open(uri)
    try:
        await send_stream(conn, text, name)
        await conn.send(Synthesize(text=text, voice=voice(name)).event())
        await conn.send(SynthesizeStop().event())
        audio = 0
        while True:
            event = await asyncio.wait_for(async_read_event(conn.reader), 120)
            assert event is not None and event.type != "error", event
            audio += len(event.payload or b"") if event.type == "audio-chunk" else 0
            if event.type == "synthesize-stopped":
                return audio
    finally:
        conn.vanish(reset=False)


# -- one abandoned reply --------------------------------------------------------------


@pytest.mark.parametrize("point", ["after-request", "after-first-chunk", "mid-stream"])
def test_abandoned_reply_is_dropped(lone_server: ServerProcess, point: str) -> None:
    """A 12-sentence reply whose client left costs at most the sentences under way."""

    async def scenario() -> tuple[int, float]:
        uri = lone_server.uri
        await synthesize(uri, SHORT, V10)  # warm (the first test of the module)
        before, _ = await wait_idle(uri, None, IDLE_WAIT_S)
        conn = await Conn.open(uri)
        if point == "mid-stream":
            await send_stream(conn, LONG_REPLY, V10)
        else:
            await conn.send(Synthesize(text=LONG_REPLY, voice=voice(V10)).event())
        if point != "after-request":
            event = await conn.read_until({"audio-chunk"}, 120)
            assert event is not None and event.type == "audio-chunk", event
        conn.vanish(reset=False)
        left = time.monotonic()
        after, _ = await wait_idle(uri, before["process"], IDLE_WAIT_S)
        assert not after["busy"], f"still rendering {IDLE_WAIT_S} s after the client left"
        return after["jobs_done"] - before["jobs_done"], time.monotonic() - left

    rendered, idle_after = asyncio.run(scenario())
    print(f"\n{point}: rendered {rendered}/{LONG_SENTENCES} sentences, idle {idle_after:.1f} s")
    # The first sentence (needed for the first chunk), the one the worker had started
    # when the client left, and one rendered ahead while the first was being sent.
    assert rendered <= 3, f"{rendered} of {LONG_SENTENCES} sentences rendered for nobody"


# -- 200 vanishing clients ----------------------------------------------------------------

# (request, voice, where the client vanishes)
BEHAVIOURS: list[tuple[str, str | None, str]] = [
    ("one-shot", V10, "after-request"),
    ("one-shot", V019, "after-request"),
    ("one-shot", V10, "after-first-chunk"),
    ("stream", V10, "after-request"),  # whole sentences sent, no synthesize-stop
    ("describe", None, "after-request"),  # the 20 kB info is written to a closed socket
    ("stream", V019, "partial-sentence"),  # nothing speakable yet: no inference at all
    ("one-shot", V10, "after-request"),
    ("stream", V019, "after-first-chunk"),  # mid-stream, no synthesize-stop
    ("one-shot", V019, "after-request"),
    ("stream", V10, "after-request"),
]


async def vanishing_client(uri: str, index: int) -> str:
    """Run client `index`'s behaviour; returns how it ended (for the tally)."""
    request, name, point = BEHAVIOURS[index % len(BEHAVIOURS)]
    reset = (index // len(BEHAVIOURS)) % 2 == 1  # every behaviour both ways
    conn = await Conn.open(uri)
    try:
        if request == "describe":
            await conn.send(Describe().event())
        elif request == "one-shot":
            assert name is not None
            await conn.send(Synthesize(text=VANISH_REPLY, voice=voice(name)).event())
        else:
            assert name is not None
            text = "Here is the weather for the" if point == "partial-sentence" else VANISH_REPLY
            await send_stream(conn, text, name)
        if point == "after-first-chunk":
            event = await conn.read_until({"audio-chunk"}, 120)
            if event is None or event.type != "audio-chunk":
                return f"{request}/{point}: got {event.type if event else 'EOF'}"
        return f"{request}/{point}/{'rst' if reset else 'fin'}"
    finally:
        conn.vanish(reset)


async def run_clients(uri: str, indices: range, wave_times: list[float]) -> Counter:
    """The clients `indices` in waves of WAVE_SIZE; each wave's seconds go to `wave_times`."""
    outcomes: Counter = Counter()
    for start in range(indices.start, indices.stop, WAVE_SIZE):
        wave = range(start, min(start + WAVE_SIZE, indices.stop))
        began = time.monotonic()
        results = await asyncio.wait_for(
            asyncio.gather(*(vanishing_client(uri, i) for i in wave), return_exceptions=True),
            180,
        )
        wave_times.append(time.monotonic() - began)
        for result in results:
            outcomes[result if isinstance(result, str) else f"exception {result!r}"] += 1
    return outcomes


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def test_200_vanishing_clients_leave_no_growth(lone_server: ServerProcess) -> None:
    uri = lone_server.uri
    r: dict[str, Any] = {}

    async def scenario() -> None:
        r["samples"] = await warm_up(uri)
        # Two waves of the same clients as below first: lazily made things (I/O pool
        # threads, per-connection code paths) exist before the baseline.
        await run_clients(uri, range(0, 2 * WAVE_SIZE), [])
        r["base"], _ = await wait_idle(uri, None, IDLE_WAIT_S)
        began = time.monotonic()
        waves: list[float] = []
        r["outcomes"] = await run_clients(uri, range(0, CLIENTS // 2), waves)
        r["half"], r["half_wait"] = await wait_idle(uri, r["base"]["process"], IDLE_WAIT_S)
        r["outcomes"] += await run_clients(uri, range(CLIENTS // 2, CLIENTS), waves)
        r["seconds"], r["waves"] = time.monotonic() - began, waves
        r["after"], r["after_wait"] = await wait_idle(uri, r["base"]["process"], IDLE_WAIT_S)
        # Still serving, and exactly as before.
        r["v10"] = await synthesize(uri, SHORT, V10)
        r["v019"] = await synthesize(uri, SHORT, V019)
        r["streamed"] = await full_stream(uri, SHORT, V10)
        r["final"] = await health(uri)

    asyncio.run(scenario())
    base, half, after = (r[k]["process"] for k in ("base", "half", "after"))
    outcomes: Counter = r["outcomes"]
    growth_mib = (after["rss_bytes"] - base["rss_bytes"]) / 2**20
    print(f"\noutcomes: {dict(sorted(outcomes.items()))}")
    print(
        f"{CLIENTS} clients in {r['seconds']:.1f} s (waves of {WAVE_SIZE}: "
        f"{min(r['waves']):.1f}-{max(r['waves']):.1f} s); idle {r['half_wait']:.1f} s and "
        f"{r['after_wait']:.1f} s after the last client; inference jobs started: "
        f"{r['after']['jobs_done'] - r['base']['jobs_done']}"
    )
    for key in ("tasks", "threads", "fds"):
        print(f"{key:8} baseline {base[key]:6}  after 100 {half[key]:6}  after 200 {after[key]:6}")
    print(
        f"rss      baseline {mib(base['rss_bytes'])}  after 100 {mib(half['rss_bytes'])}  "
        f"after 200 {mib(after['rss_bytes'])} ({growth_mib:+.1f} MiB, "
        f"{growth_mib * 2**20 / base['rss_bytes']:+.2%})"
    )

    assert sum(outcomes.values()) == CLIENTS
    short = {k: v for k, v in outcomes.items() if k.count("/") != 2}
    assert not short, f"clients that did not get to their vanishing point: {short}"
    assert not r["after"]["busy"], f"still rendering {IDLE_WAIT_S} s after the last client left"
    jobs = r["after"]["jobs_done"] - r["base"]["jobs_done"]
    assert jobs <= MAX_JOBS, f"{jobs} inference jobs started for {CLIENTS} vanishing clients"
    for key in ("tasks", "fds"):
        assert half[key] == base[key], f"{key}: {base[key]} -> {half[key]} after 100 clients"
        assert after[key] == base[key], f"{key}: {base[key]} -> {after[key]} after 200 clients"
    assert after["threads"] <= base["threads"] + THREAD_HEADROOM, (
        f"threads: {base['threads']} -> {half['threads']} -> {after['threads']}"
    )
    assert growth_mib < RSS_GROWTH_LIMIT_MIB, f"RSS grew {growth_mib:.1f} MiB over 200 clients"

    for name, reply in ((V10, r["v10"]), (V019, r["v019"])):
        assert reply.error is None, reply.error
        assert reply.types[0] == "audio-start" and reply.types[-1] == "audio-stop"
        check_audio_format(reply)
        # Durations are deterministic: the same text and voice, the same length.
        assert len(reply.audio) == r["samples"][name]
    assert r["streamed"] > 0
    assert r["final"]["healthy"]


def test_vanishing_clients_log_no_tracebacks(lone_server: ServerProcess) -> None:
    """Each behaviour, with FIN and with RST: the log stays free of tracebacks."""
    assert lone_server.log_path is not None
    before = lone_server.log_path.stat().st_size

    async def scenario() -> Counter:
        await synthesize(lone_server.uri, SHORT, V10)
        outcomes = await run_clients(lone_server.uri, range(0, 2 * len(BEHAVIOURS)), [])
        await wait_idle(lone_server.uri, None, IDLE_WAIT_S)
        return outcomes

    outcomes = asyncio.run(scenario())
    assert sum(outcomes.values()) == 2 * len(BEHAVIOURS)
    with open(lone_server.log_path, "rb") as log:
        log.seek(before)
        new_lines = log.read().decode(errors="replace")
    noisy = [line for line in new_lines.splitlines() if "Traceback" in line or "ERROR" in line]
    assert not noisy, (
        f"{len(noisy)} error/traceback lines for {sum(outcomes.values())} vanishing clients, "
        f"e.g.:\n{new_lines[new_lines.find(noisy[0]) :][:1500]}"
    )
