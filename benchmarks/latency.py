#!/usr/bin/env python3
"""Latency benchmark: time to first audio and streaming turnaround, as HA experiences them.

Starts `python -m wyoming_kokoro` on the offline fixture weights (built by
../shared/tools/test_weights.py), drives it with the `wyoming` client over a
loopback socket, and prints median figures over --runs runs after a warm-up:

- one-shot S1 and S3: time to first audio chunk (TTFA), total time, audio
  seconds, real-time factor (RTF = total / audio seconds);
- streaming S3 sent as 8-character chunks every 40 ms: TTFA counted from the
  first chunk sent, and the time from `synthesize-stop` to `synthesize-stopped`;
- TTFA(S3 one-shot) / total(S3 one-shot), measured in the same runs;
- one-shot S4, whose first sentence is long: TTFA and total, to show what the
  first-clause cut (--first-clause-chars) buys.

`stream_stop_to_stopped` includes any backlog: on a slow CPU the text (200
characters/s here) arrives faster than it can be spoken, so sentences queue up
before the stop. `stream_last_sentence_tail` isolates what the stop itself
costs: from the moment the last sentence could start (the stop, or the end of
the sentence before it if that was later) to `synthesize-stopped`.

The figures are compared with the targets of issue 4 and with a saved baseline
(benchmarks/baseline.json, written with --save-baseline). Exit status 1 with
--check if a target is missed.

Usage: python benchmarks/latency.py [--runs 5] [--voice af_heart] [--check] [--save-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from fixture_server import launch_server
from wyoming.client import AsyncClient
from wyoming.info import Describe
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

BASELINE = Path(__file__).with_name("baseline.json")

S1 = "Turn on the kitchen lights."
S3 = (
    "Good morning! It is seven fifteen and the outside temperature is twelve degrees. "
    "You have three meetings today, the first one starts at nine thirty in the conference room."
)
S3_LAST_SENTENCE = (
    "You have three meetings today, the first one starts at nine thirty in the conference room."
)
# A reply whose first sentence is long: shows what cutting the first piece at a
# clause boundary (--first-clause-chars) does for the time to first audio.
S4 = (
    "Although the weather service expected heavy rain for most of this afternoon, the skies "
    "stayed clear, so the garden sprinklers will run at six as planned."
)
CHUNK_CHARS = 8
CHUNK_INTERVAL = 0.040

TARGETS = {
    "s3_ttfa_ratio": 0.2,
    "stream_ttfa": 1.0,
}


SPEECH_LEVEL = 328
"""The first sample this loud (-40 dBFS in 16 bits) is where the words begin."""


async def one_shot(uri: str, text: str, voice: str) -> dict[str, float]:
    """One `synthesize` request: TTFA, total, audio seconds, RTF, and as a player hears it.

    "speech" is when the words begin for a player that starts on the first chunk and,
    when the next chunk is late, waits for it (the first sample at `SPEECH_LEVEL`);
    "stall" is how long such a player waited in all.
    """
    async with AsyncClient.from_uri(uri) as client:
        started = time.perf_counter()
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice)).event())
        first = None
        samples = 0
        played_until = 0.0  # when the chunks so far have been played
        stall = 0.0
        speech = None
        while True:
            event = await client.read_event()
            if event is None or event.type == "error":
                raise RuntimeError(f"request failed: {event}")
            if event.type == "audio-chunk":
                now = time.perf_counter() - started
                if first is None:
                    first = played_until = now
                elif now > played_until:
                    stall += now - played_until
                    played_until = now
                pcm = np.frombuffer(event.payload or b"", dtype=np.int16)
                if speech is None and (loud := np.flatnonzero(np.abs(pcm) >= SPEECH_LEVEL)).size:
                    speech = played_until + loud[0] / 24000
                played_until += pcm.size / 24000
                samples += pcm.size
            if event.type == "audio-stop":
                total = time.perf_counter() - started
                audio = samples / 24000
                return {
                    "ttfa": first or total,
                    "total": total,
                    "audio": audio,
                    "rtf": total / audio,
                    "speech": speech if speech is not None else total,
                    "stall": stall,
                }


async def streamed(uri: str, text: str, voice: str) -> dict[str, float]:
    async with AsyncClient.from_uri(uri) as client:
        first_audio: float | None = None
        stopped_at: float | None = None
        audio_stops: list[float] = []

        async def reader() -> None:
            nonlocal first_audio, stopped_at
            while True:
                event = await client.read_event()
                if event is None or event.type == "error":
                    raise RuntimeError(f"stream failed: {event}")
                if event.type == "audio-chunk" and first_audio is None:
                    first_audio = time.perf_counter()
                if event.type == "audio-stop":
                    audio_stops.append(time.perf_counter())
                if event.type == "synthesize-stopped":
                    stopped_at = time.perf_counter()
                    return

        read_task = asyncio.create_task(reader())
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name=voice)).event())
        first_sent = time.perf_counter()
        for i in range(0, len(text), CHUNK_CHARS):
            await client.write_event(SynthesizeChunk(text=text[i : i + CHUNK_CHARS]).event())
            await asyncio.sleep(CHUNK_INTERVAL)
        await client.write_event(Synthesize(text=text).event())  # HA's compat copy
        stop_sent = time.perf_counter()
        await client.write_event(SynthesizeStop().event())
        await read_task
        assert first_audio is not None and stopped_at is not None
        # When the last sentence could start: at the stop, or once the sentence before
        # it was done if the server was still busy (a backlog, not a wait at the stop).
        last_start = max([stop_sent, *audio_stops[-2:-1]])
        return {
            "ttfa": first_audio - first_sent,
            "stop_to_stopped": stopped_at - stop_sent,
            "last_sentence_tail": stopped_at - last_start,
        }


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


async def measure(uri: str, runs: int, voice: str) -> dict[str, float]:
    # Warm-up: load the model and every code path once.
    await one_shot(uri, S1, voice)
    await one_shot(uri, S3, voice)
    await streamed(uri, S3, voice)
    s1 = [await one_shot(uri, S1, voice) for _ in range(runs)]
    s3 = [await one_shot(uri, S3, voice) for _ in range(runs)]
    s4 = [await one_shot(uri, S4, voice) for _ in range(runs)]
    last = [await one_shot(uri, S3_LAST_SENTENCE, voice) for _ in range(runs)]
    st = [await streamed(uri, S3, voice) for _ in range(runs)]
    return {
        "s1_ttfa": median(s1, "ttfa"),
        "s1_total": median(s1, "total"),
        "s1_audio": median(s1, "audio"),
        "s1_rtf": median(s1, "rtf"),
        "s3_ttfa": median(s3, "ttfa"),
        "s3_total": median(s3, "total"),
        "s3_audio": median(s3, "audio"),
        "s3_rtf": median(s3, "rtf"),
        "s3_ttfa_ratio": statistics.median(r["ttfa"] / r["total"] for r in s3),
        "s4_ttfa": median(s4, "ttfa"),
        "s4_total": median(s4, "total"),
        "last_sentence_total": median(last, "total"),
        "stream_ttfa": median(st, "ttfa"),
        "stream_stop_to_stopped": median(st, "stop_to_stopped"),
        "stream_last_sentence_tail": median(st, "last_sentence_tail"),
    }


def start_server(extra: list[str]) -> tuple[subprocess.Popen, str]:
    proc, uri = launch_server(extra)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            asyncio.run(_describe(uri))
            return proc, uri
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start")


async def _describe(uri: str) -> None:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        await asyncio.wait_for(client.read_event(), 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--voice", default="af_heart@v1.0")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--save-baseline", action="store_true")
    parser.add_argument("server_args", nargs="*", help="extra server arguments (after --)")
    args = parser.parse_args()

    proc, uri = start_server(args.server_args)
    try:
        figures = asyncio.run(measure(uri, max(args.runs, 5), args.voice))
    finally:
        proc.terminate()
        proc.wait(timeout=15)

    baseline = json.loads(BASELINE.read_text())["figures"] if BASELINE.exists() else {}
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} CPUs, voice {args.voice}")
    print(f"{'figure':28} {'median':>9} {'baseline':>9}")
    for key, value in figures.items():
        base = baseline.get(key)
        base_text = f"{base:9.3f}" if base is not None else f"{'-':>9}"
        print(f"{key:28} {value:9.3f} {base_text}")

    budget = figures["last_sentence_total"] + 0.2
    checks = {
        "TTFA(S3)/total(S3) <= 0.2": figures["s3_ttfa_ratio"] <= TARGETS["s3_ttfa_ratio"],
        "streaming TTFA <= 1.0 s": figures["stream_ttfa"] <= TARGETS["stream_ttfa"],
        f"stop->stopped <= last sentence + 0.2 s ({budget:.2f} s)": figures[
            "stream_stop_to_stopped"
        ]
        <= budget,
        f"last-sentence tail <= last sentence + 0.2 s ({budget:.2f} s)": figures[
            "stream_last_sentence_tail"
        ]
        <= budget,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.save_baseline:
        BASELINE.write_text(
            json.dumps({"machine": platform.platform(), "figures": figures}, indent=2) + "\n"
        )
        print(f"baseline saved to {BASELINE}")
    if args.check and not all(checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
