"""The voice registry: every voice of every generation, under one unambiguous name.

Both generations have voices called e.g. `af_bella`, so each voice is known by
a qualified name `NAME@VERSION` (`af_bella@v0.19`, `af_heart@v1.0`); describe
lists those, so a name stored in Home Assistant never changes meaning. A bare
`NAME` is accepted too and means the default version's voice if it has one,
else the other version's.

Voices come from the shipped catalogues plus any user pack dropped into a data
dir (`DIR/<folder>/voices/NAME.pt` or `DIR/voices/<folder>/NAME.pt`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import ModelLoadError, UnknownVoiceError
from .build import VersionBuild
from .catalogue import VoiceInfo, load_catalogue, parse_voice_prefix
from .voicepacks import read_voice_pack

_LOGGER = logging.getLogger(__name__)

VERSION_SEPARATOR = "@"


@dataclass(frozen=True)
class Voice(VoiceInfo):
    """A voice of one generation; it only ever runs on that generation's weights.

    A catalogue entry, or a user's own pack (then `file` is None, `official` False
    and `local_path` names the pack). Only `official` voices are on the version's
    download source; the others are served from disk only.
    """

    local_path: Path | None = None
    """A user's own pack on disk (not in the catalogue)."""

    @property
    def qualified_name(self) -> str:
        return f"{self.name}{VERSION_SEPARATOR}{self.version}"

    @property
    def prefix(self) -> str:
        return self.name[:1]

    @property
    def relpath(self) -> str:
        return self.file.path if self.file else f"voices/{self.name}.pt"

    @property
    def description(self) -> str:
        details = ", ".join(p for p in (self.language_name, self.gender) if p)
        return f"{self.display_name} ({details}) · Kokoro {self.version}"


class VoiceRegistry:
    """All voices known to the server, and name resolution."""

    def __init__(
        self,
        builds: Mapping[str, VersionBuild],
        data_dirs: Sequence[Path],
        default_version: str,
    ) -> None:
        self.builds = builds
        self.default_version = default_version
        self._voices: dict[tuple[str, str], Voice] = {}
        for version in builds:
            for info in load_catalogue(version).voices.values():
                self._voices[(version, info.name)] = Voice(
                    **{f.name: getattr(info, f.name) for f in fields(VoiceInfo)}
                )
        for voice in self._scan_user_packs(data_dirs):
            self._voices.setdefault((voice.version, voice.name), voice)

    def _scan_user_packs(self, data_dirs: Sequence[Path]) -> list[Voice]:
        found: list[Voice] = []
        for version, build in self.builds.items():
            catalogue = load_catalogue(version)
            for data_dir in data_dirs:
                for folder in (
                    data_dir / build.folder / "voices",
                    data_dir / "voices" / build.folder,
                ):
                    for path in sorted(folder.glob("*.pt")):
                        name = path.stem
                        if name in catalogue.voices or VERSION_SEPARATOR in name:
                            continue
                        try:
                            read_voice_pack(path, build.pack_rows, version)
                        except ModelLoadError as err:
                            _LOGGER.warning("Ignoring user voice pack: %s", err)
                            continue
                        language, language_name, gender = parse_voice_prefix(name)
                        found.append(
                            Voice(
                                name=name,
                                version=version,
                                language=language,
                                language_name=language_name,
                                gender=gender,
                                display_name=name.split("_", 1)[-1].replace("_", " ").title(),
                                file=None,
                                official=False,
                                local_path=path,
                            )
                        )
                        _LOGGER.info("Found user voice %s@%s at %s", name, version, path)
        return found

    def all(self) -> list[Voice]:
        """Every voice, grouped by version (default first) and sorted by name."""
        order = {v: i for i, v in enumerate(self.version_order())}
        return sorted(self._voices.values(), key=lambda v: (order[v.version], v.name))

    def speakable(self, voice: Voice) -> bool:
        """True if the voice's generation has a G2P for its language."""
        return self.builds[voice.version].supports(voice.prefix)

    def resolve(self, requested: str | None, default: str) -> Voice:
        """Find the voice for a request; `None`/empty means `default`."""
        name = (requested or "").strip() or default
        if VERSION_SEPARATOR in name:
            bare, version = name.rsplit(VERSION_SEPARATOR, 1)
            voice = self._voices.get((version, bare))
            if voice is None:
                raise UnknownVoiceError(self._unknown_message(name))
            return voice
        for version in self.version_order():
            voice = self._voices.get((version, name))
            if voice is not None:
                return voice
        raise UnknownVoiceError(self._unknown_message(name))

    def version_order(self) -> list[str]:
        """Versions in the order a bare name is looked up: the default version first."""
        return [self.default_version, *(v for v in self.builds if v != self.default_version)]

    def has_name(self, name: str) -> bool:
        """True if any version has a voice called `name` (bare or qualified)."""
        if VERSION_SEPARATOR in name:
            bare, version = name.rsplit(VERSION_SEPARATOR, 1)
            return self.has(bare, version)
        return any(self.has(name, version) for version in self.builds)

    def has(self, name: str, version: str) -> bool:
        """True if `version` has a voice called `name` (a bare name)."""
        return (version, name) in self._voices

    def _unknown_message(self, name: str) -> str:
        versions = ", ".join(self.builds)
        return (
            f"unknown voice '{name}'; use NAME@VERSION (versions: {versions}) "
            f"or a bare name such as 'af_heart' — describe lists all {len(self._voices)} voices"
        )
