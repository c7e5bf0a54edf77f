"""One loaded Kokoro generation: network, symbols, G2P front ends and voice packs."""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ModelLoadError
from ..text.lexicon import LexiconFile
from .build import VersionBuild
from .decoder_blocks import prepare_blocks
from .g2p import Phonemizer
from .g2p.lexicon_g2p import LexiconPhonemizer, misaki_markup
from .network import SAMPLE_RATE, KokoroNetwork
from .segments import plan_segments
from .streaming import LeadIn, for_generator, synthesize_stream
from .vocoder import generator_dtype, precision_for, prepare
from .voicepacks import read_voice_pack

_LOGGER = logging.getLogger(__name__)

MAX_CACHED_BLENDS = 16
"""Blended packs kept per model (about 0.5 MB each): the presets and recent blends."""


def _describe_window(window: Any) -> str:
    """How passes are cut into pieces, for the load's log line."""
    if window is None:
        return "whole sentences"
    if isinstance(window, LeadIn):
        return "whole sentences, a reply's opening pause sent ahead"
    return "windowed"


def _to_pcm(audio: np.ndarray, volume: float) -> np.ndarray:
    """Float audio in [-1, 1] (times the gain) to 16-bit samples; beyond full scale clips."""
    if volume != 1.0:
        audio = audio * volume
    return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


@dataclass(frozen=True)
class ModelOptions:
    """Server settings every loaded generation applies (the same for all of them)."""

    lexicon: LexiconFile | None = None
    """The user's pronunciation lexicon, applied before each language's G2P."""
    vocoder_window: Any = None
    """How the vocoder splits a pass into pieces (`streaming.LeadIn` or
    `streaming.VocoderWindow`; None: whole)."""

    precision: str = "fp32"
    """The generator's number format, a `vocoder.PRECISIONS` value ("auto" resolves
    per device at load)."""


class KokoroModel:
    """A generation ready to speak. Used from the inference thread only.

    Phonemizers and voice packs are created on first use and kept, so a
    voice's second request costs nothing but inference.
    """

    def __init__(
        self,
        build: VersionBuild,
        network: KokoroNetwork,
        symbols: Mapping[str, int],
        options: ModelOptions | None = None,
    ) -> None:
        self.build = build
        self.options = options or ModelOptions()
        self.network = network
        self.symbols = symbols
        self._phonemizers: dict[str, Phonemizer] = {}
        self._packs: dict[Path, torch.Tensor] = {}
        self._blends: OrderedDict[tuple[tuple[Path, float], ...], torch.Tensor] = OrderedDict()

    @classmethod
    def load(
        cls,
        build: VersionBuild,
        config_path: Path,
        checkpoint_path: Path,
        device: str,
        options: ModelOptions | None = None,
    ) -> KokoroModel:
        """Build the network from `config_path` and load `checkpoint_path` strictly."""
        started = time.monotonic()
        try:
            raw = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ModelLoadError(
                f"{config_path}: unreadable {build.version} config: {err}"
            ) from err
        symbols = build.symbols(raw)
        network = KokoroNetwork(build.network_config(raw), empty=True)
        network.load_modules(build.read_checkpoint(checkpoint_path), str(checkpoint_path))
        network.optimize()  # checked and loaded: fold weight norm for inference
        network = network.to(device).eval()
        options = options or ModelOptions()
        precision = precision_for(options.precision, device)
        prepare(network.decoder.generator, precision)
        prepare_blocks(network.decoder, generator_dtype(network.decoder.generator))
        window = for_generator(options.vocoder_window, device, precision)
        options = replace(options, vocoder_window=window)
        _LOGGER.info(
            "Loaded Kokoro %s from %s on %s (vocoder %s, %s) in %.1f s",
            build.version,
            checkpoint_path,
            device,
            precision,
            _describe_window(window),
            time.monotonic() - started,
        )
        return cls(build, network, symbols, options)

    def phonemizer(self, prefix: str) -> Phonemizer:
        """The G2P front end for voices with this name prefix (built once)."""
        if prefix not in self._phonemizers:
            phonemizer = self.build.make_phonemizer(prefix, self.symbols)
            lexicon = self.options.lexicon
            if lexicon is not None:
                phonemizer = LexiconPhonemizer(
                    phonemizer,
                    lexicon,
                    self.build.languages[prefix].tag,
                    self.symbols.keys(),
                    # misaki's English G2P takes inline phonemes, so the sentence
                    # stays one G2P call and keeps its context around the word.
                    markup=misaki_markup if self.build.inline_phonemes(prefix) else None,
                )
            self._phonemizers[prefix] = phonemizer
        return self._phonemizers[prefix]

    def voice_pack(self, path: Path) -> torch.Tensor:
        """A validated voice pack of this generation, cached by path."""
        if path not in self._packs:
            self._packs[path] = read_voice_pack(path, self.build.pack_rows, self.build.version)
        return self._packs[path]

    def style_pack(self, packs: Sequence[tuple[Path, float]]) -> torch.Tensor:
        """The pack of a voice, or the weighted mean of a blend's packs (cached).

        Blending the whole pack, row by row, keeps the length-dependent styling of
        every voice, so a blend sounds the same however long the sentence is.
        """
        if len(packs) == 1:
            return self.voice_pack(packs[0][0])
        key = tuple(packs)
        blended = self._blends.get(key)
        if blended is None:
            blended = sum(weight * self.voice_pack(path) for path, weight in packs)
            self._blends[key] = blended
            while len(self._blends) > MAX_CACHED_BLENDS:
                self._blends.popitem(last=False)
        else:
            self._blends.move_to_end(key)
        return blended

    def render_pieces(
        self,
        text: str,
        prefix: str,
        packs: Path | Sequence[tuple[Path, float]],
        speed: float,
        cancelled: Callable[[], bool] = lambda: False,
        progressed: Callable[[], None] = lambda: None,
        volume: float = 1.0,
        opens_reply: bool = False,
    ) -> Iterator[np.ndarray]:
        """Speak `text` with a voice or blend, as 16-bit PCM pieces at 24 kHz.

        `packs` is one pack's path, or (path, weight) pairs whose weights sum to 1.
        `volume` is a gain applied before the conversion to 16 bits (which clips).
        `opens_reply`: this text is the start of a reply, so nothing is playing yet and
        its first pass may send its opening pause ahead (`streaming.LeadIn`).
        Text too long for one pass is cut into several passes, so nothing is
        dropped; each pass yields its audio as the vocoder makes it (see
        `vocoder_window`), so the first sound can go out before the sentence is
        rendered. `cancelled` is checked between pieces, so a client that went
        away stops costing compute; `progressed` is called after each piece (the
        health check's sign of life).
        """
        began = time.perf_counter()
        pack = self.style_pack([(packs, 1.0)] if isinstance(packs, Path) else packs)
        segments = plan_segments(text, self.phonemizer(prefix), self.symbols)
        _LOGGER.debug(
            "G2P: %d chars -> %d pass(es) in %.0f ms",
            len(text),
            len(segments),
            (time.perf_counter() - began) * 1000,
        )
        for index, segment in enumerate(segments):
            if cancelled():
                return
            style = pack[self.build.style_row(segment.phonemes, segment.token_ids)]
            began = time.perf_counter()
            for audio in synthesize_stream(
                self.network,
                segment.token_ids,
                style,
                speed,
                self.options.vocoder_window,
                first=opens_reply and index == 0,
            ):
                _LOGGER.debug(
                    "Inference: %d tokens -> %.2f s of audio in %.0f ms",
                    len(segment.token_ids),
                    audio.numel() / SAMPLE_RATE,
                    (time.perf_counter() - began) * 1000,
                )
                progressed()
                yield _to_pcm(audio.numpy(), volume)
                if cancelled():
                    return
                began = time.perf_counter()

    def render(self, *args: Any, **kwargs: Any) -> np.ndarray:
        """All of `render_pieces(...)` (same arguments) as one array; empty when nothing
        was speakable."""
        pieces = list(self.render_pieces(*args, **kwargs))
        if not pieces:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(pieces)

    def unload(self) -> None:
        """Drop caches and free accelerator memory held by this model."""
        self._packs.clear()
        self._blends.clear()
        self._phonemizers.clear()
        device = self.network.device
        self.network = self.network.to("cpu")
        if device.type == "cuda":
            torch.cuda.empty_cache()
