"""What a request asks to be spoken with: one voice, a blend of voices, or a preset.

Every request resolves to one `VoiceSelection`: weighted parts that all belong to
one Kokoro generation and one language, plus an optional speed and volume. The
model turns the parts into a single style tensor (a weighted mean of their packs);
nothing below the engine needs to know whether a voice was blended or named.

Blend syntax (what users type, and what a preset's value holds)::

    af_bella+af_sky                  equal weights
    af_bella(2)+af_sky(1)            weights 2/3 and 1/3
    af_bella@v0.19+af_sky@v0.19      explicit generation for each part

A bare part name picks its generation the way a bare voice name does (the
default version first); a blend whose parts end up in different generations or
different languages is refused, with a message saying which part is which.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnknownVoiceError
from ..models.voices import VERSION_SEPARATOR, Voice, VoiceRegistry

BLEND_SEPARATOR = "+"

MAX_BLEND_PARTS = 8
"""More parts than anyone can hear apart; the bound keeps a request's work small."""

MAX_WEIGHT = 100.0

_PART = re.compile(
    r"\s*(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*(?:@[A-Za-z0-9.]+)?)"
    r"\s*(?:\(\s*(?P<weight>[^()]*?)\s*\))?\s*"
)


class BlendError(UnknownVoiceError):
    """A blend that cannot be spoken: bad syntax, or parts that do not fit together."""

    code = "bad-blend"


@dataclass(frozen=True)
class BlendPart:
    """One name of a blend as written, before it is looked up."""

    name: str
    weight: float


def parse_blend(text: str) -> list[BlendPart]:
    """Split `NAME[(WEIGHT)]+...` into parts; raises BlendError on bad syntax or weights."""
    raw_parts = text.split(BLEND_SEPARATOR)
    if len(raw_parts) > MAX_BLEND_PARTS:
        raise BlendError(
            f"voice '{_short(text)}' blends {len(raw_parts)} voices; at most "
            f"{MAX_BLEND_PARTS} can be blended"
        )
    parts: list[BlendPart] = []
    for raw in raw_parts:
        match = _PART.fullmatch(raw)
        if match is None:
            raise BlendError(
                f"'{_short(raw.strip())}' in voice '{_short(text)}' is not NAME or "
                "NAME(WEIGHT); write blends as af_bella+af_sky or af_bella(2)+af_sky(1)"
            )
        weight_text = match.group("weight")
        weight = 1.0 if weight_text is None else _weight(weight_text, text)
        parts.append(BlendPart(match.group("name"), weight))
    return parts


def _weight(text: str, blend: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        weight = math.nan
    if not (0 < weight <= MAX_WEIGHT):  # also refuses NaN and infinity
        raise BlendError(
            f"weight '{_short(text)}' in voice '{_short(blend)}' is not a number "
            f"above 0 and at most {MAX_WEIGHT:g}"
        )
    return weight


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class VoicePart:
    """One voice of a selection and its share of the blend (weights sum to 1)."""

    voice: Voice
    weight: float


@dataclass(frozen=True)
class VoiceSelection:
    """Everything a request's speech depends on, resolved and checked once.

    `speed` and `volume` are None unless a preset sets them; the server's own
    settings apply then.
    """

    name: str
    """How the selection is reported back (the preset's name, or the canonical blend)."""
    parts: tuple[VoicePart, ...]
    speed: float | None = None
    volume: float | None = None

    @classmethod
    def single(cls, voice: Voice) -> VoiceSelection:
        return cls(voice.qualified_name, (VoicePart(voice, 1.0),))

    @classmethod
    def blend(cls, voices: Sequence[tuple[Voice, float]]) -> VoiceSelection:
        """Weighted voices of one generation and language; raises BlendError otherwise."""
        first = voices[0][0]
        for voice, _weight in voices[1:]:
            if voice.version != first.version:
                raise BlendError(
                    f"cannot blend voices of different Kokoro generations: "
                    f"{first.qualified_name} and {voice.qualified_name}; pick voices of one "
                    "version (add @VERSION to each name)"
                )
            if voice.language != first.language:
                raise BlendError(
                    f"cannot blend voices of different languages: {first.qualified_name} "
                    f"({first.language_name}) and {voice.qualified_name} ({voice.language_name})"
                )
        merged: dict[Voice, float] = {}
        for voice, weight in voices:
            merged[voice] = merged.get(voice, 0.0) + weight
        total = sum(merged.values())
        parts = tuple(VoicePart(voice, weight / total) for voice, weight in merged.items())
        if len(parts) == 1:
            return cls.single(parts[0].voice)
        name = BLEND_SEPARATOR.join(
            f"{part.voice.qualified_name}({_format_weight(weight)})"
            for part, weight in zip(parts, merged.values(), strict=True)
        )
        return cls(name, parts)

    @property
    def voices(self) -> tuple[Voice, ...]:
        return tuple(part.voice for part in self.parts)

    @property
    def primary(self) -> Voice:
        """The first voice: every part shares its version, language and G2P."""
        return self.parts[0].voice

    @property
    def version(self) -> str:
        return self.primary.version

    @property
    def language(self) -> str:
        return self.primary.language

    @property
    def is_blend(self) -> bool:
        return len(self.parts) > 1

    def with_options(self, name: str, speed: float | None, volume: float | None) -> VoiceSelection:
        """The same voices under a preset's name, speed and volume."""
        return VoiceSelection(name, self.parts, speed, volume)


def _format_weight(weight: float) -> str:
    return f"{weight:g}"


@dataclass(frozen=True)
class Style:
    """The packs on disk a selection's style tensor is made from, with their weights."""

    packs: tuple[tuple[Path, float], ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(path for path, _weight in self.packs)


def is_qualified(name: str) -> bool:
    """True if the part names its generation (`NAME@VERSION`)."""
    return VERSION_SEPARATOR in name


class VoiceResolver:
    """Turns what a request names (voice, blend or preset) into a `VoiceSelection`."""

    def __init__(self, registry: VoiceRegistry, presets: Mapping[str, VoiceSelection]) -> None:
        self.registry = registry
        self.presets = presets

    def select(self, requested: str | None, default: str) -> VoiceSelection:
        """The selection for a request; None or "" means `default`. Raises UnknownVoiceError."""
        name = (requested or "").strip() or default
        preset = self.presets.get(name)
        if preset is not None:
            return preset
        if BLEND_SEPARATOR not in name and "(" not in name:
            return VoiceSelection.single(self.registry.resolve(name, default))
        return self.blend(name)

    def blend(self, text: str) -> VoiceSelection:
        """Look up every part of a blend in one generation (BlendError, UnknownVoiceError)."""
        parts = parse_blend(text)
        explicit = {
            part.name.rsplit(VERSION_SEPARATOR, 1)[1] for part in parts if is_qualified(part.name)
        }
        bare = [part.name for part in parts if not is_qualified(part.name)]
        version = self._common_version(bare, explicit)
        voices = []
        for part in parts:
            name = (
                part.name
                if is_qualified(part.name) or version is None
                else (f"{part.name}{VERSION_SEPARATOR}{version}")
            )
            voices.append((self.registry.resolve(name, name), part.weight))
        return VoiceSelection.blend(voices)

    def _common_version(self, bare: Sequence[str], explicit: set[str]) -> str | None:
        """The generation bare names are read in: the explicit one, else the first that has
        them all (default first); None leaves each to resolve alone (and the blend to fail)."""
        if len(explicit) == 1:
            return next(iter(explicit))
        if explicit:
            return None
        for version in self.registry.version_order():
            if all(self.registry.has(name, version) for name in bare):
                return version
        return None
