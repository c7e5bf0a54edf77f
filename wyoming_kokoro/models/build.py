"""What distinguishes one Kokoro generation from another: its *build*.

Both generations run the same `KokoroNetwork`; a build supplies only what
differs — the symbol table, the G2P front end per language, how its checkpoint
file is laid out, how its config spells the hyper-parameters, and the shape and
indexing of its voice packs. Adding a generation means adding a build, not a
second copy of the model code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import ModelLoadError

if TYPE_CHECKING:  # builds are read by the settings layer, which must not load torch
    from .g2p import Phonemizer
    from .network import NetworkConfig

STYLE_WIDTH = 256
"""Length of one style vector (128 decoder + 128 prosody dimensions)."""


class Language(NamedTuple):
    """A language a voice speaks: its BCP-47 tag (as `describe` reports it) and its name."""

    tag: str
    name: str


AMERICAN_ENGLISH = Language("en-us", "American English")
BRITISH_ENGLISH = Language("en-gb", "British English")


class VersionBuild(ABC):
    """The per-generation parts of Kokoro; subclasses are small and declarative."""

    version: str
    """User-facing version string, e.g. "v1.0"."""

    folder: str
    """Folder of this version inside a data dir, e.g. "v1_0"."""

    checkpoint_name: str
    """File name of the weights inside the version folder."""

    pack_rows: int
    """Rows of a voice pack: one style vector per possible input length."""

    languages: Mapping[str, Language]
    """Voice-name prefix letter -> language this build can phonemize (e.g. "a" -> en-us)."""

    @abstractmethod
    def network_config(self, raw: Mapping[str, Any]) -> NetworkConfig:
        """Translate this version's config.json into the network's hyper-parameters."""

    @abstractmethod
    def symbols(self, raw: Mapping[str, Any]) -> Mapping[str, int]:
        """Phoneme symbol -> token id, as this version's network was trained."""

    @abstractmethod
    def module_states(self, checkpoint: Mapping[str, Any], source: str) -> Mapping[str, Any]:
        """Extract {module name: state dict} from this version's checkpoint layout."""

    @abstractmethod
    def style_row(self, phonemes: str, token_ids: list[int]) -> int:
        """Which row of a voice pack styles an input of this length."""

    @abstractmethod
    def make_phonemizer(self, prefix: str, symbols: Mapping[str, int]) -> Phonemizer:
        """Build the G2P front end for voices whose name starts with `prefix`."""

    def read_checkpoint(self, path: Path) -> Mapping[str, Any]:
        """Load a checkpoint file safely (tensors only) onto the CPU."""
        import torch

        # Read, not memory-mapped: mapped pages stay resident for as long as any
        # weight of the file is alive, the replaced weight-norm halves included
        # (measured: 220 MB more after the first reply).
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ModelLoadError(
                f"{path}: not a readable {self.version} checkpoint: {err}"
            ) from err
        if not isinstance(checkpoint, Mapping):
            raise ModelLoadError(f"{path}: not a {self.version} checkpoint (no module table)")
        return self.module_states(checkpoint, str(path))

    def inline_phonemes(self, prefix: str) -> bool:
        """True if this build's G2P for `prefix` reads misaki's `[word](/phonemes/)` markup."""
        return False

    def supports(self, prefix: str) -> bool:
        """True if this build has a G2P for voices with this name prefix."""
        return prefix in self.languages
