#!/usr/bin/env python3
"""Vocoder windows: first audio inside a sentence, and what it costs in quality.

For S1, S3 and a ~20-s paragraph, the lead-in (the default) and several
`VocoderWindow` settings, each as a reply's first pass, prints:
time to first piece (TTFA), total time, RTF, the quality cost against
whole-sentence decoding, and the largest jump between neighbouring samples at
window joins relative to the largest jump elsewhere. Timings are interleaved
(whole, setting 1, setting 2, ..., repeated --runs times; medians) and reported
as ratios to the stock whole-sentence time, since the CPU may be shared.

"Stock" is kokoro's own `KModel` on the same file (its forward, its hook-based
weight norm). "whole" is this project's whole-segment pass
(`synthesize_stream(..., None)`: weight norm folded, the faster generator).

Quality metric: mean absolute difference, in dB, of 80-band log-mel power
spectrograms (n_fft 1024, hop 256, Hann, 0-12 kHz, floor -80 dB) of the windowed
output and the whole-sentence output. For scale, the same whole-sentence pass
with another noise seed (NOISE_SEED 1 instead of 0) is printed as "seed".

Usage: python benchmarks/vocoder_windows.py [--runs 3] [--only S1,S3,P20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"

from wyoming_kokoro.models.model import KokoroModel  # noqa: E402
from wyoming_kokoro.models.segments import plan_segments  # noqa: E402
from wyoming_kokoro.models.streaming import (  # noqa: E402
    DEFAULT_WINDOW,
    LEAD_IN,
    VocoderWindow,
    synthesize_stream,
)
from wyoming_kokoro.models.v1_0 import V10Build  # noqa: E402

SENTENCES = {
    "S1": "Turn on the kitchen lights.",
    "S3": (
        "Good morning! The weather today is sunny with a high of twenty-two degrees. "
        "Don't forget your umbrella tomorrow, because rain is expected in the afternoon."
    ),
    "P20": (
        "Good evening. Here is your summary for today. The living room lights were "
        "switched off at ten past eleven, and the front door has been locked since "
        "eight. The dishwasher finished its cycle about an hour ago, so you can empty "
        "it whenever you like. Tomorrow starts cloudy, with light rain expected around "
        "noon, clearing in the late afternoon. Your first meeting is at nine thirty, "
        "and the recycling goes out on Thursday morning."
    ),
}

SETTINGS = {
    "lead-in": LEAD_IN,
    "default": DEFAULT_WINDOW,
    "local-stats": VocoderWindow(probe=0),
    "probe 8/32": VocoderWindow(probe=8, probe_every=32),
    "probe 16/32": VocoderWindow(probe=16, probe_every=32),
    "first 8": VocoderWindow(first=8),
    "first 32": VocoderWindow(first=32),
    "later 160": VocoderWindow(later=160),
    "context 8": VocoderWindow(context=8),
}


def mel_filters(sr=24000, n_fft=1024, n_mels=80, fmax=12000.0) -> torch.Tensor:
    def hz2mel(f):
        return 2595 * np.log10(1 + f / 700)

    def mel2hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    points = mel2hz(np.linspace(0, hz2mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    bank = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        left, centre, right = points[i : i + 3]
        bank[i] = np.clip(
            np.minimum((freqs - left) / (centre - left), (right - freqs) / (right - centre)),
            0,
            None,
        )
    return torch.tensor(bank, dtype=torch.float64)


MEL = mel_filters()


def log_mel(audio: torch.Tensor) -> torch.Tensor:
    audio = audio.to(torch.float64)
    window = torch.hann_window(1024, dtype=torch.float64)
    power = torch.stft(audio, 1024, 256, 1024, window=window, return_complex=True).abs() ** 2
    return 10 * torch.log10(torch.clamp(MEL @ power, min=1e-8))


def mel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean |log-mel difference| in dB (see the module docstring)."""
    return float((log_mel(a) - log_mel(b)).abs().mean())


def seam_ratio(audio: torch.Tensor, joins: list[int], reach: int = 48) -> float:
    """Largest sample-to-sample jump within `reach` samples of a join / largest elsewhere."""
    jumps = (audio[1:] - audio[:-1]).abs()
    near = torch.zeros_like(jumps, dtype=torch.bool)
    for join in joins:
        near[max(0, join - reach) : join + reach] = True
    if not near.any():
        return 0.0
    return float(jumps[near].max() / jumps[~near].max())


def fixture_v1() -> Path:
    out = subprocess.run(
        [sys.executable, str(SHARED / "tools" / "test_weights.py"), "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(out)["v1_0"])


def load_model() -> KokoroModel:
    return KokoroModel.load(
        V10Build(), SHARED / "kokoro" / "v1_0" / "config.json", fixture_v1(), "cpu"
    )


def load_stock():
    """kokoro's own KModel on the same file (its hook-based weight norm, its forward)."""
    from kokoro.model import KModel

    config = SHARED / "kokoro" / "v1_0" / "config.json"
    return KModel(repo_id="hexgrad/Kokoro-82M", config=str(config), model=str(fixture_v1())).eval()


def stock_pass(stock, ids, style) -> torch.Tensor:
    torch.manual_seed(0)
    with torch.inference_mode():
        audio, _ = stock.forward_with_tokens(torch.tensor([[0, *ids, 0]]), style, 1.0)
    return audio.reshape(-1)


def whole_pass(model, ids, style) -> torch.Tensor:
    (audio,) = synthesize_stream(model.network, ids, style, 1.0, None)
    return audio


def first_and_total(network, ids, style, window):
    started = time.perf_counter()
    first = None
    pieces = []
    for piece in synthesize_stream(network, ids, style, 1.0, window, first=True):
        if first is None:
            first = time.perf_counter() - started
        pieces.append(piece)
    return first, time.perf_counter() - started, pieces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="S1,S3,P20")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    args = parser.parse_args()
    stock = load_stock()
    model = load_model()
    pack = model.voice_pack(SHARED / "kokoro" / "v1_0" / "voices" / "af_heart.pt")
    names = args.settings.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; default {DEFAULT_WINDOW}")
    for label in args.only.split(","):
        segment = plan_segments(SENTENCES[label], model.phonemizer("a"), model.symbols)[0]
        ids = segment.token_ids
        style = pack[model.build.style_row(segment.phonemes, ids)]
        whole = whole_pass(model, ids, style)
        seconds = whole.numel() / 24000
        torch.manual_seed(1)
        with torch.inference_mode():
            other, _ = stock.forward_with_tokens(torch.tensor([[0, *ids, 0]]), style, 1.0)
        times = {"stock": [], "whole": [], **{name: [] for name in names}}
        firsts = {name: [] for name in names}
        results = {}
        for _ in range(args.runs):
            for name in times:
                if name == "stock":
                    started = time.perf_counter()
                    stock_pass(stock, ids, style)
                    times[name].append(time.perf_counter() - started)
                elif name == "whole":
                    started = time.perf_counter()
                    whole_pass(model, ids, style)
                    times[name].append(time.perf_counter() - started)
                else:
                    first, total, pieces = first_and_total(
                        model.network, ids, style, SETTINGS[name]
                    )
                    firsts[name].append(first)
                    times[name].append(total)
                    results[name] = pieces
        base = statistics.median(times["stock"])
        print(
            f"\n{label}: {len(ids)} tokens, {seconds:.2f} s audio, stock whole {base:.2f} s here "
            f"(RTF {base / seconds:.2f}); seed-to-seed log-mel distance "
            f"{mel_distance(whole, other.reshape(-1)):.2f} dB"
        )
        print(
            f"{'setting':<14}{'pieces':>7}{'first s':>8}{'TTFA/stock':>11}{'total/stock':>12}"
            f"{'RTF':>6}{'mel dB':>8}{'seam':>6}"
        )
        print(
            f"{'whole':<14}{1:>7}{'':>8}{statistics.median(times['whole']) / base:>11.2f}"
            f"{statistics.median(times['whole']) / base:>12.2f}"
            f"{statistics.median(times['whole']) / seconds:>6.2f}{0.0:>8.2f}{'':>6}"
        )
        for name in names:
            pieces = results[name]
            audio = torch.cat(pieces)
            assert audio.shape == whole.shape, (name, audio.shape, whole.shape)
            joins = list(np.cumsum([p.numel() for p in pieces])[:-1])
            total = statistics.median(times[name])
            print(
                f"{name:<14}{len(pieces):>7}{pieces[0].numel() / 24000:>8.2f}"
                f"{statistics.median(firsts[name]) / base:>11.2f}{total / base:>12.2f}"
                f"{total / seconds:>6.2f}{mel_distance(whole, audio):>8.2f}"
                f"{seam_ratio(audio, joins):>6.2f}"
            )


if __name__ == "__main__":
    main()
