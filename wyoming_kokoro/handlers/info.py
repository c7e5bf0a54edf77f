"""The `info` answer to `describe`: one TTS program listing every voice.

Home Assistant uses only the first TTS program of a server, so all voices of
both generations live in the single program `kokoro`.
"""

from __future__ import annotations

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice

from .. import __version__
from ..engine import SpeechEngine
from ..models.generations import VERSIONS
from ..voices.presets import describe_preset

PROGRAM_NAME = "kokoro"
KOKORO_ATTRIBUTION = Attribution(name="hexgrad", url="https://huggingface.co/hexgrad/Kokoro-82M")
SERVER_ATTRIBUTION = Attribution(
    name="wyoming-kokoro", url="https://github.com/wyoming-kokoro/wyoming-kokoro"
)


def build_info(engine: SpeechEngine, streaming: bool) -> Info:
    """Describe the server as it is now (installed flags follow downloads and offline mode).

    Presets come first, as the user named them, then every voice of every generation.
    """
    presets = [
        TtsVoice(
            name=name,
            description=describe_preset(selection),
            attribution=KOKORO_ATTRIBUTION,
            installed=engine.selection_installed(selection),
            version=selection.version,
            languages=[selection.language],
        )
        for name, selection in engine.presets.items()
    ]
    voices = [
        TtsVoice(
            name=voice.qualified_name,
            description=voice.description,
            attribution=KOKORO_ATTRIBUTION,
            installed=engine.is_installed(voice),
            version=voice.version,
            languages=[voice.language],
        )
        for voice in engine.registry.all()
    ]
    program = TtsProgram(
        name=PROGRAM_NAME,
        description=f"Kokoro-82M text to speech ({' and '.join(VERSIONS)})",
        attribution=SERVER_ATTRIBUTION,
        installed=True,
        version=__version__,
        voices=presets + voices,
        supports_synthesize_streaming=streaming,
    )
    return Info(tts=[program])
