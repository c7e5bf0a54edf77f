"""Kokoro v1.0: misaki G2P, vocabulary in config.json, hub checkpoint layout.

Every voice is phonemized with its own language's misaki G2P, as kokoro's pipeline
does: misaki English (a, b), misaki's espeak-ng G2P (e, f, h, i, p), misaki's
Japanese (j) and Mandarin (z) G2P. All of them run offline once installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ModelLoadError
from .build import AMERICAN_ENGLISH, BRITISH_ENGLISH, Language, VersionBuild

if TYPE_CHECKING:
    from .g2p import Phonemizer
    from .network import NetworkConfig

# Languages misaki hands to espeak-ng for v1.0: prefix -> (language, espeak's name for it).
_ESPEAK_LANGUAGES = {
    "e": (Language("es", "Spanish"), "es"),
    "f": (Language("fr-fr", "French"), "fr-fr"),
    "h": (Language("hi", "Hindi"), "hi"),
    "i": (Language("it", "Italian"), "it"),
    "p": (Language("pt-br", "Brazilian Portuguese"), "pt-br"),
}


class V10Build(VersionBuild):
    """Kokoro v1.0 (hexgrad/Kokoro-82M, kokoro-v1_0.pth)."""

    version = "v1.0"
    folder = "v1_0"
    checkpoint_name = "kokoro-v1_0.pth"
    pack_rows = 510
    languages: ClassVar[Mapping[str, Language]] = {
        "a": AMERICAN_ENGLISH,
        "b": BRITISH_ENGLISH,
        **{prefix: language for prefix, (language, _espeak) in _ESPEAK_LANGUAGES.items()},
        "j": Language("ja", "Japanese"),
        "z": Language("zh-cn", "Mandarin Chinese"),
    }

    def network_config(self, raw: Mapping[str, Any]) -> NetworkConfig:
        from .network import NetworkConfig

        return NetworkConfig.from_mapping(raw, self.version)

    def symbols(self, raw: Mapping[str, Any]) -> Mapping[str, int]:
        vocab = raw.get("vocab")
        if not isinstance(vocab, Mapping) or not vocab:
            raise ModelLoadError("v1.0 config.json has no 'vocab' symbol table")
        return dict(vocab)

    def module_states(self, checkpoint: Mapping[str, Any], source: str) -> Mapping[str, Any]:
        # The hub file is {module: state_dict}, keys prefixed with "module." (stripped by
        # the network's loader, as for v0.19).
        if "net" in checkpoint:
            raise ModelLoadError(
                f"{source}: this is a v0.19 checkpoint ({{'net': ...}} layout); "
                "it cannot be loaded as v1.0"
            )
        return checkpoint

    def style_row(self, phonemes: str, token_ids: list[int]) -> int:
        # kokoro's pipeline styles by phoneme-string length.
        return min(max(len(phonemes), 1) - 1, self.pack_rows - 1)

    def inline_phonemes(self, prefix: str) -> bool:
        return prefix in ("a", "b")  # misaki's English G2P reads [word](/phonemes/)

    def make_phonemizer(self, prefix: str, symbols: Mapping[str, int]) -> Phonemizer:
        from .g2p.misaki_g2p import MisakiEnglish, MisakiEspeak

        if prefix in ("a", "b"):
            return MisakiEnglish(british=prefix == "b")
        if prefix == "j":
            from .g2p.cjk import MisakiJapanese

            return MisakiJapanese()
        if prefix == "z":
            from .g2p.cjk import MisakiMandarin

            return MisakiMandarin()
        return MisakiEspeak(_ESPEAK_LANGUAGES[prefix][1])
