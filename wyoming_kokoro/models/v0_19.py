"""Kokoro v0.19: espeak-ng G2P, a symbol table kept in code, `{'net': ...}` checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ModelLoadError
from .build import AMERICAN_ENGLISH, BRITISH_ENGLISH, Language, VersionBuild

if TYPE_CHECKING:
    from .g2p import Phonemizer
    from .network import NetworkConfig

# v0.19's symbol table: index = token id. v0.19 shipped it in code, not in config.json.
_PAD = "$"
_PUNCTUATION = ';:,.!?¡¿—…"«»“” '
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_IPA = (
    "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘ"
    "ɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘'̩'ᵻ"
)
V019_SYMBOLS: tuple[str, ...] = (_PAD, *_PUNCTUATION, *_LETTERS, *_IPA)

# v0.19's config.json omits what its code hard-coded: the PL-BERT settings
# (Utils/PLBERT/config.yml) and the text encoder's kernel size.
_V019_PLBERT = {
    "hidden_size": 768,
    "num_attention_heads": 12,
    "intermediate_size": 2048,
    "max_position_embeddings": 512,
    "num_hidden_layers": 12,
    "dropout": 0.1,
}
_V019_TEXT_ENCODER_KERNEL = 5


class V019Build(VersionBuild):
    """Kokoro v0.19 (kokoro-v0_19.pth, the first public release)."""

    version = "v0.19"
    folder = "v0_19"
    checkpoint_name = "kokoro-v0_19.pth"
    pack_rows = 511
    languages: ClassVar[Mapping[str, Language]] = {"a": AMERICAN_ENGLISH, "b": BRITISH_ENGLISH}

    def network_config(self, raw: Mapping[str, Any]) -> NetworkConfig:
        from .network import NetworkConfig

        decoder = raw.get("decoder")
        if not isinstance(decoder, Mapping):
            raise ModelLoadError("v0.19 config.json lacks the 'decoder' settings")
        return NetworkConfig.from_mapping(
            {
                **raw,
                "text_encoder_kernel_size": _V019_TEXT_ENCODER_KERNEL,
                "plbert": _V019_PLBERT,
                "istftnet": {k: v for k, v in decoder.items() if k != "type"},
            },
            self.version,
        )

    def symbols(self, raw: Mapping[str, Any]) -> Mapping[str, int]:
        if raw.get("n_token") != len(V019_SYMBOLS):
            raise ModelLoadError(
                f"v0.19 config.json declares n_token={raw.get('n_token')}, "
                f"but v0.19 has {len(V019_SYMBOLS)} symbols"
            )
        return {symbol: index for index, symbol in enumerate(V019_SYMBOLS)}

    def module_states(self, checkpoint: Mapping[str, Any], source: str) -> Mapping[str, Any]:
        from .network import MODULE_NAMES

        net = checkpoint.get("net")
        if not isinstance(net, Mapping):
            hint = (
                " (it looks like a v1.0 checkpoint)" if set(checkpoint) == set(MODULE_NAMES) else ""
            )
            raise ModelLoadError(f"{source}: not a v0.19 checkpoint: no 'net' table{hint}")
        # Its keys carry DataParallel's "module." prefix, as v1.0's do; the network's
        # loader strips it for both generations.
        return net

    def style_row(self, phonemes: str, token_ids: list[int]) -> int:
        # v0.19's generate() styles by token count.
        return min(len(token_ids), self.pack_rows - 1)

    def make_phonemizer(self, prefix: str, symbols: Mapping[str, int]) -> Phonemizer:
        from .g2p.v019_espeak import V019Espeak

        return V019Espeak(british=prefix == "b", symbols=symbols.keys())
