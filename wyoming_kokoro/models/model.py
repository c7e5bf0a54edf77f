"""One loaded Kokoro generation: network, symbols, G2P front ends and voice packs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelLoadError
from .build import VersionBuild
from .g2p import Phonemizer
from .network import KokoroNetwork
from .segments import plan_segments
from .voicepacks import read_voice_pack

_LOGGER = logging.getLogger(__name__)


class KokoroModel:
    """A generation ready to speak. Used from the inference thread only.

    Phonemizers and voice packs are created on first use and kept, so a
    voice's second request costs nothing but inference.
    """

    def __init__(
        self, build: VersionBuild, network: KokoroNetwork, symbols: Mapping[str, int]
    ) -> None:
        self.build = build
        self.network = network
        self.symbols = symbols
        self._phonemizers: dict[str, Phonemizer] = {}
        self._packs: dict[Path, torch.Tensor] = {}

    @classmethod
    def load(
        cls, build: VersionBuild, config_path: Path, checkpoint_path: Path, device: str
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
        network = KokoroNetwork(build.network_config(raw))
        network.load_modules(build.read_checkpoint(checkpoint_path), str(checkpoint_path))
        network = network.to(device).eval()
        _LOGGER.info(
            "Loaded Kokoro %s from %s on %s in %.1f s",
            build.version,
            checkpoint_path,
            device,
            time.monotonic() - started,
        )
        return cls(build, network, symbols)

    def phonemizer(self, prefix: str) -> Phonemizer:
        """The G2P front end for voices with this name prefix (built once)."""
        if prefix not in self._phonemizers:
            self._phonemizers[prefix] = self.build.make_phonemizer(prefix, self.symbols)
        return self._phonemizers[prefix]

    def voice_pack(self, path: Path) -> torch.Tensor:
        """A validated voice pack of this generation, cached by path."""
        if path not in self._packs:
            self._packs[path] = read_voice_pack(path, self.build.pack_rows, self.build.version)
        return self._packs[path]

    def render(
        self,
        text: str,
        prefix: str,
        pack_path: Path,
        speed: float,
        cancelled: Callable[[], bool] = lambda: False,
        progressed: Callable[[], None] = lambda: None,
    ) -> np.ndarray:
        """Speak `text` with a voice; returns 16-bit PCM samples at 24 kHz.

        Text too long for one pass is cut into several passes and joined, so
        nothing is dropped. `cancelled` is checked between passes, so a client
        that went away stops costing compute; `progressed` is called after each
        pass (the health check's sign of life).
        """
        pack = self.voice_pack(pack_path)
        segments = plan_segments(text, self.phonemizer(prefix), self.symbols)
        pieces: list[np.ndarray] = []
        for segment in segments:
            if cancelled():
                break
            style = pack[self.build.style_row(segment.phonemes, segment.token_ids)]
            audio = self.network.synthesize(segment.token_ids, style, speed)
            pieces.append(audio.numpy())
            progressed()
        if not pieces:
            return np.zeros(0, dtype=np.int16)
        audio = np.concatenate(pieces)
        return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)

    def unload(self) -> None:
        """Drop caches and free accelerator memory held by this model."""
        self._packs.clear()
        self._phonemizers.clear()
        device = self.network.device
        self.network = self.network.to("cpu")
        if device.type == "cuda":
            torch.cuda.empty_cache()
