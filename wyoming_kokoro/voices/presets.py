"""Presets: named voices a user defines, listed in `describe` like any other voice.

Home Assistant can only pick voices that `describe` lists, so a blend or a
slower, quieter voice is offered to its users as a preset::

    --preset 'narrator=af_bella(2)+af_sky(1),speed=0.9'
    --preset 'kitchen=bf_emma,volume=0.6'

`NAME=VOICE[,speed=S][,volume=V]`: VOICE is a voice or blend (see `selection`),
speed 0.5 to 2.0, volume 0.1 to 2.0 (a gain on the audio; above 1 may clip loud
voices). The syntax is checked with the other settings (a one-line error at
start); the voice names are checked when the server has its voice registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError, UnknownVoiceError

if TYPE_CHECKING:  # the settings layer parses presets without importing torch
    from .selection import VoiceResolver, VoiceSelection

SPEED_RANGE = (0.5, 2.0)
VOLUME_RANGE = (0.1, 2.0)

PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
"""A preset name: no '@' or '+', so it can never be read as a voice or a blend."""


@dataclass(frozen=True)
class PresetSpec:
    """A preset as the user wrote it (syntax checked, voices not yet looked up)."""

    name: str
    voice: str
    speed: float | None = None
    volume: float | None = None

    def __str__(self) -> str:
        options = [f"speed={self.speed:g}"] if self.speed is not None else []
        options += [f"volume={self.volume:g}"] if self.volume is not None else []
        return ",".join([f"{self.name}={self.voice}", *options])


def parse_preset(text: str) -> PresetSpec:
    """Parse `NAME=VOICE[,speed=S][,volume=V]`; ValueError says what is wrong."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError("expected NAME=VOICE[,speed=S][,volume=V]")
    if not PRESET_NAME.match(name):
        raise ValueError(
            f"preset name {name!r} must be 1 to 64 letters, digits, '_' or '-' "
            "(no '@' or '+', which mean a version or a blend)"
        )
    voice, *options = (part.strip() for part in rest.split(","))
    if not voice:
        raise ValueError(f"preset {name!r} names no voice")
    values: dict[str, float] = {}
    for option in options:
        key, eq, value = (part.strip() for part in option.partition("="))
        ranges = {"speed": SPEED_RANGE, "volume": VOLUME_RANGE}
        if not eq or key not in ranges:
            raise ValueError(f"preset {name!r}: unknown option {option!r}; use speed=S or volume=V")
        if key in values:
            raise ValueError(f"preset {name!r} sets {key} twice")
        low, high = ranges[key]
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:
            raise ValueError(
                f"preset {name!r}: {key} {value!r} is not a number from {low} to {high}"
            )
        values[key] = number
    return PresetSpec(name, voice, values.get("speed"), values.get("volume"))


def resolve_presets(
    specs: Iterable[PresetSpec], resolver: VoiceResolver
) -> Mapping[str, VoiceSelection]:
    """Look up every preset's voices; raises ConfigError naming each bad preset."""
    presets: dict[str, VoiceSelection] = {}
    problems: list[str] = []
    for spec in specs:
        if spec.name in presets:
            problems.append(f"preset {spec.name!r} is defined twice")
            continue
        if resolver.registry.has_name(spec.name):
            problems.append(f"preset {spec.name!r} has the name of a voice; pick another name")
            continue
        try:
            selection = resolver.select(spec.voice, spec.voice)
        except UnknownVoiceError as err:
            problems.append(f"preset {spec.name!r}: {err}")
            continue
        presets[spec.name] = selection.with_options(spec.name, spec.speed, spec.volume)
    if problems:
        raise ConfigError("; ".join(problems))
    return presets


def describe_preset(selection: VoiceSelection) -> str:
    """What `describe` says of a preset: its voices, language, generation and options."""
    voices = " + ".join(
        f"{part.voice.display_name} {round(part.weight * 100)}%"
        if selection.is_blend
        else part.voice.display_name
        for part in selection.parts
    )
    options = []
    if selection.speed is not None:
        options.append(f"speed {selection.speed:g}")
    if selection.volume is not None:
        options.append(f"volume {selection.volume:g}")
    extra = f", {', '.join(options)}" if options else ""
    return (
        f"{selection.name}: {voices} ({selection.primary.language_name}{extra}) "
        f"· Kokoro {selection.version} preset"
    )
