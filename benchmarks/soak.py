#!/usr/bin/env python3
"""Soak test: mixed Home Assistant-like load for a while, then errors, latency and leaks.

Starts `python -m wyoming_kokoro` on the offline fixture weights (built by
../shared/tools/test_weights.py), like benchmarks/latency.py, or drives a running
server given with --uri. A few concurrent client loops (--concurrency) each pick
their next request from a seeded mix (--seed):

  one-shot-v1.0, one-shot-v0.19  `synthesize` of a 1-3 sentence reply, English voices
  stream-v1.0, stream-v0.19      HA-style: synthesize-start, 8-character chunks every
                                 40 ms, the full-text `synthesize` copy, synthesize-stop
  describe                       `describe` -> `info`
  disconnect                     a long reply, then the client vanishes (FIN or RST):
                                 right after sending, after the first audio chunk, or
                                 mid-stream without synthesize-stop
  bad-frame                      a header that is not JSON, or one with a negative
                                 payload_length
  blend                          voice `af_bella+af_sky`

Each request's outcome is `ok`, `expected` (a refusal the server is meant to give
now) or `unexpected` (anything else: a timeout, a dropped connection, an `error` on
a valid request, audio in the wrong format, no audio). Expected, per kind:

- bad-frame: an `error` event; until the server checks frames, also the connection
  closed without a word (not-JSON) or the event served as if the length were 0
  (negative length). --strict-frames accepts only the `error`.
- blend: an `error` naming an unknown voice (`expected-until-blends`) until blends
  are implemented; --blends expects audio instead.
- disconnect: the client got as far as it meant to before vanishing.

Before the clock starts, a warm-up: every voice of the mix, the longest texts in
full on both generations, each kind once, then --warmup-minutes (1) of the mix.
RSS is a high-water mark (a forward pass's activations grow with the sentence;
the allocator keeps the peak, or gives some of it back), so the start and end
figures are both read the same way: idle, one short one-shot per generation, idle
again (the end one doubles as the check that the server still serves normally).

Every --report-every seconds (60) a progress line; at the end the requests served
by kind, outcomes by kind (with the messages of unexpected ones), time to first
audio (TTFA: from the request, for streams from the first chunk sent) p50/p99 per
kind, and the server's own `kokoro-health` process figures (asyncio tasks,
threads, open fds, RSS) at the start and at the end, plus the RSS range and trend
(least squares, MiB/h) over the progress samples.

Exit status: 0 when there was no unexpected outcome and RSS grew by less than
--max-rss-growth (5 %); 1 otherwise; 2 when the server died, stopped answering or
could not be started (reported with the tail of its log when we started it).
Every read has a timeout, so a dead or wedged server ends the run with a report
(our own server: within a second of its exit; any server: after
HEALTH_FAILURES_FATAL unanswered health checks), never a hang. Ctrl-C stops the
load early and still reports.

Usage: python benchmarks/soak.py --minutes 20 [--uri tcp://HOST:PORT]
           [--concurrency 3] [--seed 1] [--json out.json] [--blends] [--strict-frames]
           [--warmup-minutes 1] [--think 0.2] [-- extra server arguments]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fixture_server import launch_server
from wyoming.event import Event, async_read_event, async_write_event

SAMPLE_RATE, SAMPLE_WIDTH, CHANNELS = 24000, 2, 1
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 150.0
"""Longest wait for the next event of a reply (one sentence, queued behind the other
clients' sentences on the single inference thread). Above the server's own limit on
a job's wait (120 s), so an overloaded server's `busy` error arrives before this."""
REQUEST_TIMEOUT = 600.0
"""Longest one request may take in all."""
BAD_FRAME_TIMEOUT = 10.0
HEALTH_TIMEOUT = 10.0
HEALTH_FAILURES_FATAL = 3
"""Consecutive unanswered health checks after which the server counts as dead."""
IDLE_WAIT = 120.0
CHUNK_CHARS = 8
CHUNK_INTERVAL = 0.040
BLEND_VOICE = "af_bella+af_sky"

# Weights of the mix (relative).
MIX = {
    "one-shot-v1.0": 22,
    "one-shot-v0.19": 14,
    "stream-v1.0": 14,
    "stream-v0.19": 8,
    "describe": 10,
    "disconnect": 14,
    "bad-frame": 8,
    "blend": 10,
}
# English voices of each generation, used if the server lists them as installed.
VOICES = {
    "v1.0": ["af_heart", "af_bella", "af_sky", "am_adam", "bf_emma", "bm_george"],
    "v0.19": ["af_bella", "af_sky", "am_adam", "bf_emma", "bm_lewis"],
}
REPLIES = [
    "Turn on the kitchen lights.",
    "The living room lights are off.",
    "It is twelve degrees outside and cloudy.",
    "Okay. The timer is set for ten minutes.",
    "Good morning! You have three meetings today, the first one at nine thirty.",
    "The front door is locked. The garage door is open, do you want me to close it?",
    "I have added milk, eggs and bread to your shopping list.",
    "Sorry, I could not find a device called hallway lamp.",
    "The washing machine will be done in about twenty minutes.",
    "Playing the news on the kitchen speaker.",
]
LLM_ANSWERS = [
    "Sure! Tomorrow will be mostly sunny with a high of eighteen degrees. "
    "In the evening a light breeze comes in from the west. Perfect weather for a walk.",
    "The robot vacuum finished cleaning the ground floor twenty minutes ago. "
    "Its dust bin is almost full, so you may want to empty it before the next run.",
    "Here is a quick recipe: boil the pasta for nine minutes. Meanwhile, fry garlic in "
    "olive oil, add the tomatoes and simmer. Mix everything and serve with basil.",
    "Your energy use today was eleven kilowatt hours, a little less than yesterday. "
    "Most of it went to the heat pump during the cold morning hours.",
]
LONG_TEXT = " ".join(LLM_ANSWERS)


# -- a raw client connection ----------------------------------------------------------


class Conn:
    """One connection, read with a timeout on every event; can vanish with FIN or RST."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, uri: str) -> Conn:
        parsed = urlparse(uri)
        if parsed.scheme == "unix":
            opened = asyncio.open_unix_connection(parsed.path)
        else:
            opened = asyncio.open_connection(parsed.hostname, parsed.port)
        reader, writer = await asyncio.wait_for(opened, CONNECT_TIMEOUT)
        return cls(reader, writer)

    async def send(self, event: Event) -> None:
        await asyncio.wait_for(async_write_event(event, self.writer), READ_TIMEOUT)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), READ_TIMEOUT)

    async def read(self, timeout: float = READ_TIMEOUT) -> Event | None:
        """The next event; None when the server closed; TimeoutError when it is silent."""
        return await asyncio.wait_for(async_read_event(self.reader), timeout)

    def close(self, reset: bool = False) -> None:
        if reset:
            with contextlib.suppress(OSError):
                sock = self.writer.get_extra_info("socket")
                if sock is not None and sock.family != socket.AF_UNIX:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
        else:
            self.writer.close()


def synthesize_event(text: str, voice: str | None) -> Event:
    data: dict[str, Any] = {"text": text}
    if voice:
        data["voice"] = {"name": voice}
    return Event("synthesize", data)


def start_event(voice: str) -> Event:
    return Event("synthesize-start", {"voice": {"name": voice}})


# -- outcomes -----------------------------------------------------------------------------


class Unexpected(Exception):
    """The request went wrong: label (short, for counting) and message (details)."""

    def __init__(self, label: str, message: str) -> None:
        super().__init__(message)
        self.label = label


@dataclass
class Outcome:
    kind: str
    status: str  # "ok" | "expected" | "unexpected"
    label: str
    ttfa: float | None = None
    message: str = ""
    audio_s: float = 0.0


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)
    unexpected: Counter = field(default_factory=Counter)
    """(kind, label, message) of unexpected outcomes -> how many."""
    first_seen: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def add(self, outcome: Outcome, elapsed: float) -> None:
        self.outcomes.append(outcome)
        if outcome.status == "unexpected":
            key = (outcome.kind, outcome.label, outcome.message)
            self.unexpected[key] += 1
            self.first_seen.setdefault(key, elapsed)

    @property
    def messages(self) -> list[str]:
        return [
            f"{n} x {kind} {label}: {message} (first at {clock(self.first_seen[key])})"
            for key, n in self.unexpected.most_common()
            for kind, label, message in [key]
        ]

    def counts(self) -> dict[str, Counter]:
        by_kind: dict[str, Counter] = defaultdict(Counter)
        for o in self.outcomes:
            by_kind[o.kind][f"{o.status}:{o.label}"] += 1
        return by_kind

    def total(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def ttfa(self, kind: str | None = None) -> list[float]:
        """TTFA of every request of `kind` that got audio (unexpected ones excluded)."""
        return [
            o.ttfa
            for o in self.outcomes
            if o.ttfa is not None and (kind is None or o.kind == kind) and o.status != "unexpected"
        ]


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def clock(seconds: float) -> str:
    return f"{int(seconds // 60):2d}:{int(seconds % 60):02d}"


# -- the requests -----------------------------------------------------------------------


def check_audio_event(event: Event) -> None:
    data = event.data or {}
    fmt = (data.get("rate"), data.get("width"), data.get("channels"))
    if fmt != (SAMPLE_RATE, SAMPLE_WIDTH, CHANNELS):
        raise Unexpected("bad-format", f"{event.type} declares rate/width/channels {fmt}")
    if event.type == "audio-chunk" and len(event.payload or b"") % SAMPLE_WIDTH:
        raise Unexpected("bad-format", f"audio-chunk of {len(event.payload or b'')} bytes")


async def read_reply(conn: Conn, started: float, streamed: bool) -> tuple[float, float]:
    """Read one reply (a one-shot's audio, or a stream up to synthesize-stopped).

    Returns (TTFA, audio seconds). Raises Unexpected for anything a valid request
    must not get."""
    first: float | None = None
    samples = 0
    open_audio = False
    while True:
        try:
            event = await conn.read()
        except asyncio.TimeoutError:
            raise Unexpected("timeout", f"no event for {READ_TIMEOUT:.0f} s") from None
        if event is None:
            raise Unexpected("closed", "the server closed the connection mid-reply")
        if event.type == "error":
            data = event.data or {}
            raise Unexpected(f"error:{data.get('code')}", str(data.get("text")))
        if event.type == "audio-start":
            if open_audio:
                raise Unexpected("protocol", "audio-start inside an open audio-start")
            check_audio_event(event)
            open_audio = True
        elif event.type == "audio-chunk":
            if not open_audio:
                raise Unexpected("protocol", "audio-chunk outside audio-start/stop")
            check_audio_event(event)
            if first is None:
                first = time.perf_counter() - started
            samples += len(event.payload or b"") // SAMPLE_WIDTH
        elif event.type == "audio-stop":
            if not open_audio:
                raise Unexpected("protocol", "audio-stop without audio-start")
            open_audio = False
            if not streamed:
                break
        elif event.type == "synthesize-stopped":
            if not streamed or open_audio:
                raise Unexpected("protocol", "synthesize-stopped out of place")
            break
    if first is None or samples == 0:
        raise Unexpected("no-audio", "the reply had no audio")
    return first, samples / SAMPLE_RATE


async def one_shot(uri: str, kind: str, text: str, voice: str) -> Outcome:
    conn = await Conn.open(uri)
    try:
        started = time.perf_counter()
        await conn.send(synthesize_event(text, voice))
        ttfa, audio = await read_reply(conn, started, streamed=False)
        return Outcome(kind, "ok", "served", ttfa, audio_s=audio)
    finally:
        conn.close()


async def streamed(uri: str, kind: str, text: str, voice: str) -> Outcome:
    """HA's streaming: chunks every 40 ms while the reply is read concurrently."""
    conn = await Conn.open(uri)
    reader: asyncio.Task | None = None
    try:
        await conn.send(start_event(voice))
        started = time.perf_counter()
        reader = asyncio.create_task(read_reply(conn, started, streamed=True))
        try:
            for i in range(0, len(text), CHUNK_CHARS):
                if reader.done():
                    break  # the server answered early (an error): stop sending
                await conn.send(Event("synthesize-chunk", {"text": text[i : i + CHUNK_CHARS]}))
                await asyncio.sleep(CHUNK_INTERVAL)
            if not reader.done():
                await conn.send(synthesize_event(text, voice))  # HA's copy for old servers
                await conn.send(Event("synthesize-stop"))
        except OSError:
            # The server closed on us: what it said before (an error) is the better report.
            await asyncio.wait([reader], timeout=1.0)
            if not reader.done():
                raise
        ttfa, audio = await reader
        return Outcome(kind, "ok", "served", ttfa, audio_s=audio)
    finally:
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        conn.close()


async def describe(uri: str) -> Outcome:
    conn = await Conn.open(uri)
    try:
        started = time.perf_counter()
        await conn.send(Event("describe"))
        while True:
            try:
                event = await conn.read()
            except asyncio.TimeoutError:
                raise Unexpected("timeout", "no info") from None
            if event is None:
                raise Unexpected("closed", "closed before info")
            if event.type == "info":
                tts = (event.data or {}).get("tts") or []
                if not tts or not tts[0].get("voices"):
                    raise Unexpected("protocol", "info without a TTS program or voices")
                return Outcome("describe", "ok", "served", time.perf_counter() - started)
            if event.type == "error":
                raise Unexpected("error", str((event.data or {}).get("text")))
    finally:
        conn.close()


async def disconnect(uri: str, rng: random.Random, voices: dict[str, list[str]]) -> Outcome:
    """A client that leaves: right after its request, after the first chunk, mid-stream."""
    version = rng.choice(["v1.0", "v0.19"])
    voice = f"{rng.choice(voices[version])}@{version}"
    point = rng.choice(["after-request", "after-first-chunk", "mid-stream"])
    reset = rng.random() < 0.5
    conn = await Conn.open(uri)
    try:
        started = time.perf_counter()
        if point == "mid-stream":
            await conn.send(start_event(voice))
            for i in range(0, len(LONG_TEXT), CHUNK_CHARS):
                await conn.send(Event("synthesize-chunk", {"text": LONG_TEXT[i : i + CHUNK_CHARS]}))
        else:
            await conn.send(synthesize_event(LONG_TEXT, voice))
        ttfa = None
        if point != "after-request":
            while True:
                try:
                    event = await conn.read()
                except asyncio.TimeoutError:
                    raise Unexpected("timeout", f"no audio for {READ_TIMEOUT:.0f} s") from None
                if event is None:
                    raise Unexpected("closed", "closed before the first audio chunk")
                if event.type == "error":
                    raise Unexpected("error", str((event.data or {}).get("text")))
                if event.type == "audio-chunk":
                    ttfa = time.perf_counter() - started
                    break
        return Outcome("disconnect", "expected", f"vanished-{point}", ttfa)
    finally:
        conn.close(reset)


NOT_JSON = b"this is not a wyoming event {\n"
NEGATIVE_LENGTH = b'{"type": "describe", "data": {}, "payload_length": -1}\n'


async def bad_frame(uri: str, rng: random.Random, strict: bool) -> Outcome:
    """A frame that is not a Wyoming event: answered with `error`, then closed."""
    variant = rng.choice(["not-json", "negative-length"])
    conn = await Conn.open(uri)
    try:
        await conn.send_raw(NOT_JSON if variant == "not-json" else NEGATIVE_LENGTH)
        try:
            event = await conn.read(BAD_FRAME_TIMEOUT)
        except ConnectionResetError:
            event = None  # closed (with a RST) without a word
        except asyncio.TimeoutError:
            raise Unexpected(
                f"{variant}:hang", f"no answer and not closed within {BAD_FRAME_TIMEOUT:.0f} s"
            ) from None
        except (ValueError, asyncio.IncompleteReadError) as err:
            raise Unexpected(f"{variant}:garbled", f"unreadable answer: {err!r}") from None
        if event is not None and event.type == "error":
            # ... and then the connection is closed.
            try:
                rest = await conn.read(BAD_FRAME_TIMEOUT)
            except ConnectionResetError:
                rest = None
            except asyncio.TimeoutError:
                rest = Event("still-open")
            if rest is not None:
                raise Unexpected(f"{variant}:not-closed", f"after the error: {rest.type}")
            return Outcome("bad-frame", "expected", f"{variant}:error")
        if strict:
            got = event.type if event is not None else "the connection closed without a word"
            raise Unexpected(f"{variant}:no-error", f"expected an error event, got {got}")
        if event is None:
            return Outcome("bad-frame", "expected", f"{variant}:closed-silently")
        if variant == "negative-length" and event.type == "info":
            return Outcome("bad-frame", "expected", f"{variant}:served-as-zero")
        raise Unexpected(f"{variant}:answered", f"answered {event.type}")
    finally:
        conn.close()


async def blend(uri: str, rng: random.Random, blends: bool) -> Outcome:
    """`af_bella+af_sky`: an unknown voice until blends exist; audio with --blends."""
    text = rng.choice(REPLIES)
    conn = await Conn.open(uri)
    try:
        started = time.perf_counter()
        await conn.send(synthesize_event(text, BLEND_VOICE))
        try:
            ttfa, audio = await read_reply(conn, started, streamed=False)
        except Unexpected as err:
            if not blends and err.label.startswith("error") and "unknown voice" in str(err):
                return Outcome("blend", "expected", "expected-until-blends")
            raise
        if blends:
            return Outcome("blend", "ok", "served", ttfa, audio_s=audio)
        return Outcome(
            "blend", "ok", "served-run-with--blends", ttfa, "blends now work: pass --blends"
        )
    finally:
        conn.close()


async def run_one(
    kind: str, uri: str, rng: random.Random, voices: dict[str, list[str]], args: argparse.Namespace
) -> Outcome:
    """One request of `kind`; every failure becomes an `unexpected` outcome."""
    try:
        if kind.startswith(("one-shot", "stream")):
            version = kind.rsplit("-", 1)[1]
            voice = f"{rng.choice(voices[version])}@{version}"
            if kind.startswith("one-shot"):
                coro = one_shot(uri, kind, rng.choice(REPLIES), voice)
            else:
                coro = streamed(uri, kind, rng.choice(LLM_ANSWERS), voice)
        elif kind == "describe":
            coro = describe(uri)
        elif kind == "disconnect":
            coro = disconnect(uri, rng, voices)
        elif kind == "bad-frame":
            coro = bad_frame(uri, rng, args.strict_frames)
        elif kind == "blend":
            coro = blend(uri, rng, args.blends)
        else:
            raise AssertionError(kind)
        return await asyncio.wait_for(coro, REQUEST_TIMEOUT)
    except Unexpected as err:
        return Outcome(kind, "unexpected", err.label, message=str(err))
    except asyncio.TimeoutError:
        return Outcome(kind, "unexpected", "timeout", message=f"over {REQUEST_TIMEOUT:.0f} s")
    except (OSError, asyncio.IncompleteReadError) as err:
        label = "connect" if isinstance(err, ConnectionRefusedError) else "connection"
        return Outcome(kind, "unexpected", label, message=repr(err))
    except ValueError as err:  # a frame from the server that does not parse
        return Outcome(kind, "unexpected", "garbled", message=repr(err))
    except Exception as err:  # a bug here, not in the server: report it, keep going
        return Outcome(kind, "unexpected", "client-bug", message=repr(err))


# -- health -----------------------------------------------------------------------------


async def health(uri: str) -> dict[str, Any]:
    """The server's `kokoro-health` data; raises on no answer."""
    conn = await Conn.open(uri)
    try:
        await conn.send(Event("kokoro-health"))
        while True:
            event = await conn.read(HEALTH_TIMEOUT)
            if event is None:
                raise ConnectionError("closed before the kokoro-health answer")
            if event.type == "kokoro-health":
                return dict(event.data or {})
            if event.type == "error":
                raise ConnectionError(f"kokoro-health refused: {event.data}")
    finally:
        conn.close()


async def wait_idle(
    uri: str, timeout: float, baseline: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Health once no job runs (and, given a baseline health, tasks and fds are down to
    it) for two polls in a row; at most `timeout` s."""
    deadline = time.monotonic() + timeout
    calm = 0
    while True:
        data = await health(uri)
        settled = not data.get("busy")
        if baseline is not None:
            now, then = proc_figures(data), proc_figures(baseline)
            settled = settled and now["tasks"] <= then["tasks"] and now["fds"] <= then["fds"]
        calm = calm + 1 if settled else 0
        if calm >= 2 or time.monotonic() > deadline:
            return data
        await asyncio.sleep(0.5)


def proc_figures(data: dict[str, Any] | None) -> dict[str, int]:
    process = (data or {}).get("process") or {}
    return {k: int(process.get(k, -1)) for k in ("tasks", "threads", "fds", "rss_bytes")}


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 0 else "?"


# -- the soak ---------------------------------------------------------------------------


class ServerDied(Exception):
    pass


@dataclass
class Soak:
    uri: str
    args: argparse.Namespace
    server: subprocess.Popen | None
    voices: dict[str, list[str]]
    tally: Tally = field(default_factory=Tally)
    warmup: Tally = field(default_factory=Tally)
    started: float = 0.0
    dead: str | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    samples: list[dict[str, Any]] = field(default_factory=list)
    phase: str = "warm-up"
    start_rss: int = -1

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    async def client_loop(self, name: str, deadline: float, tally: Tally) -> None:
        rng = random.Random(f"{self.args.seed}:{name}")
        kinds, weights = zip(*MIX.items(), strict=True)
        while time.monotonic() < deadline and not self.stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            outcome = await run_one(kind, self.uri, rng, self.voices, self.args)
            tally.add(outcome, self.elapsed())
            if self.args.think > 0:
                await asyncio.sleep(rng.uniform(0, 2 * self.args.think))

    async def watch(self) -> None:
        """Every second: has our server exited? Every --report-every seconds: a progress
        line from its health; HEALTH_FAILURES_FATAL unanswered checks in a row (5 s
        apart) count as dead. Either sets `dead` and `stop`. Runs until cancelled."""
        failures = 0
        next_check = time.monotonic() + self.args.report_every
        while True:
            await asyncio.sleep(1.0)
            if self.server is not None and self.server.poll() is not None:
                self.dead = f"the server exited with status {self.server.returncode}"
                self.stop.set()
                return
            if time.monotonic() < next_check:
                continue
            try:
                data = await health(self.uri)
            except (OSError, asyncio.TimeoutError, ValueError) as err:
                failures += 1
                print(f"[{self.phase} {clock(self.elapsed())}] health check failed: {err!r}")
                if failures >= HEALTH_FAILURES_FATAL:
                    self.dead = f"no kokoro-health answer {failures} times in a row: {err!r}"
                    self.stop.set()
                    return
                next_check = time.monotonic() + 5
                continue
            failures = 0
            next_check = time.monotonic() + self.args.report_every
            if self.phase == "soak":
                self.samples.append({"t": round(self.elapsed(), 1), **proc_figures(data)})
            self.progress(data)

    def progress(self, data: dict[str, Any]) -> None:
        t = self.tally if self.phase == "soak" else self.warmup
        ok = Counter(o.kind for o in t.outcomes if o.status != "unexpected")
        ttfa = t.ttfa()
        p50, p99 = percentile(ttfa, 50), percentile(ttfa, 99)
        figures = proc_figures(data)
        served = " ".join(f"{k} {ok[k]}" for k in MIX if ok[k])
        rss = mib(figures["rss_bytes"])
        if self.start_rss > 0 and figures["rss_bytes"] > 0:
            rss += f" ({(figures['rss_bytes'] - self.start_rss) / self.start_rss:+.2%})"
        print(
            f"[{self.phase} {clock(self.elapsed())}] {len(t.outcomes)} requests ({served}) | "
            f"expected {t.total('expected')} unexpected {t.total('unexpected')} | "
            f"TTFA p50 {fmt_s(p50)} p99 {fmt_s(p99)} | rss {rss} "
            f"tasks {figures['tasks']} threads {figures['threads']} fds {figures['fds']}",
            flush=True,
        )

    async def until_stopped(self, coro: Any) -> Any:
        """Await `coro` unless `stop` is set first (then cancel it and return None)."""
        task = asyncio.ensure_future(coro)
        stopper = asyncio.create_task(self.stop.wait())
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)
        return None

    async def settle(self, tally: Tally, kind: str | None, baseline: dict | None) -> dict:
        """The server's health after the same steps each time: idle, one short one-shot
        per generation, idle again. RSS moves by a few percent with what was rendered
        last (the allocator keeps or returns the memory of big passes), so the start
        and end figures are both read right after this same small sequence."""
        await wait_idle(self.uri, IDLE_WAIT, baseline)
        for version in self.voices:
            outcome = await run_one_voice(self.uri, f"one-shot-{version}", self.voices_q(version))
            outcome.kind = kind or outcome.kind
            tally.add(outcome, self.elapsed())
        return await wait_idle(self.uri, IDLE_WAIT, baseline)

    async def warm_up(self) -> dict[str, Any]:
        """Every voice of the mix, the longest texts in full on both generations, each
        kind once, then --warmup-minutes of the mix: models, voice packs, G2P caches,
        lazily started threads and the allocator's high-water mark (set by the longest
        sentence) are all in place before the start figures are read."""
        print("warm-up ...", flush=True)
        for version, names in self.voices.items():
            for name in names:
                outcome = await run_one_voice(self.uri, f"one-shot-{version}", f"{name}@{version}")
                self.warmup.add(outcome, self.elapsed())
            outcome = await run_one_voice(
                self.uri, f"one-shot-{version}", f"{names[0]}@{version}", LONG_TEXT
            )
            self.warmup.add(outcome, self.elapsed())
        warm_rng = random.Random(f"{self.args.seed}:warm-up")
        for kind in MIX:
            outcome = await run_one(kind, self.uri, warm_rng, self.voices, self.args)
            self.warmup.add(outcome, self.elapsed())
        if self.args.warmup_minutes > 0:
            deadline = time.monotonic() + self.args.warmup_minutes * 60
            await asyncio.gather(
                *(
                    self.client_loop(f"warm-up-{i}", deadline, self.warmup)
                    for i in range(self.args.concurrency)
                )
            )
        start = await self.settle(self.warmup, None, None)
        print(
            f"warm-up done in {clock(self.elapsed())}: {len(self.warmup.outcomes)} requests, "
            f"{self.warmup.total('unexpected')} unexpected; start: {describe_figures(start)}",
            flush=True,
        )
        for message in self.warmup.messages:
            print(f"  warm-up: {message}")
        return start

    async def run(self) -> dict[str, Any]:
        """Warm-up, then --minutes of the mix; returns the start and end health."""
        figures: dict[str, Any] = {"start": None, "end": None, "elapsed_s": 0.0}
        self.phase, self.started = "warm-up", time.monotonic()
        watcher = asyncio.create_task(self.watch())
        try:
            start = await self.until_stopped(self.warm_up())
            if start is None:
                return figures
            figures["start"] = start
            self.start_rss = proc_figures(start)["rss_bytes"]
            self.phase, self.started = "soak", time.monotonic()
            deadline = self.started + self.args.minutes * 60
            # The loops end by themselves at the deadline (each request is bounded);
            # a dead server or Ctrl-C stops them at once.
            await self.until_stopped(
                asyncio.gather(
                    *(
                        self.client_loop(str(i), deadline, self.tally)
                        for i in range(self.args.concurrency)
                    )
                )
            )
            figures["elapsed_s"] = self.elapsed()
            if self.dead is not None:
                return figures
            self.phase = "end"
            try:
                # Also checks that the server still serves normally once the load is over.
                end = await self.settle(self.tally, "final-check", start)
            except (OSError, asyncio.TimeoutError, ValueError) as err:
                self.dead = f"no kokoro-health answer after the load: {err!r}"
                return figures
            figures["end"] = end
            if end.get("busy"):
                self.dead = f"still busy {IDLE_WAIT:.0f} s after the load stopped"
            return figures
        finally:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher

    def voices_q(self, version: str) -> str:
        return f"{self.voices[version][0]}@{version}"


async def run_one_voice(uri: str, kind: str, voice: str, text: str = REPLIES[0]) -> Outcome:
    """A one-shot request of `voice` (warm-up and the final check)."""
    try:
        return await asyncio.wait_for(one_shot(uri, kind, text, voice), REQUEST_TIMEOUT)
    except Unexpected as err:
        return Outcome(kind, "unexpected", err.label, message=f"{voice}: {err}")
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as err:
        return Outcome(kind, "unexpected", "connection", message=f"{voice}: {err!r}")


def fmt_s(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "-"


def describe_figures(data: dict[str, Any] | None) -> str:
    f = proc_figures(data)
    return f"rss {mib(f['rss_bytes'])}, tasks {f['tasks']}, threads {f['threads']}, fds {f['fds']}"


# -- setting up -------------------------------------------------------------------------


async def installed_voices(uri: str) -> dict[str, list[str]]:
    """The English voices of VOICES the server lists as installed, per generation."""
    conn = await Conn.open(uri)
    try:
        await conn.send(Event("describe"))
        while True:
            event = await conn.read(30)
            if event is None:
                raise ConnectionError("closed before info")
            if event.type == "info":
                break
    finally:
        conn.close()
    listed = {
        v["name"]
        for program in (event.data or {}).get("tts") or []
        for v in program.get("voices") or []
        if v.get("installed")
    }
    voices = {
        version: [n for n in names if f"{n}@{version}" in listed]
        for version, names in VOICES.items()
    }
    missing = [version for version, names in voices.items() if not names]
    if missing:
        raise SystemExit(f"the server has none of the mix's voices installed for {missing}")
    return voices


def start_server(extra: list[str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """`python -m wyoming_kokoro` of this checkout on the offline fixture weights."""
    with open(log_path, "wb") as log:
        proc, uri = launch_server(extra, log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerDied(f"the server exited during start-up (status {proc.returncode})")
        try:
            asyncio.run(installed_voices(uri))
            return proc, uri
        except (OSError, asyncio.TimeoutError):
            time.sleep(0.5)
    proc.kill()
    raise ServerDied("the server did not answer describe within 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def log_tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# -- report -----------------------------------------------------------------------------


def rss_trend(samples: list[dict[str, Any]]) -> tuple[int, int, float] | None:
    """(min, max, least-squares slope in bytes per hour) of the RSS samples; None when
    they are too few or span too little (under 5 samples or 5 minutes) for a slope."""
    points = [(s["t"], s["rss_bytes"]) for s in samples if s["rss_bytes"] > 0]
    if len(points) < 5 or points[-1][0] - points[0][0] < 300:
        return None
    times, values = zip(*points, strict=True)
    slope = statistics.linear_regression(times, values).slope
    return min(values), max(values), slope * 3600


def report(soak: Soak, figures: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    tally = soak.tally
    counts = tally.counts()
    start, end = proc_figures(figures.get("start")), proc_figures(figures.get("end"))
    growth = (
        (end["rss_bytes"] - start["rss_bytes"]) / start["rss_bytes"]
        if start["rss_bytes"] > 0 and end["rss_bytes"] > 0
        else None
    )
    minutes = figures["elapsed_s"] / 60
    print()
    print(
        f"soak: {minutes:.1f} min, concurrency {args.concurrency}, seed {args.seed}, "
        f"{platform.machine()} {os.cpu_count()} CPUs"
        + (f", server {args.uri}" if args.uri else ", own server on the fixture weights")
    )
    header = f"{'kind':16} {'requests':>8} {'ok':>5} {'expected':>8} {'unexp.':>6}"
    print(f"{header} {'TTFA p50':>9} {'TTFA p99':>9}  outcomes")
    kinds: dict[str, Any] = {}
    for kind in [*MIX, "final-check"]:
        c = counts.get(kind, Counter())
        n = sum(c.values())
        if not n:
            continue
        ok = sum(v for k, v in c.items() if k.startswith("ok:"))
        exp = sum(v for k, v in c.items() if k.startswith("expected:"))
        unexp = n - ok - exp
        ttfa = tally.ttfa(kind)
        p50, p99 = percentile(ttfa, 50), percentile(ttfa, 99)
        detail = ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        print(f"{kind:16} {n:8} {ok:5} {exp:8} {unexp:6} {fmt_s(p50):>9} {fmt_s(p99):>9}  {detail}")
        kinds[kind] = {
            "requests": n,
            "ok": ok,
            "expected": exp,
            "unexpected": unexp,
            "outcomes": dict(c),
            "ttfa_p50_s": p50,
            "ttfa_p99_s": p99,
            "ttfa_n": len(ttfa),
        }
    audio = sum(o.audio_s for o in tally.outcomes)
    print(
        f"total: {len(tally.outcomes)} requests ({len(tally.outcomes) / max(minutes, 1e-9):.1f}"
        f"/min): {tally.total('ok')} served, {tally.total('expected')} expected refusals or "
        f"disconnects, {tally.total('unexpected')} unexpected; {audio:.0f} s of audio"
    )
    if tally.messages:
        print("unexpected:")
        for line in tally.messages:
            print(f"  {line}")
    print(f"{'server':10} {'start':>12} {'end':>12}")
    for key in ("rss_bytes", "tasks", "threads", "fds"):
        a, b = start[key], end[key]
        shown = (mib(a), mib(b)) if key == "rss_bytes" else (str(a), str(b))
        extra = f" ({growth:+.2%})" if key == "rss_bytes" and growth is not None else ""
        print(f"{key:10} {shown[0]:>12} {shown[1]:>12}{extra}")
    trend = rss_trend(soak.samples)
    if trend is not None:
        low, high, slope = trend
        print(
            f"rss during the load ({len(soak.samples)} samples): {mib(low)} - {mib(high)}, "
            f"trend {slope / 2**20:+.0f} MiB/h"
        )
    for key in ("tasks", "threads", "fds"):
        if start[key] >= 0 and end[key] > start[key]:
            print(f"note: {key} grew {start[key]} -> {end[key]}")
    failures = []
    if soak.dead:
        failures.append(f"SERVER DIED: {soak.dead}")
    if tally.total("unexpected") or soak.warmup.total("unexpected"):
        failures.append(
            f"{tally.total('unexpected') + soak.warmup.total('unexpected')} unexpected outcome(s)"
        )
    if growth is None:
        failures.append("RSS unknown (no kokoro-health process figures)")
    elif growth >= args.max_rss_growth:
        failures.append(f"RSS grew {growth:.2%} (limit {args.max_rss_growth:.0%})")
    print("FAIL: " + "; ".join(failures) if failures else "PASS")
    return {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "args": {k: v for k, v in vars(args).items() if k != "server_args"},
        "server_args": args.server_args,
        "minutes": round(minutes, 2),
        "requests": len(tally.outcomes),
        "served": tally.total("ok"),
        "expected": tally.total("expected"),
        "audio_s": round(audio, 1),
        "unexpected": tally.total("unexpected"),
        "unexpected_messages": tally.messages,
        "warmup_unexpected_messages": soak.warmup.messages,
        "kinds": kinds,
        "ttfa_all_p50_s": percentile(tally.ttfa(), 50),
        "ttfa_all_p99_s": percentile(tally.ttfa(), 99),
        "server_start": start,
        "server_end": end,
        "rss_growth": growth,
        "rss_trend_bytes_per_hour": trend[2] if trend else None,
        "health_samples": soak.samples,
        "server_died": soak.dead,
        "passed": not failures,
        "failures": failures,
    }


# -- main -------------------------------------------------------------------------------


async def amain(
    uri: str, server: subprocess.Popen | None, args: argparse.Namespace, log_path: Path | None
) -> int:
    try:
        voices = await installed_voices(uri)
    except (OSError, asyncio.TimeoutError, ValueError) as err:
        print(f"FAIL: the server at {uri} does not answer describe: {err!r}")
        return 2
    soak = Soak(uri, args, server, voices)
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        print("interrupted: stopping the load and reporting", flush=True)
        soak.stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupt)
    try:
        figures = await soak.run()
    except (OSError, asyncio.TimeoutError, ValueError) as err:
        soak.dead = soak.dead or f"the server stopped answering: {err!r}"
        soak.stop.set()
        figures = {"start": None, "end": None, "elapsed_s": soak.elapsed() if soak.started else 0}
    result = report(soak, figures, args)
    if interrupted:
        print("(interrupted before the end)")
        result["failures"].append("interrupted")
        result["passed"] = False
    if soak.dead and log_path is not None:
        print(f"--- last lines of the server log ({log_path}) ---")
        print(log_tail(log_path))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if soak.dead:
        return 2
    return 0 if result["passed"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the load")
    parser.add_argument("--uri", help="a running server (default: start one on fixture weights)")
    parser.add_argument("--concurrency", type=int, default=3, help="client loops at once")
    parser.add_argument("--seed", type=int, default=1, help="seed of the request mix")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--blends", action="store_true", help="expect audio for blended voices")
    parser.add_argument(
        "--strict-frames", action="store_true", help="bad frames must get an error event"
    )
    parser.add_argument(
        "--think", type=float, default=0.2, help="mean pause between a loop's requests (s)"
    )
    parser.add_argument(
        "--warmup-minutes", type=float, default=1.0, help="mixed load before the start figures"
    )
    parser.add_argument("--report-every", type=float, default=60.0, help="progress period (s)")
    parser.add_argument("--max-rss-growth", type=float, default=0.05, help="fraction; default 5%%")
    parser.add_argument("server_args", nargs="*", help="extra server arguments (after --)")
    args = parser.parse_args()
    if args.uri and args.server_args:
        parser.error("server arguments only apply to the server this script starts")

    server: subprocess.Popen | None = None
    log_path: Path | None = None
    uri = args.uri
    if uri is None:
        log_path = Path(tempfile.mkdtemp(prefix="wyoming-kokoro-soak-")) / "server.log"
        print(f"starting the server (log: {log_path}) ...", flush=True)
        try:
            server, uri = start_server(args.server_args, log_path)
        except ServerDied as err:
            print(f"FAIL: {err}")
            print(log_tail(log_path))
            return 2
    try:
        return asyncio.run(amain(uri, server, args, log_path))
    finally:
        if server is not None:
            stop_server(server)


if __name__ == "__main__":
    sys.exit(main())
